"""The one narrow class through which LiveCC Desk talks to llama.cpp.

It owns the text model, its context (one KV cache, sequence 0) and the mtmd
vision context, and offers only what the streaming engine needs: tokenize a
prompt part with its frames, evaluate it at a position, decode one token, read
logits, remove a range of positions. A remote backend would implement the same
methods. Every call into llama.cpp is timed, so benchmarks can tell our Python
overhead from llama.cpp's own time.

llama.cpp cannot shift positions of M-RoPE models (Qwen2-VL): nothing here ever
calls ``llama_memory_seq_add``; only whole ranges are removed.
"""

from __future__ import annotations

import ctypes
import logging
import os
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import mtmd_cpp

from models.engine import defaults
from models.engine.devices import Device, DeviceChoice, choose_device
from models.engine.gguf_check import ModelPair, check_model_pair
from models.errors import CorruptModelError, EngineError, ModelLoadError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeOptions:
    """How llama.cpp is set up.

    n_ctx: KV cache size in tokens (vision tokens included).
    n_gpu_layers: layers to offload to the GPU; -1 means all, 0 the CPU only,
        ``None`` as many as fit in free GPU memory (``models.gpu_layers``).
    n_threads: CPU threads; ``None`` takes every core this process may use
        (``cpu_threads()``).
    n_batch: most tokens evaluated in one llama.cpp call.
    vision_on_gpu: run the vision encoder on the GPU when there is one.
    device: ``auto`` (the first GPU, else the CPU), ``cpu``, or one GPU by
        number or ggml name ("Vulkan1"); see ``models.engine.devices``.
    """

    n_ctx: int = defaults.N_CTX
    n_gpu_layers: int | None = -1
    n_threads: int | None = None
    n_batch: int = defaults.N_BATCH
    vision_on_gpu: bool = True
    device: str = "auto"


@dataclass(frozen=True)
class DeviceReport:
    """Where the model runs, for status lines and ``--verbose`` output."""

    gpu_offload_supported: bool
    n_layers: int
    n_layers_offloaded: int
    vision_on_gpu: bool
    backend: str = ""  # "Vulkan", "CUDA", "Metal" when a GPU was chosen
    device_name: str = ""  # the GPU as its driver names it
    cpu_reason: str = ""  # why the CPU runs the model, when it does

    def describe(self) -> str:
        """One line: "GPU (Vulkan): llvmpipe — 3/3 layers, vision on GPU" or "CPU — why"."""
        if not self.gpu_offload_supported or not self.device_name:
            return f"CPU — {self.cpu_reason or 'this llama-cpp-python build has no GPU backend'}"
        gpu = f"GPU ({self.backend}): {self.device_name}"
        if self.n_layers_offloaded == 0:
            return (
                f"{gpu} — 0/{self.n_layers + 1} layers (the CPU runs the model), "
                f"vision on {'GPU' if self.vision_on_gpu else 'CPU'}"
            )
        vision = "vision on GPU" if self.vision_on_gpu else "vision on CPU"
        return f"{gpu} — {self.n_layers_offloaded}/{self.n_layers + 1} layers, {vision}"


@dataclass
class TokenizedPart:
    """A prompt part after mtmd tokenization, owned until ``free()``.

    ``video_groups`` > 1 means the part is one video segment of several
    temporal patches (LiveCC's 6-frame opening chunk), evaluated as
    transformers does: one ``<|vision_start|>`` ... ``<|vision_end|>`` around
    all patches, patch ``g`` at temporal position ``t = p0 + g``.
    """

    handle: object
    n_tokens: int
    text_tokens: list[int]
    has_vision: bool
    video_groups: int = 0

    def free(self) -> None:
        if self.handle is not None:
            mtmd_cpp.mtmd_input_chunks_free(self.handle)
            self.handle = None


def cpu_threads(spare: int = 0) -> int:
    """Cores this process may run on (its CPU affinity), less ``spare``; 1 to 16.

    ggml's threads wait for each other by spinning, so llama.cpp on every core
    collapses when another program wants one: on a 2-core machine with one
    busy process, a chunk took 251 ms on 2 threads and 147 ms on 1 (86 ms on
    2 when quiet; BENCHMARKS.md). Leave a core spare where other work runs
    beside the engine (capture, a game, OBS).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores - spare, 16))


class LlamaRuntimeError(EngineError):
    """llama.cpp refused an operation (the message says which)."""


class InvalidNumbersError(LlamaRuntimeError):
    """The model computed NaN or infinite values: its weights (or the mmproj's) are damaged."""


def invalid_numbers(what: str) -> InvalidNumbersError:
    return InvalidNumbersError(
        f"The model produced invalid numbers ({what} hold NaN or infinity): the model or mmproj file is "
        "probably damaged; verify it with `livecc-desk models verify MODEL --mmproj MMPROJ --load`, "
        "or download it again."
    )


# ggml_log_level: 1 debug, 2 info, 3 warn, 4 error, 5 continuation of the previous line
_LOG_LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}


