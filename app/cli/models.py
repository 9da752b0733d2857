"""``livecc-desk models ...``: list, download, convert, verify, remove, add-local, make-tiny.

Model management the way LM Studio and Ollama users expect it, headless:

  livecc-desk models list
  livecc-desk models download livecc-7b-instruct [--quant Q4_K_M]
  livecc-desk models download owner/repo --file M.gguf --mmproj-file P.gguf
  livecc-desk models convert HF_DIR [--out DIR] [--quant Q4_K_M]
  livecc-desk models verify NAME|HF_DIR|M.gguf [--mmproj P.gguf] [--load]
  livecc-desk models remove NAME|owner/repo [--yes]
  livecc-desk models add-local NAME --model M.gguf --mmproj P.gguf
  livecc-desk models make-tiny DIR

Every subcommand takes ``--models-dir`` (else ``$LIVECC_DESK_MODELS``, else the
user data folder). Errors are ``LiveCCError``s: ``app.cli.main`` prints them on one
line and exits 2. A failed ``verify`` exits 1; Ctrl-C exits 130 and keeps what
was downloaded, so the same command resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.progress import ProgressLine, human_bytes
from models.engine.defaults import N_CTX
from models.errors import LiveCCError

EXIT_OK, EXIT_FAILED_CHECK, EXIT_INPUT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_models_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``models`` command group on the main parser's subparsers."""
    from models.convert import quant_choices
    from models.quantize import DEFAULT_QUANT

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="models folder (default: $LIVECC_DESK_MODELS or the user data folder)",
    )
    m = subparsers.add_parser("models", help="list, download, convert, verify and remove models")
    sub = m.add_subparsers(dest="models_command", required=True, metavar="COMMAND")
    quants = ", ".join(quant_choices())

    sub.add_parser("list", parents=[common], help="installed models, the catalog, downloads in progress")

    d = sub.add_parser("download", parents=[common], help="download a model (and convert a checkpoint)")
    d.add_argument("name", help="catalog id (see `models list`) or a Hugging Face repository owner/name")
    d.add_argument(
        "--quant", default=DEFAULT_QUANT, help=f"quantization after conversion ({quants}; default {DEFAULT_QUANT})"
    )
    d.add_argument("--revision", default=None, help="branch, tag or commit (default: the catalog's, else main)")
    d.add_argument("--file", dest="model_file", help="for a GGUF repository: the model file")
    d.add_argument("--mmproj-file", help="for a GGUF repository: the vision projector file")
    d.add_argument(
        "--token", default=None, help="Hugging Face token for gated repositories (default: HF_TOKEN or the saved login)"
    )
    d.add_argument("--no-convert", action="store_true", help="only download the checkpoint")
    d.add_argument(
        "--delete-checkpoint",
        action="store_true",
        help="delete the downloaded safetensors after converting (saves ~16 GB; requantizing "
        "then needs a new download)",
    )
    d.add_argument("--threads", type=int, default=None, help="CPU threads for quantization (default: all)")

    c = sub.add_parser("convert", parents=[common], help="convert a Hugging Face Qwen2-VL checkpoint to GGUF")
    c.add_argument("hf_dir", type=Path, help="folder with config.json, tokenizer files and *.safetensors")
    c.add_argument("--out", type=Path, default=None, help="output folder (default: the models folder/NAME)")
    c.add_argument("--quant", default=DEFAULT_QUANT, help=f"{quants} (default {DEFAULT_QUANT})")
    c.add_argument(
        "--outtype",
        choices=("f16", "f32"),
        default="f16",
        help="precision of the unquantized model and of the mmproj (default f16)",
    )
    c.add_argument("--name", default=None, help="model name and file-name stem (default: the folder's name)")
    c.add_argument("--keep-f16", action="store_true", help="keep the unquantized text model too")
    c.add_argument("--threads", type=int, default=None, help="CPU threads for quantization (default: all)")

    v = sub.add_parser("verify", parents=[common], help="check that a model's files are whole and load")
    v.add_argument("target", help="installed model name, a checkpoint folder, or a model .gguf")
    v.add_argument("--mmproj", type=Path, default=None, help="with a .gguf target: its vision projector")
    v.add_argument("--load", action="store_true", help="also load it in llama.cpp (in a separate process)")
    v.add_argument("--n-ctx", type=int, default=N_CTX, help=f"context size for the memory estimate (default {N_CTX})")

    r = sub.add_parser("remove", parents=[common], help="delete an installed model or checkpoint")
    r.add_argument("name", help="installed model name, or owner/repo of a downloaded checkpoint")
    r.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    a = sub.add_parser("add-local", parents=[common], help="register a GGUF pair that stays where it is")
    a.add_argument("name")
    a.add_argument("--model", type=Path, required=True, help="language model GGUF")
    a.add_argument("--mmproj", type=Path, required=True, help="vision projector GGUF")

    t = sub.add_parser("make-tiny", help="write a tiny random-weight Qwen2-VL pair (for smoke tests)")
    t.add_argument("dir", type=Path)
    t.add_argument("--seed", type=int, default=0)
    return m


