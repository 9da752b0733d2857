"""Which GGUF pair ``commentate`` runs: ``--model NAME`` from the models folder, or two paths.

A user who ran ``models download`` or ``models add-local NAME`` refers to the model by the
name ``models list`` shows, as in LM Studio or Ollama; the mmproj comes with it. A bare GGUF
path still works, with ``--mmproj`` beside it (or without, when that path belongs to an
installed model). With exactly one installed model ``--model`` may be left out.
"""

from __future__ import annotations

from pathlib import Path

from models.errors import CatalogError

NEXT_STEP = (
    "Install one with `livecc-desk models download livecc-7b-instruct` or "
    "`livecc-desk models add-local NAME --model M.gguf --mmproj P.gguf`, "
    "or try the tiny test model: `livecc-desk demo`."
)


def _looks_like_path(text: str) -> bool:
    return text.lower().endswith(".gguf") or "/" in text or "\\" in text or Path(text).is_file()


def choose_model(model: Path | str | None, mmproj: Path | None, models_dir: Path | None = None) -> tuple[Path, Path]:
    """The (text GGUF, mmproj GGUF) to load; ``CatalogError`` saying which names exist otherwise.

    Args:
        model: ``--model``: an installed model's name, a GGUF path, or None.
        mmproj: ``--mmproj``: needed only with a GGUF path no installed model owns.
        models_dir: ``--models-dir`` (else ``$LIVECC_DESK_MODELS``, else the user data folder).
    """
    from models.store import ModelStore

    if model is not None and mmproj is not None:
        return Path(model), Path(mmproj)
    store = ModelStore(models_dir)
    if model is None:
        if mmproj is not None:
            raise CatalogError("--mmproj needs --model: the language model GGUF it belongs to.")
        installed = store.installed()
        if len(installed) == 1:
            return installed[0].text_path, installed[0].mmproj_path
        if not installed:
            raise CatalogError(f"No model is installed in {store.root}, so --model is needed. {NEXT_STEP}")
        names = ", ".join(m.name for m in installed)
        raise CatalogError(f"Several models are installed ({names}); choose one with --model NAME.")
    text = str(model)
    if _looks_like_path(text):
        path = Path(text)
        owner = next((m for m in store.installed() if _same_file(m.text_path, path)), None)
        if owner is not None:
            return owner.text_path, owner.mmproj_path
        if not path.exists():
            raise CatalogError(f"The model file {path} does not exist. " + _names_hint(store))
        raise CatalogError(
            f"{path} is a bare GGUF file: give its vision projector too (--mmproj P.gguf), "
            "or register the pair once with `livecc-desk models add-local NAME --model "
            f"{path} --mmproj P.gguf` and use --model NAME."
        )
    try:
        found = store.resolve(text)
    except CatalogError:
        from models.catalog import load_catalog

        base = text.split(":", 1)[0]
        entry = next((e for e in load_catalog(store.root).entries if base in (e.id, e.repo_id)), None)
        if entry is not None:
            raise CatalogError(
                f"{text} is in the catalog but not installed: get it with "
                f"`livecc-desk models download {entry.id}`. " + _names_hint(store)
            ) from None
        raise
    return found.text_path, found.mmproj_path


def _names_hint(store) -> str:
    names = ", ".join(m.name for m in store.installed())
    return (
        f"Installed models: {names} (see `livecc-desk models list`)."
        if names
        else f"No model is installed yet. {NEXT_STEP}"
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