@llama_cpp.llama_log_callback
def _llama_log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
    # llama.cpp prints a lot at load time; keep it out of the user's terminal
    # unless logging is turned up.
    py_level = _LOG_LEVELS.get(level, logging.DEBUG)
    if py_level >= logging.WARNING or log.isEnabledFor(py_level):
        log.log(py_level, "%s", text.decode("utf-8", "replace").rstrip())


_backend_ready = False


def _init_backend() -> None:
    global _backend_ready
    if not _backend_ready:
        llama_cpp.llama_log_set(_llama_log, None)
        mtmd_cpp.mtmd_log_set(_llama_log, None)
        mtmd_cpp.mtmd_helper_log_set(_llama_log, None)
        llama_cpp.llama_backend_init()
        _backend_ready = True


class LlamaMtmdRuntime:
    """A loaded model + mmproj pair with one KV cache."""

    def __init__(
        self, text_path: str | os.PathLike, mmproj_path: str | os.PathLike, options: RuntimeOptions = RuntimeOptions()
    ) -> None:
        self.pair: ModelPair = check_model_pair(text_path, mmproj_path)
        self.options = options
        self.llama_seconds = 0.0
        self._model = self._ctx = self._mtmd = self._batch = None
        # Set by _load(); declared here so that their types are known before it runs.
        self._mem: Any = None
        self._vocab: Any = None
        self.n_vocab: int = 0
        self.n_ctx: int = 0
        self.marker: str = ""
        self.device: DeviceReport
        self._prompt_evaluated: bool = False
        self._token_decoded: bool = False
        _init_backend()
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------------- loading
    def _load(self) -> None:
        """Place the model (device, layers), load it, make its context, load the projector."""
        opts = self.options
        choice = self.device_choice = choose_device(opts.device)
        gpu = choice.device
        layers, vision_wanted = self._plan_layers(choice)
        wanted = self.pair.n_layers + 1 if layers < 0 else layers
        self._load_text_model(gpu, wanted)
        threads = opts.n_threads or cpu_threads()
        self._create_context(gpu, threads)
        vision_on_gpu = gpu is not None and vision_wanted and layers != 0
        self._load_projector(gpu if vision_on_gpu else None, threads)
        self.device = DeviceReport(
            gpu_offload_supported=gpu is not None,
            n_layers=self.pair.n_layers,
            n_layers_offloaded=min(wanted, self.pair.n_layers + 1) if gpu else 0,
            vision_on_gpu=vision_on_gpu,
            backend=gpu.backend if gpu else "",
            device_name=gpu.description if gpu else "",
            cpu_reason=choice.reason if gpu is None else "",
        )
        self._batch = llama_cpp.llama_batch_ext_init(self._ctx)
        self._prompt_evaluated = self._token_decoded = False

    def _plan_layers(self, choice: DeviceChoice) -> tuple[int, bool]:
        """Layers to offload (-1 all) and whether the vision encoder may use the GPU; sets ``gpu_plan``."""
        opts = self.options
        self.gpu_plan = ""
        if choice.device is None:
            return 0, False
        requested, vision_wanted = opts.n_gpu_layers, opts.vision_on_gpu
        if requested is None:
            from models.gpu_layers import auto_gpu_layers, detect_vram

            try:
                plan = auto_gpu_layers(
                    self.pair.text_path,
                    self.pair.mmproj_path,
                    opts.n_ctx,
                    gpu_supported=True,
                    vram=detect_vram(device=choice.device),
                )
            except (ValueError, struct.error) as exc:  # headers our checks passed but the estimate cannot read
                raise CorruptModelError(
                    f"{self.pair.text_path.name} or {self.pair.mmproj_path.name} has a damaged header ({exc}); "
                    "download or convert the model again."
                ) from exc
            requested, vision_wanted = plan.n_gpu_layers, vision_wanted and plan.vision_on_gpu
            self.gpu_plan = plan.reason
        self.gpu_plan = "; ".join(p for p in (choice.reason, self.gpu_plan) if p)
        return requested, vision_wanted

    def _load_text_model(self, gpu: Device | None, n_gpu_layers: int) -> None:
        mparams = llama_cpp.llama_model_default_params()
        if gpu is None:
            # No device at all, not just no layers: with layers on the CPU llama.cpp would still
            # send large prompt batches to a GPU ("op offload"), and "CPU" must mean the CPU.
            self._devices = (ctypes.c_void_p * 1)(None)
        else:
            # Only the chosen GPU: llama.cpp would otherwise split layers over every GPU it sees.
            self._devices = (ctypes.c_void_p * 2)(gpu.handle, None)
        mparams.devices = ctypes.addressof(self._devices)
        mparams.n_gpu_layers = n_gpu_layers
        self._model = llama_cpp.llama_model_load_from_file(str(self.pair.text_path).encode(), mparams)
        if not self._model:
            raise ModelLoadError(
                f"llama.cpp could not load the model {self.pair.text_path}. "
                "The file may be damaged or from an unsupported llama.cpp version; download it again."
            )

    def _create_context(self, gpu: Device | None, threads: int) -> None:
        opts = self.options
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = opts.n_ctx
        cparams.n_batch = opts.n_batch
        cparams.n_ubatch = min(opts.n_batch, 512)
        cparams.n_seq_max = 1
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        if gpu is not None and gpu.software:
            # Mesa 22's lavapipe crashes (SIGSEGV in its queue thread) in the text model's
            # flash-attention graphs once the vision encoder shares the device (see
            # models.engine.devices); without flash attention it runs. Real GPUs keep llama.cpp's choice.
            cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        self._ctx = llama_cpp.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            raise ModelLoadError(
                f"llama.cpp could not create a {opts.n_ctx}-token context for {self.pair.text_path.name}. "
                "There may not be enough memory; try a smaller context."
            )
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self.n_ctx = llama_cpp.llama_n_ctx(self._ctx)
        self.n_ctx_train = int(llama_cpp.llama_model_n_ctx_train(self._model))

    def _load_projector(self, gpu: Device | None, threads: int) -> None:
        """The vision encoder, on ``gpu`` (``None``: the CPU)."""
        params = mtmd_cpp.mtmd_context_params_default()
        params.use_gpu = gpu is not None
        params.device = gpu.handle if gpu is not None else None
        params.n_threads = threads
        params.print_timings = False
        params.warmup = False
        self._mtmd = mtmd_cpp.mtmd_init_from_file(str(self.pair.mmproj_path).encode(), self._model, params)
        if not self._mtmd:
            raise ModelLoadError(
                f"llama.cpp could not load the vision projector {self.pair.mmproj_path}. "
                "It may be damaged or not belong to this model; use the mmproj file published with it."
            )
        if not mtmd_cpp.mtmd_support_vision(self._mtmd):
            raise ModelLoadError(f"{self.pair.mmproj_path.name} has no vision encoder; LiveCC needs one.")
        self.marker = mtmd_cpp.mtmd_default_marker().decode()

    def close(self) -> None:
        """Free everything llama.cpp holds. Safe to call twice."""
        if self._batch:
            llama_cpp.llama_batch_ext_free(self._batch)
        if self._mtmd:
            mtmd_cpp.mtmd_free(self._mtmd)
        if self._ctx:
            llama_cpp.llama_free(self._ctx)
        if self._model:
            llama_cpp.llama_model_free(self._model)
        self._model = self._ctx = self._mtmd = self._batch = None

    def __enter__(self) -> LlamaMtmdRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- vocabulary
    def tokenize_text(self, text: str, *, special: bool = True) -> list[int]:
        data = text.encode()
        buf = (llama_cpp.llama_token * (len(data) + 8))()
        n = llama_cpp.llama_tokenize(self._vocab, data, len(data), buf, len(buf), False, special)
        if n < 0:
            raise LlamaRuntimeError(f"tokenization of {len(data)} bytes failed")
        return list(buf[:n])

    def single_token(self, text: str) -> int | None:
        """The id of ``text`` when it is exactly one token, else ``None``."""
        ids = self.tokenize_text(text)
        return ids[0] if len(ids) == 1 else None

    def piece(self, token: int, *, special: bool = False) -> bytes:
        """The bytes a token stands for; special tokens give ``b""`` unless ``special``."""
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]

    def text_of(self, tokens: Sequence[int], *, special: bool = False) -> str:
        """The text of ``tokens`` (special tokens spelled out only if ``special``)."""
        return b"".join(self.piece(t, special=special) for t in tokens).decode("utf-8", errors="replace")

    def is_end_of_generation(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    # -------------------------------------------------------------- evaluation
    def tokenize_part(self, text: str, frames: Sequence[np.ndarray] = ()) -> TokenizedPart:
        """Tokenize text whose media markers stand for ``frames`` (RGB uint8).

        Frames are marked mergeable, so mtmd joins each consecutive pair into
        one Qwen2-VL temporal patch: a 2-frame chunk is one vision segment.
        """
        bitmaps = []
        chunks = mtmd_cpp.mtmd_input_chunks_init()
        try:
            for rgb in frames:
                rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
                h, w = rgb.shape[:2]
                bmp = mtmd_cpp.mtmd_bitmap_init(w, h, rgb.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
                if not bmp:
                    raise LlamaRuntimeError(f"mtmd could not take a {w}x{h} frame")
                mtmd_cpp.mtmd_bitmap_set_mergeable(bmp, True)
                bitmaps.append(bmp)
            data = text.encode()
            inp = mtmd_cpp.mtmd_input_text(text=data, text_len=len(data), add_special=False, parse_special=True)
            arr = (mtmd_cpp.mtmd_bitmap_p_ctypes * max(1, len(bitmaps)))(*bitmaps)
            t0 = time.perf_counter()
            rc = mtmd_cpp.mtmd_tokenize(self._mtmd, chunks, ctypes.byref(inp), arr, len(bitmaps))
            self.llama_seconds += time.perf_counter() - t0
            if rc != 0:
                raise LlamaRuntimeError(f"mtmd_tokenize failed (code {rc}) for {len(bitmaps)} frames")
            part = self._describe(chunks)
            chunks = None
            return part
        finally:
            for bmp in bitmaps:
                mtmd_cpp.mtmd_bitmap_free(bmp)
            if chunks is not None:
                mtmd_cpp.mtmd_input_chunks_free(chunks)

    def _chunks(self, handle: object) -> list[tuple[object, list[int] | None]]:
        """(chunk, its text tokens or None for vision) for each mtmd chunk."""
        out: list[tuple[object, list[int] | None]] = []
        for i in range(mtmd_cpp.mtmd_input_chunks_size(handle)):
            chunk = mtmd_cpp.mtmd_input_chunks_get(handle, i)
            if mtmd_cpp.mtmd_input_chunk_get_type(chunk) == mtmd_cpp.MTMD_INPUT_CHUNK_TYPE_TEXT:
                n = ctypes.c_size_t()
                ptr = mtmd_cpp.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
                out.append((chunk, list(ptr[: n.value])))
            else:
                out.append((chunk, None))
        return out

    def _describe(self, handle: object) -> TokenizedPart:
        chunks = self._chunks(handle)
        groups = sum(tokens is None for _, tokens in chunks)
        video = groups > 1 and mtmd_cpp.mtmd_decode_use_mrope(self._mtmd)
        text_tokens: list[int] = []
        n_tokens = 0
        for i, (chunk, tokens) in enumerate(chunks):
            if tokens is None:
                n_tokens += mtmd_cpp.mtmd_input_chunk_get_n_tokens(chunk)
            elif not (video and self._is_patch_boundary(chunks, i)):
                text_tokens.extend(tokens)
                n_tokens += len(tokens)
        return TokenizedPart(handle, n_tokens, text_tokens, groups > 0, groups if video else 0)

    def _is_patch_boundary(self, chunks, i: int) -> bool:
        """``<|vision_end|><|vision_start|>`` that mtmd puts between two temporal patches."""
        return 0 < i < len(chunks) - 1 and chunks[i - 1][1] is None and chunks[i + 1][1] is None

    def vision_segments(self, part: TokenizedPart) -> list[tuple[int, int]]:
        """(n_tokens, n_pos) of each vision segment in ``part``, for tests and logs."""
        out = []
        for i in range(mtmd_cpp.mtmd_input_chunks_size(part.handle)):
            chunk = mtmd_cpp.mtmd_input_chunks_get(part.handle, i)
            if mtmd_cpp.mtmd_input_chunk_get_type(chunk) != mtmd_cpp.MTMD_INPUT_CHUNK_TYPE_TEXT:
                out.append((mtmd_cpp.mtmd_input_chunk_get_n_tokens(chunk), mtmd_cpp.mtmd_input_chunk_get_n_pos(chunk)))
        return out

    def eval_part(self, part: TokenizedPart, n_past: int, *, logits: bool) -> int:
        """Evaluate a tokenized part from position ``n_past``; returns the next position."""
        if part.video_groups:
            return self._eval_video(part, n_past, logits=logits)
        new_n_past = llama_cpp.llama_pos(n_past)
        t0 = time.perf_counter()
        rc = mtmd_cpp.mtmd_helper_eval_chunks(
            self._mtmd, self._ctx, part.handle, n_past, 0, self.options.n_batch, logits, ctypes.byref(new_n_past)
        )
        self.llama_seconds += time.perf_counter() - t0
        if rc != 0:
            raise LlamaRuntimeError(f"llama.cpp failed to evaluate {part.n_tokens} tokens (code {rc})")
        self._prompt_evaluated = True
        return int(new_n_past.value)

    def _eval_video(self, part: TokenizedPart, n_past: int, *, logits: bool) -> int:
        """Evaluate several temporal patches as ONE video segment, as transformers does.

        mtmd merges at most two frames, so a 6-frame chunk arrives as three
        images, each wrapped in its own vision start/end tokens and placed at
        t = 0. Qwen2-VL was trained on one segment whose patches sit at
        t = 0, 1, 2 (M-RoPE), with the text after it at p0 + max(t, h, w).
        So: skip the inner end/start tokens, encode each patch with mtmd, and
        decode its embeddings with those positions ourselves.
        """
        t0 = time.perf_counter()
        chunks = self._chunks(part.handle)
        pos = n_past
        video_p0 = None
        group = 0
        extent = 0
        for i, (chunk, tokens) in enumerate(chunks):
            last = i == len(chunks) - 1
            if tokens is None:
                if video_p0 is None:
                    video_p0 = pos
                self._decode_patch(chunk, video_p0, group)
                image = mtmd_cpp.mtmd_input_chunk_get_tokens_image(chunk)
                extent = max(extent, group + 1, mtmd_cpp.mtmd_image_tokens_get_n_pos(image))
                group += 1
                pos = video_p0 + extent
            elif not self._is_patch_boundary(chunks, i) and tokens:
                self._decode_text(tokens, pos, logits=logits and last)
                pos += len(tokens)
        self.llama_seconds += time.perf_counter() - t0
        self._prompt_evaluated = True
        return pos

    def _decode_patch(self, chunk: object, p0: int, group: int) -> None:
        rc = mtmd_cpp.mtmd_encode_chunk(self._mtmd, chunk)
        if rc != 0:
            raise LlamaRuntimeError(f"mtmd failed to encode a video patch (code {rc})")
        embd = mtmd_cpp.mtmd_get_output_embd(self._mtmd)
        image = mtmd_cpp.mtmd_input_chunk_get_tokens_image(chunk)
        n_tokens = mtmd_cpp.mtmd_input_chunk_get_n_tokens(chunk)
        n_embd = llama_cpp.llama_model_n_embd_inp(self._model)
        if not embd or not np.isfinite(np.ctypeslib.as_array(embd, shape=(n_tokens * n_embd,))).all():
            raise invalid_numbers("the vision encoder's embeddings")
        base = ctypes.cast(embd, ctypes.c_void_p).value
        row_bytes = n_embd * ctypes.sizeof(ctypes.c_float)
        pos4 = (llama_cpp.llama_pos * 4)()
        batch = self._batch
        for start in range(0, n_tokens, self.options.n_batch):
            llama_cpp.llama_batch_ext_clear(batch)
            for i in range(start, min(n_tokens, start + self.options.n_batch)):
                row = ctypes.cast(base + i * row_bytes, ctypes.POINTER(ctypes.c_float))
                idx = llama_cpp.llama_batch_ext_add_embd(batch, 0, llama_cpp.llama_embd(row, 1, n_embd))
                p = mtmd_cpp.mtmd_image_tokens_get_decoder_pos(image, p0, i)
                pos4[0], pos4[1], pos4[2], pos4[3] = p0 + group, p.y, p.x, p.z
                llama_cpp.llama_batch_ext_set_pos(batch, idx, pos4)
            rc = llama_cpp.llama_process(self._ctx, llama_cpp.LLAMA_PROCESS_TYPE_DECODE, batch)
            if rc != 0:
                raise LlamaRuntimeError(f"llama.cpp failed to decode a video patch (code {rc})")

    def eval_tokens(self, tokens: Sequence[int], pos: int, *, logits: bool = False) -> int:
        """Evaluate text token ids at ``pos``, ``pos + 1``, ...; returns the next position.

        For text whose ids are already known (a generated reply written again
        when the context is re-primed): no tokenizer round trip, so the cache
        gets exactly the ids it held before.
        """
        if not tokens:
            return pos
        t0 = time.perf_counter()
        try:
            self._decode_text(list(tokens), pos, logits=logits)
        finally:
            self.llama_seconds += time.perf_counter() - t0
        self._prompt_evaluated = True
        return pos + len(tokens)

    def _decode_text(self, tokens: list[int], pos: int, *, logits: bool) -> None:
        batch = self._batch
        p = llama_cpp.llama_pos()
        for start in range(0, len(tokens), self.options.n_batch):
            llama_cpp.llama_batch_ext_clear(batch)
            piece = tokens[start : start + self.options.n_batch]
            for j, token in enumerate(piece):
                idx = llama_cpp.llama_batch_ext_add_token(batch, 0, token)
                p.value = pos + start + j
                llama_cpp.llama_batch_ext_set_pos(batch, idx, ctypes.byref(p))
            if logits and start + len(piece) == len(tokens):
                llama_cpp.llama_batch_ext_set_output_logits(batch, idx, True)
            rc = llama_cpp.llama_process(self._ctx, llama_cpp.LLAMA_PROCESS_TYPE_DECODE, batch)
            if rc != 0:
                raise LlamaRuntimeError(f"llama.cpp failed to decode {len(piece)} tokens (code {rc})")

    def decode_token(self, token: int, pos: int) -> None:
        """Evaluate one generated token at position ``pos`` and keep its logits."""
        batch = self._batch
        t0 = time.perf_counter()
        llama_cpp.llama_batch_ext_clear(batch)
        idx = llama_cpp.llama_batch_ext_add_token(batch, 0, token)
        p = llama_cpp.llama_pos(pos)
        llama_cpp.llama_batch_ext_set_pos(batch, idx, ctypes.byref(p))
        llama_cpp.llama_batch_ext_set_output_logits(batch, idx, True)
        rc = llama_cpp.llama_process(self._ctx, llama_cpp.LLAMA_PROCESS_TYPE_DECODE, batch)
        self.llama_seconds += time.perf_counter() - t0
        if rc != 0:
            raise LlamaRuntimeError(f"llama.cpp failed to decode a token (code {rc})")
        self._token_decoded = True

    def logits(self) -> np.ndarray:
        """Logits of the last evaluated token: a read-only view, valid until the next eval."""
        ptr = llama_cpp.llama_get_logits_ith(self._ctx, -1)
        if not ptr:
            raise LlamaRuntimeError("llama.cpp produced no logits for the last evaluation")
        view = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))
        view.flags.writeable = False
        # NaN and +inf propagate to the maximum (one pass, no temporary array): damaged weights
        # stop here with a clear error instead of an exception deep in the sampler.
        if not np.isfinite(view.max()):
            raise invalid_numbers("the logits")
        return view

    # ------------------------------------------------------------------ memory
    def remove(self, p0: int, p1: int) -> None:
        """Drop the cache cells of positions ``[p0, p1)``; other positions keep their values."""
        t0 = time.perf_counter()
        ok = llama_cpp.llama_memory_seq_rm(self._mem, 0, p0, p1)
        self.llama_seconds += time.perf_counter() - t0
        if not ok:
            raise LlamaRuntimeError(f"llama.cpp refused to remove positions {p0}..{p1}")

    def clear(self) -> None:
        """Empty the cache (a new stream)."""
        llama_cpp.llama_memory_clear(self._mem, True)

    def position_range(self) -> tuple[int, int]:
        """Smallest and largest position held in the cache (-1, -1 when empty)."""
        return (
            int(llama_cpp.llama_memory_seq_pos_min(self._mem, 0)),
            int(llama_cpp.llama_memory_seq_pos_max(self._mem, 0)),
        )

    def evaluated_tokens(self) -> int:
        """Tokens llama.cpp has evaluated since load (its own performance counters).

        llama.cpp adds to its counters when it synchronizes, so synchronize first.
        """
        llama_cpp.llama_synchronize(self._ctx)
        perf = llama_cpp.llama_perf_context(self._ctx)
        # llama.cpp reports max(1, n) for each counter: a 1 may mean none yet.
        return (int(perf.n_p_eval) if self._prompt_evaluated else 0) + (int(perf.n_eval) if self._token_decoded else 0)
