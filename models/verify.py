"""``models verify``: is an installed model (or a checkpoint) whole, and will it load?

Checks, cheapest first: the GGUF headers and sizes (``check_model_pair``: not
truncated, the right kinds of file, a projector that fits the model); each file
against the size and sha256 recorded when it was downloaded or converted; and,
on request, a real load in llama.cpp that runs a generated clip through the pair
(embeddings and logits must be finite). The load runs in a spawned child process
because llama.cpp aborts the process on some damaged files: a crash there is a
failed check, not a crashed app.
"""

from __future__ import annotations

import multiprocessing
import threading
from dataclasses import dataclass
from pathlib import Path

from models.download import recorded_sha256
from models.engine.gguf_check import check_model_pair
from models.errors import ModelError
from models.hashing import digest_file
from models.progress import ProgressCallback
from models.store import InstalledModel


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class VerifyReport:
    target: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def verify_pair(
    name: str,
    text_path: Path,
    mmproj_path: Path,
    *,
    model: InstalledModel | None = None,
    load: bool = False,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> VerifyReport:
    """Check a model pair; ``model`` supplies the manifest with recorded sizes and hashes."""
    checks = []
    try:
        check_model_pair(text_path, mmproj_path)
        checks.append(Check("GGUF headers", True, "complete, a Qwen2-VL model and its projector"))
    except ModelError as exc:
        return VerifyReport(name, (Check("GGUF headers", False, str(exc)),))
    manifest = model.manifest if model is not None else None
    for path in (text_path, mmproj_path):
        entry = manifest.file(path.name) if manifest is not None else None
        expected_sha = (entry.sha256 if entry else None) or recorded_sha256(path)
        if entry is not None and entry.size != path.stat().st_size:
            checks.append(
                Check(
                    path.name,
                    False,
                    f"{path.stat().st_size:,} bytes, {entry.size:,} recorded: damaged; download or convert it again",
                )
            )
            continue
        if not expected_sha:
            checks.append(
                Check(path.name, True, "no recorded checksum (not written by LiveCC Desk); headers checked only")
            )
            continue
        actual = digest_file(path, on_progress=on_progress, cancel=cancel)
        if actual == expected_sha:
            checks.append(Check(path.name, True, f"sha256 {actual[:16]}… as recorded"))
        else:
            checks.append(
                Check(
                    path.name,
                    False,
                    f"sha256 {actual[:16]}… differs from the recorded "
                    f"{expected_sha[:16]}…: damaged; download or convert it again",
                )
            )
    if load:
        error = load_in_child(text_path, mmproj_path)
        checks.append(
            Check(
                "llama.cpp load", error is None, error or "loads; a generated clip gives finite embeddings and logits"
            )
        )
    return VerifyReport(name, tuple(checks))


def load_in_child(text_path: Path, mmproj_path: Path, timeout_s: float = 600) -> str | None:
    """Load the pair with our runtime in a spawned process; ``None`` if it loaded, else why not."""
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_load_child, args=(str(text_path), str(mmproj_path), sender), daemon=True)
    child.start()
    sender.close()
    try:
        child.join(timeout_s)
        if child.is_alive():
            child.terminate()
            child.join()
            return f"loading took longer than {timeout_s:.0f} s"
        try:
            if receiver.poll():
                return receiver.recv()
        except (EOFError, OSError):
            pass
        return f"llama.cpp stopped the process (exit {child.exitcode}): the file is damaged or unsupported"
    finally:
        receiver.close()


def _load_child(text_path: str, mmproj_path: str, conn) -> None:
    import logging

    from models.engine.llama_runtime import LlamaMtmdRuntime, RuntimeOptions

    logging.getLogger("models.engine.llama_runtime").setLevel(logging.ERROR)  # load-time chatter

    try:
        with LlamaMtmdRuntime(text_path, mmproj_path, RuntimeOptions(n_ctx=512, n_gpu_layers=0, n_batch=512)) as rt:
            run_test_frames(rt)
        conn.send(None)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as text
        conn.send(str(exc))
    conn.close()


def run_test_frames(runtime) -> None:
    """Run a generated 4-frame clip (two temporal patches) through a loaded pair, then one token.

    Weights damaged into NaN or infinity load without complaint; this makes the
    vision encoder and the language model compute, and the runtime raises
    ``InvalidNumbersError`` when the embeddings or the logits are not finite.
    """
    import numpy as np

    size = 224  # 8 x 8 merged patches per frame pair: cheap even for the 7B model on a CPU
    y, x = np.mgrid[0:size, 0:size]
    frames = [
        np.stack([(x + 40 * i) % 256, y % 256, (x + y + 30 * i) % 256], axis=-1).astype(np.uint8) for i in range(4)
    ]
    text = f"<|im_start|>user\n{runtime.marker * len(frames)}What happens?<|im_end|>\n<|im_start|>assistant\n"
    part = runtime.tokenize_part(text, frames)
    try:
        n_past = runtime.eval_part(part, 0, logits=True)
    finally:
        part.free()
    token = int(np.argmax(runtime.logits()))
    runtime.decode_token(token, n_past)
    runtime.logits()


def verify_checkpoint(
    folder: Path, *, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None
) -> VerifyReport:
    """Check a Hugging Face checkpoint folder: convertible, and each downloaded file as recorded."""
    from models.convert import inspect_checkpoint

    try:
        info = inspect_checkpoint(folder)
    except ModelError as exc:
        return VerifyReport(str(folder), (Check("checkpoint", False, str(exc)),))
    shards = sorted({t.shard.name for t in info.checkpoint.tensors})
    checks = [
        Check(
            "checkpoint",
            True,
            f"Qwen2-VL, {len(info.checkpoint.tensors)} tensors in {len(shards)} shard(s), Qwen2 tokenizer",
        )
    ]
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".")):
        sha = recorded_sha256(path)
        if sha is None:
            continue
        actual = digest_file(path, on_progress=on_progress, cancel=cancel)
        checks.append(
            Check(
                path.name,
                actual == sha,
                "sha256 as downloaded"
                if actual == sha
                else "sha256 differs from the download: damaged; delete it and download again",
            )
        )
    return VerifyReport(str(folder), tuple(checks))
