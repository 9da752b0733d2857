"""Errors the user sees that come from model files, the engine, or model management.

``LiveCCError`` is the base of every error caused by input, files or the
environment, in ``models`` and in ``app`` alike. Each message is one or two
sentences: what was wrong, and what to do about it. The CLI prints
``str(error)`` and exits 2, without a traceback; the GUI shows the same text.
Anything that is not a ``LiveCCError`` is a bug.

``OperationCancelled`` (and its ``DownloadCancelled``) is not an error of input:
the user asked to stop; what was fetched so far is kept for the next attempt.
"""

from __future__ import annotations


class LiveCCError(Exception):
    """Base of every error caused by input, files or the environment."""


class ModelError(LiveCCError):
    """A model file is missing, damaged, or not a LiveCC/Qwen2-VL pair."""


class ModelFileNotFoundError(ModelError):
    """A model or mmproj path does not exist."""


class CorruptModelError(ModelError):
    """A file is not GGUF, or is truncated."""


class ModelWithoutVisionError(ModelError):
    """The model pair cannot see: a text-only GGUF, or an mmproj without a vision encoder."""


class MismatchedProjectorError(ModelError):
    """The mmproj was made for another model."""


class ModelLoadError(ModelError):
    """llama.cpp refused a model that passed our checks."""


class ContextTooSmallError(ModelError):
    """The context cannot hold even one chunk beside the system prompt and query."""


class EngineError(LiveCCError):
    """llama.cpp failed while running (out of memory, a failed decode)."""


class ServerError(EngineError):
    """A remote llama-server could not be reached, refused us, stalled, or failed mid-chunk."""


class ServerModelError(ModelError):
    """A remote llama-server serves a model that is not the expected LiveCC/Qwen2-VL pair."""


class CatalogError(ModelError):
    """An unknown model name, or a catalog entry that cannot be used."""


class DownloadError(ModelError):
    """A download could not complete."""


class NetworkError(DownloadError):
    """The hub could not be reached (no network, DNS, proxy, timeout)."""


class OfflineError(DownloadError):
    """``HF_HUB_OFFLINE`` is set and the files are not on this machine."""


class AccessDeniedError(DownloadError):
    """A gated or private repository refused us (401/403): log in or accept its terms."""


class RemoteNotFoundError(DownloadError):
    """The repository, revision or file does not exist on the hub (404)."""


class HashMismatchError(DownloadError):
    """A file's size or sha256 differs from what was expected; the bad file was deleted."""


class NotEnoughDiskError(ModelError):
    """The models folder's disk cannot hold what is about to be written."""


class ConversionError(ModelError):
    """A checkpoint cannot be converted: wrong architecture, missing or damaged files."""


class QuantizationError(ModelError):
    """llama.cpp could not quantize a model."""


class OperationCancelled(LiveCCError):
    """The user cancelled a download, conversion, quantization or check (catch this one for all)."""


class DownloadCancelled(OperationCancelled):
    """The user cancelled a download; partial files are kept, and the next attempt resumes them."""