def run_models(args: argparse.Namespace) -> int:
    """Run a parsed ``models`` command; raises ``LiveCCError`` for bad input (exit 2 in ``app.cli.main``)."""
    handler = {
        "list": _list,
        "download": _download,
        "convert": _convert,
        "verify": _verify,
        "remove": _remove,
        "add-local": _add_local,
        "make-tiny": _make_tiny,
    }[args.models_command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        if args.models_command in ("download", "convert"):
            print("\nInterrupted. Nothing complete was lost: run the same command again to resume.", file=sys.stderr)
            return EXIT_INTERRUPTED
        raise


def _store(args: argparse.Namespace):
    from models.store import ModelStore

    return ModelStore(getattr(args, "models_dir", None))


# ------------------------------------------------------------------ commands
def _list(args: argparse.Namespace) -> int:
    from models.catalog import load_catalog

    store = _store(args)
    catalog = load_catalog(store.root)
    out = sys.stdout
    out.write(f"Models folder: {store.root}\n\n")
    installed = store.installed()
    out.write("Installed:\n")
    if not installed:
        out.write("  (none yet: `livecc-desk models download livecc-7b-instruct`)\n")
    rows: list[tuple[str, ...]] = [(m.name, m.quant, human_bytes(m.size_bytes), m.source) for m in installed]
    _table(out, ("NAME", "QUANT", "SIZE", "SOURCE"), rows)
    if installed:
        hint = " (the only one installed: --model may be left out)" if len(installed) == 1 else ""
        out.write(f"  Use a NAME: livecc-desk commentate VIDEO --model {installed[0].name}{hint}\n")
    out.write("\nAvailable:\n")
    rows = []  # reused for the catalog table
    for e in catalog.entries:
        size = f"~{human_bytes(e.download_bytes)}" if e.download_bytes else "size from the hub"
        how = "download + convert here" if e.kind == "checkpoint" else "GGUF download"
        rows.append((e.id, f"{e.repo_id} ({e.origin})", f"{how}, {size}"))
    _table(out, ("ID", "SOURCE", "GET"), rows)
    checkpoints = store.checkpoints()
    if checkpoints:
        out.write("\nDownloaded checkpoints (kept for re-quantizing; `models remove owner/repo` frees them):\n")
        _table(out, ("REPOSITORY", "SIZE"), [(c.repo_id, human_bytes(c.size_bytes)) for c in checkpoints])
    partial = store.partial_downloads()
    if partial:
        out.write("\nUnfinished downloads (the same `models download` resumes them):\n")
        for p in partial:
            out.write(f"  {p.relative_to(store.root)}  {human_bytes(p.stat().st_size)}\n")
    out.write(f"\n{_device_line()}\n")
    for problem in catalog.problems:
        out.write(f"\nwarning: {problem}\n")
    if catalog.user_file is not None and not catalog.problems:
        out.write(
            f"\nAdd GGUF repositories you trust to {catalog.user_file} (the format: the user guide's "
            "'Getting the real model', Help › User guide in the app).\n"
        )
    return EXIT_OK


def _download(args: argparse.Namespace) -> int:
    from models.catalog import load_catalog
    from models.hub import HubSettings
    from models.install import InstallOptions, adhoc_entry, download_checkpoint, install

    store = _store(args)
    catalog = load_catalog(store.root)
    if "/" in args.name and not any(args.name in (e.id, e.repo_id) for e in catalog.entries):
        entry = adhoc_entry(args.name, args.model_file, args.mmproj_file, args.revision or "main")
    else:
        entry = catalog.find(args.name)
    if args.revision:
        from dataclasses import replace

        entry = replace(entry, revision=args.revision)
    hub = HubSettings(token=args.token)
    with ProgressLine() as progress:
        if entry.kind == "checkpoint" and args.no_convert:
            folder = download_checkpoint(
                entry.repo_id, store.source_folder(entry.repo_id), entry.revision, hub, on_progress=progress
            )
            progress.close()
            print(f"Checkpoint ready: {folder}\nConvert it with: livecc-desk models convert {folder}")
            return EXIT_OK
        options = InstallOptions(quant=args.quant, keep_checkpoint=not args.delete_checkpoint, threads=args.threads)
        model = install(entry, store, options, hub, on_progress=progress)
    _print_ready(model)
    return EXIT_OK


def _convert(args: argparse.Namespace) -> int:
    from models.convert import convert_checkpoint, inspect_checkpoint
    from models.store import check_name

    info = inspect_checkpoint(args.hf_dir, args.outtype)
    name = check_name(args.name or info.name)
    store = _store(args)
    out = args.out or store.folder_for(name.lower())
    with ProgressLine() as progress:
        result = convert_checkpoint(
            args.hf_dir,
            out,
            quant=args.quant,
            outtype=args.outtype,
            stem=name,
            keep_unquantized=args.keep_f16,
            threads=args.threads,
            source=str(Path(args.hf_dir).resolve()),
            on_progress=progress,
        )
    print(f"model:  {result.text_path}  ({human_bytes(result.text_path.stat().st_size)}, {result.quant})")
    print(f"mmproj: {result.mmproj_path}  ({human_bytes(result.mmproj_path.stat().st_size)})")
    if result.unquantized_path is not None:
        print(f"kept:   {result.unquantized_path}")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from models.verify import verify_checkpoint, verify_pair

    target = Path(args.target)
    model = None
    with ProgressLine() as progress:
        store = _store(args)
        stored = next((c.folder for c in store.checkpoints() if c.repo_id == args.target), None)
        if target.is_dir() or stored is not None:
            target = stored or target
            report = verify_checkpoint(target, on_progress=progress)
        elif target.suffix == ".gguf" and target.exists():
            if args.mmproj is None:
                raise LiveCCError("Verifying a .gguf needs its vision projector too: add --mmproj P.gguf.")
            report = verify_pair(target.name, target, args.mmproj, load=args.load, on_progress=progress)
            text, mmproj = target, args.mmproj
        else:
            model = store.resolve(args.target)
            report = verify_pair(
                model.name, model.text_path, model.mmproj_path, model=model, load=args.load, on_progress=progress
            )
            text, mmproj = model.text_path, model.mmproj_path
    print(f"{report.target}:")
    for check in report.checks:
        print(f"  [{'ok' if check.ok else 'FAILED'}] {check.what}: {check.detail}")
    if report.ok and not target.is_dir():
        _print_memory(text, mmproj, args.n_ctx)
    return EXIT_OK if report.ok else EXIT_FAILED_CHECK


def _remove(args: argparse.Namespace) -> int:
    store = _store(args)
    checkpoint = next((c for c in store.checkpoints() if c.repo_id == args.name), None)
    if checkpoint is not None:
        what, size = f"the downloaded checkpoint {checkpoint.repo_id}", checkpoint.size_bytes
    else:
        model = store.resolve(args.name)
        what, size = (
            (f"{model.name} ({model.text_path.name})", model.size_bytes)
            if model.managed
            else (f"the registration of {model.name} (your files stay where they are)", 0)
        )
    if not args.yes:
        if not sys.stdin.isatty():
            raise LiveCCError(f"Removing {what} needs confirmation: add --yes.")
        answer = input(f"Remove {what}{f', {human_bytes(size)}' if size else ''}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing removed.")
            return EXIT_OK
    removed = store.remove(args.name)
    print(f"Removed {what}." + (f" Freed {human_bytes(size)}." if removed and size else ""))
    return EXIT_OK


def _add_local(args: argparse.Namespace) -> int:
    model = _store(args).add_local(args.name, args.model, args.mmproj)
    print(f"Registered {model.name}: {model.text_path} + {model.mmproj_path}")
    return EXIT_OK


def _make_tiny(args: argparse.Namespace) -> int:
    from models.tiny_model import make_tiny_model

    tiny = make_tiny_model(args.dir, seed=args.seed)
    print(f"model:  {tiny.text_path}\nmmproj: {tiny.mmproj_path}")
    return EXIT_OK


# ------------------------------------------------------------------ helpers
def _table(out, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    if not rows:
        return
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        out.write("  " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _device_line() -> str:
    from models.engine.devices import choose_device, gpu_devices
    from models.gpu_layers import detect_vram

    choice = choose_device()
    if choice.device is None:
        return f"Device: {choice.describe()}."
    others = [d.name for d in gpu_devices()[1:]]
    vram = detect_vram(device=choice.device)
    memory = f", {human_bytes(vram.free_bytes)} free of {human_bytes(vram.total_bytes)} ({vram.source})" if vram else ""
    more = f"; also {', '.join(others)} (--device)" if others else ""
    return f"Device: {choice.describe()}{memory}{more}."


def _print_ready(model) -> None:
    print(f"Ready: {model.name} ({model.quant}, {human_bytes(model.size_bytes)})")
    print(f"  model:  {model.text_path}\n  mmproj: {model.mmproj_path}")
    print(f"Run it:  livecc-desk commentate VIDEO --model {model.text_path} --mmproj {model.mmproj_path}")


def _print_memory(text: Path, mmproj: Path, n_ctx: int) -> None:
    from models.gpu_layers import auto_gpu_layers, estimate_memory

    try:
        estimate = estimate_memory(text, mmproj, n_ctx)
        plan = auto_gpu_layers(text, mmproj, n_ctx)
    except (OSError, ValueError):
        return
    print(f"  memory: ~{human_bytes(estimate.total)} with a {n_ctx}-token context")
    layers = "all" if plan.n_gpu_layers < 0 else str(plan.n_gpu_layers)
    print(f"  GPU: n_gpu_layers {layers} ({plan.reason})")
