"""Talking to the Hugging Face hub through ``huggingface_hub``: settings, metadata, errors.

Settings are read when a download starts, not when a module is imported, so a
GUI that changes them (or a test) is obeyed:

- ``HF_ENDPOINT``: the hub (or a mirror) to use.
- ``HF_HUB_OFFLINE``: never touch the network; only files already on disk, in
  the models folder or in the Hugging Face cache (``HF_HOME``/``HF_HUB_CACHE``).
- a token for gated or private repositories: the one given, else ``HF_TOKEN``,
  else the file ``huggingface-cli login`` / ``hf auth login`` saved under
  ``HF_HOME`` (``HF_TOKEN_PATH``).

File metadata (size, ETag = sha256 or git blob id, commit, final URL) comes from
``huggingface_hub.get_hf_file_metadata``; its exceptions are turned into our
errors with a message that says what to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import errors as hf_errors
from huggingface_hub import get_hf_file_metadata, hf_hub_url
from huggingface_hub.utils import build_hf_headers

from models.errors import AccessDeniedError, DownloadError, NetworkError, OfflineError, RemoteNotFoundError

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class HubSettings:
    """Where and as whom to download. ``None`` fields are read from the environment."""

    endpoint: str | None = None
    token: str | None = None
    offline: bool | None = None

    def resolved_endpoint(self) -> str:
        return (self.endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")

    def is_offline(self) -> bool:
        if self.offline is not None:
            return self.offline
        flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
        return flag.strip().lower() in _TRUE

    def resolved_token(self) -> str | None:
        if self.token:
            return self.token
        env = os.environ.get("HF_TOKEN", "").strip()
        if env:
            return env
        path = os.environ.get("HF_TOKEN_PATH") or str(hf_home() / "token")
        try:
            return Path(path).expanduser().read_text(encoding="utf-8").strip() or None
        except OSError:
            return None


def hf_home() -> Path:
    """``HF_HOME`` as huggingface_hub reads it, but now rather than at import."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    return Path(os.path.expandvars(os.environ.get("HF_HOME") or str(default))).expanduser()


def hf_hub_cache() -> Path:
    """The Hugging Face cache of downloaded repositories (``HF_HUB_CACHE``, else ``HF_HOME/hub``)."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return Path(explicit).expanduser() if explicit else hf_home() / "hub"


@dataclass(frozen=True)
class RemoteMeta:
    """What the hub says about one file at one revision."""

    repo_id: str
    filename: str
    revision: str
    url: str  # where to GET it (the hub, or the CDN it redirects to)
    size: int | None
    etag: str | None  # sha256 for LFS files, git blob sha1 for others
    commit: str | None


def file_metadata(repo_id: str, filename: str, revision: str, hub: HubSettings) -> RemoteMeta:
    """HEAD the file on the hub; raise one of our ``DownloadError``s on failure."""
    if hub.is_offline():
        raise OfflineError(
            f"HF_HUB_OFFLINE is set, so {repo_id}/{filename} cannot be looked up. "
            "Unset it to download, or copy the files into the models folder."
        )
    endpoint = hub.resolved_endpoint()
    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
    try:
        # No retry loop here: with no network the user hears so at once; every download resumes anyway.
        meta = get_hf_file_metadata(url, token=hub.resolved_token() or False, endpoint=endpoint)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear message
        raise hub_error(exc, repo_id, filename, revision, hub) from exc
    location = meta.location or url
    if location.startswith("/"):
        location = endpoint + location
    return RemoteMeta(repo_id, filename, revision, location, meta.size, meta.etag, meta.commit_hash)


def hub_error(exc: BaseException, repo_id: str, filename: str, revision: str, hub: HubSettings) -> DownloadError:
    """Translate an exception from huggingface_hub or httpx2 into a message that says what to do."""
    page = f"{hub.resolved_endpoint()}/{repo_id}"
    has_token = hub.resolved_token() is not None
    login = "log in with `hf auth login` or set HF_TOKEN"
    if isinstance(exc, DownloadError):
        return exc
    if isinstance(exc, hf_errors.GatedRepoError):
        return AccessDeniedError(
            f"{repo_id} is gated: accept its conditions at {page} with your account, "
            f"then {login}." + (" (A token was sent; it may lack access.)" if has_token else "")
        )
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return RemoteNotFoundError(f"{repo_id} has no revision {revision!r}; check the name or use 'main'.")
    if isinstance(exc, hf_errors.RemoteEntryNotFoundError):
        return RemoteNotFoundError(
            f"{repo_id} has no file {filename!r} at revision {revision!r}; check the file name in the catalog entry."
        )
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        hint = "" if has_token else f" If it is private, {login}."
        return RemoteNotFoundError(f"Repository {repo_id} was not found on {hub.resolved_endpoint()}.{hint}")
    if isinstance(exc, hf_errors.OfflineModeIsEnabled):
        return OfflineError(f"Offline mode (HF_HUB_OFFLINE) is on, so {repo_id}/{filename} cannot be fetched.")
    if isinstance(exc, hf_errors.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        if status in (401, 403):
            return AccessDeniedError(
                f"The hub refused access to {repo_id} ({status}); {login} with an account that may read it."
            )
        if status == 404:
            return RemoteNotFoundError(f"{repo_id}/{filename} was not found (404).")
        return NetworkError(
            f"The hub answered {status or 'an error'} for {repo_id}/{filename}; "
            "try again later (the download resumes where it stopped)."
        )
    if isinstance(exc, (httpx2.TransportError, ConnectionError, TimeoutError)):
        return NetworkError(
            f"Cannot reach {hub.resolved_endpoint()} ({type(exc).__name__}: {exc}). Check the "
            "network connection or proxy (HTTPS_PROXY); the download resumes where it stopped."
        )
    return DownloadError(f"Downloading {repo_id}/{filename} failed: {exc}")


def auth_headers(hub: HubSettings, url: str) -> dict[str, str]:
    """Headers for a GET of ``url``: the token only goes to the hub itself, never to a CDN."""
    headers = build_hf_headers(token=False, library_name="livecc-desk", library_version=_app_version())
    headers["Accept-Encoding"] = "identity"  # sizes and resume offsets are of the file itself
    token = hub.resolved_token()
    if token and _origin(url) == _origin(hub.resolved_endpoint()):
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _app_version() -> str:
    try:
        from importlib.metadata import version

        return version("livecc-desk")
    except Exception:  # noqa: BLE001 - not installed (a source checkout)
        return "dev"


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx2.URL(url)
    return parsed.scheme, parsed.host, parsed.port
