"""Quantize a text GGUF with llama.cpp's own quantizer, in a child process.

``llama_model_quantize`` is one blocking C call with no progress callback and no
way to stop it, and llama.cpp aborts the whole process on some faults. So it
runs in a spawned child process, as Ollama and LM Studio isolate llama.cpp:
cancelling terminates the child, a crash becomes a clear error instead of
taking the app down, and progress is the output file's size, polled while it
grows, against an estimate from the input's weights and the type's bits per
weight (a k-quant "mix" keeps some tensors at higher precision, so the estimate
is approximate; the bar never reaches 100 % before the child is done).

Tensors whose rows llama.cpp cannot cut into 256-value k-quant blocks (small
models) fall back, per tensor, to a compatible type: that is llama.cpp's rule,
and the result still loads.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path

from models.errors import OperationCancelled, QuantizationError
from models.progress import Progress, ProgressCallback, RateMeter

# name -> (llama_ftype, approximate bits per weight of the quantized matrices)
QUANT_TYPES: dict[str, tuple[int, float]] = {
    "Q4_0": (2, 4.55),
    "Q4_K_S": (14, 4.58),
    "Q4_K_M": (15, 4.89),
    "Q5_K_S": (16, 5.54),
    "Q5_K_M": (17, 5.70),
    "Q6_K": (18, 6.56),
    "Q8_0": (7, 8.50),
}
DEFAULT_QUANT = "Q4_K_M"
# Rows llama.cpp may hold at once while quantizing; its default (8 GiB) would need a big machine.
MAX_BUFFER = int(os.environ.get("LIVECC_DESK_QUANT_BUFFER_MB", "1024")) << 20
_POLL_S = 0.25


def normalize_quant(name: str) -> str:
    """``q4_k_m`` -> ``Q4_K_M``; raise ``QuantizationError`` for an unknown type."""
    key = name.strip().upper().replace("-", "_")
    if key not in QUANT_TYPES:
        raise QuantizationError(f"Unknown quantization {name!r}; choose one of {', '.join(QUANT_TYPES)}.")
    return key


def estimate_quantized_bytes(n_weights: int, quant: str) -> int:
    """Rough size of ``n_weights`` values quantized to ``quant`` (for disk checks)."""
    return int(n_weights * QUANT_TYPES[normalize_quant(quant)][1] / 8)


def expected_size(src: Path, quant: str) -> int:
    """Estimated output size: matrices at the type's bits per weight, vectors as float32."""
    import gguf

    bpw = QUANT_TYPES[normalize_quant(quant)][1]
    reader = gguf.GGUFReader(src)
    total = int(reader.tensors[0].data_offset) if reader.tensors else 0  # header and metadata
    for t in reader.tensors:
        n = int(t.n_elements)
        total += n * 4 if len(t.shape) < 2 else int(n * bpw / 8)
    return total


def quantize(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    quant: str = DEFAULT_QUANT,
    *,
    threads: int | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Write ``dst``, the text model ``src`` quantized to ``quant``; return ``dst``.

    ``dst`` appears only when complete. ``cancel`` (set from any thread) stops the
    child and raises ``OperationCancelled``; a failure raises ``QuantizationError``.
    """
    src, dst = Path(src), Path(dst)
    quant = normalize_quant(quant)
    if not src.is_file():
        raise QuantizationError(f"{src} does not exist; convert the model first.")
    expected = expected_size(src, quant)
    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_name(f".{dst.name}.{os.getpid()}.partial")
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_child,
        name="livecc-quantize",
        daemon=True,
        args=(str(src), str(partial), QUANT_TYPES[quant][0], threads or os.cpu_count() or 1, sender, MAX_BUFFER),
    )
    meter = RateMeter()
    label = f"{dst.name} ({quant})"
    try:
        child.start()
        sender.close()
        while child.is_alive():
            if cancel is not None and cancel.is_set():
                raise OperationCancelled(f"Quantization to {quant} cancelled; nothing was kept.")
            if on_progress is not None:
                written = min(partial.stat().st_size if partial.exists() else 0, int(expected * 0.99))
                rate = meter.update(written)
                on_progress(
                    Progress(
                        "quantize",
                        label,
                        written,
                        expected,
                        rate,
                        RateMeter.eta(written, expected, rate),
                        estimated=True,
                    )
                )
            child.join(_POLL_S)
        rc, log_tail = _receive(receiver)
        if child.exitcode != 0 or rc != 0:
            detail = f" llama.cpp said: {log_tail}" if log_tail else ""
            how = f"stopped (exit {child.exitcode})" if rc is None else f"failed (code {rc})"
            if rc is None and child.exitcode == 1:
                # A Python error in the child; the usual one is a script without a main guard.
                detail += (
                    " (The quantizer runs in a child process: a script that calls it must "
                    "start under `if __name__ == '__main__':`.)"
                )
            raise QuantizationError(
                f"Quantizing {src.name} to {quant} {how}.{detail} "
                "Check that the input is an f16/f32 GGUF and that the disk has room."
            )
        os.replace(partial, dst)
    except BaseException:
        if child.is_alive():
            child.terminate()
            child.join(5)
            if child.is_alive():
                child.kill()
                child.join()
        partial.unlink(missing_ok=True)
        raise
    finally:
        receiver.close()
    if on_progress is not None:
        size = dst.stat().st_size
        on_progress(Progress("quantize", label, size, size))
    return dst


def _receive(receiver) -> tuple[int | None, str]:
    """The child's (return code, log tail), or (None, "") if it died before saying."""
    try:
        return receiver.recv() if receiver.poll() else (None, "")
    except (EOFError, OSError):
        return None, ""


def _child(src: str, dst: str, ftype: int, threads: int, conn, max_buf: int = 0) -> None:
    """Runs in the spawned process: quantize, then send (return code, last error lines)."""
    import ctypes

    import llama_cpp

    errors: list[str] = []

    @llama_cpp.llama_log_callback
    def log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        if level >= 3:  # warnings and errors; the per-tensor chatter is dropped
            line = text.decode("utf-8", "replace").strip()
            if line:
                errors.append(line)
                del errors[:-3]

    llama_cpp.llama_log_set(log, None)
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    if max_buf:
        params.max_buf_size = max_buf  # llama.cpp's default buffers up to 8 GiB of rows
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))
    conn.send((int(rc), " ".join(errors)[-400:]))
    conn.close()
