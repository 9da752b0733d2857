"""Errors of model management (catalog, download, conversion, quantization).

Each is a ``ModelError`` (so a ``LiveCCError``): the CLI prints the message and
exits 2, the GUI shows it. Messages say what is wrong and what to do.
``OperationCancelled`` (and its ``DownloadCancelled``) is not an error of input:
the user asked to stop; what was fetched so far is kept for the next attempt.
"""

from __future__ import annotations

from app.errors import LiveCCError, ModelError


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
