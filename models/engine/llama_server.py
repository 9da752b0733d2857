"""Finding and starting llama.cpp's own ``llama-server`` for a LiveCC model pair.

The binary is built from the very llama.cpp the pinned llama-cpp-python vendors
(``scripts/build_llama_server.sh``, ``make server``) and cached under
``~/.cache/livecc-desk/llama-server/<version>-<backend>-<patch id>/bin/``; the PyInstaller bundle
carries one build of it in ``_internal/llama-server/{bin,lib}`` (``pyinstaller.spec``).
``find_llama_server`` looks, in order, at ``$LIVECC_LLAMA_SERVER`` (an explicit choice),
the bundle's own, that cache (GPU builds first), then ``PATH``. ``server_command`` gives the command line
with the settings LiveCC needs; ``LlamaServerProcess`` runs it and waits until it
answers ``/health``.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from models.engine import defaults
from models.errors import ServerError

#: The llama-cpp-python release whose vendored llama.cpp the server is built from.
PINNED_VERSION = "0.3.36"
DEFAULT_PORT = 8080
BACKENDS = ("cuda", "vulkan", "metal", "hip", "cpu")


def cache_root() -> Path:
    base = os.environ.get("LIVECC_DESK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "livecc-desk"
    )
    return Path(base) / "llama-server"


#: Our one change to llama-server (frame pairs as temporal patches, pictures decoded once);
#: ``scripts/build_llama_server.sh`` applies it and names its cache after its hash.
SERVER_PATCH = Path(__file__).resolve().parents[2] / "packaging" / "llama-server" / "livecc.patch"


@functools.cache
def server_patch_id() -> str:
    """The start of the patch's SHA-256, as the build script computes it (``unpatched`` without the file)."""
    try:
        return hashlib.sha256(SERVER_PATCH.read_bytes()).hexdigest()[:10]
    except OSError:
        return "unpatched"


def cached_binary(backend: str = "cpu", version: str = PINNED_VERSION) -> Path:
    folder = f"{version}-{backend}-{server_patch_id()}"
    return cache_root() / folder / "bin" / ("llama-server.exe" if os.name == "nt" else "llama-server")


#: Where the bundle keeps llama-server, under its ``_internal`` folder (the build's bin/ and lib/ as they are).
BUNDLE_DIR = "llama-server"


def _binary_name() -> str:
    return "llama-server.exe" if os.name == "nt" else "llama-server"


def bundled_binary() -> Path | None:
    """The llama-server inside a PyInstaller bundle, or ``None`` (not frozen, or a bundle without one)."""
    if not getattr(sys, "frozen", False):
        return None
    internal = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
    for path in (internal / BUNDLE_DIR / "bin" / _binary_name(), Path(sys.executable).parent / _binary_name()):
        if path.is_file():
            return path
    return None


def built_llama_server(backends: tuple[str, ...] = BACKENDS) -> Path | None:
    """The llama-server ``make server`` built (``$LIVECC_LLAMA_SERVER`` first), trying ``backends`` in order."""
    env = os.environ.get("LIVECC_LLAMA_SERVER")
    if env:
        return Path(env) if Path(env).is_file() else None
    for backend in backends:
        path = cached_binary(backend)
        if path.is_file() and (path.parent.parent / ".complete").exists():
            return path
    return None


def find_llama_server() -> Path | None:
    """The llama-server to run, or ``None`` when there is none (build it with ``make server``)."""
    env = os.environ.get("LIVECC_LLAMA_SERVER")
    if env:
        return Path(env) if Path(env).is_file() else None
    found = bundled_binary() or built_llama_server()
    if found is not None:
        return found
    on_path = shutil.which(_binary_name())
    return Path(on_path) if on_path else None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerSettings:
    """How ``livecc-desk serve`` starts llama-server.

    n_ctx: context per stream (each of the ``parallel`` slots gets this much).
    parallel: streams served at once (slots).
    n_gpu_layers: layers offloaded (-1 all, 0 CPU only).
    threads: CPU threads (``None``: llama.cpp's default).
    """

    model: Path
    mmproj: Path | None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    api_key: str | None = None
    parallel: int = 1
    n_gpu_layers: int = -1
    n_ctx: int = 2 * defaults.N_CTX
    threads: int | None = None
    alias: str | None = None

    def check(self) -> None:
        if not is_loopback(self.host) and not self.api_key:
            raise ServerError(
                f"Refusing to listen on {self.host} without an API key: anyone on the network could use the "
                "server. Give --api-key-env VAR (or --api-key), or listen on 127.0.0.1."
            )
        if self.parallel < 1 or self.n_ctx < 256:
            raise ServerError("--parallel must be at least 1 and --n-ctx at least 256.")

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else ("[::1]" if self.host == "::" else self.host)
        return f"http://{host}:{self.port}"


def server_command(binary: Path, s: ServerSettings) -> list[str]:
    """The llama-server command line (the API key is passed in the environment, not on it)."""
    cmd = [
        str(binary),
        "--model",
        str(s.model),
        *(["--mmproj", str(s.mmproj)] if s.mmproj else []),
        "--host",
        s.host,
        "--port",
        str(s.port),
        "--parallel",
        str(s.parallel),
        "--no-kv-unified",
        "--ctx-size",
        str(s.n_ctx * s.parallel),
        "--n-gpu-layers",
        str(s.n_gpu_layers if s.n_gpu_layers >= 0 else 999),
        "--batch-size",
        str(defaults.N_BATCH),
        "--ubatch-size",
        str(min(defaults.N_BATCH, 512)),
        "--no-context-shift",
        "--no-webui",
        "--alias",
        s.alias or Path(s.model).stem,
    ]
    if s.n_gpu_layers == 0:
        cmd.append("--no-mmproj-offload")
    if s.threads:
        cmd += ["--threads", str(s.threads), "--threads-batch", str(s.threads)]
    return cmd


def server_env(s: ServerSettings) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LLAMA_API_KEY", None)
    if s.api_key:
        env["LLAMA_API_KEY"] = s.api_key  # not on the command line, where `ps` would show it
    return env


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_healthy(
    url: str, process: subprocess.Popen | None = None, timeout_s: float = 120.0, log_path: Path | None = None
) -> None:
    """Poll ``/health`` until it answers 200; fail clearly if the process exits first."""
    hostport = url.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = _tail(log_path)
            raise ServerError(f"llama-server exited with code {process.returncode} while starting{tail}")
        try:
            conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=2)
            conn.request("GET", "/health")
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            if resp.status == 200:
                return
            last = f"{resp.status} {body[:200]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise ServerError(f"llama-server at {url} was not ready after {timeout_s:g} s ({last}).")


def _tail(log_path: Path | None, lines: int = 8) -> str:
    if log_path is None or not log_path.exists():
        return "."
    text = log_path.read_text(errors="replace").strip().splitlines()[-lines:]
    return ":\n" + "\n".join(text)


class LlamaServerProcess:
    """A running llama-server; ``stop()`` ends it (also on ``with`` exit)."""

    def __init__(
        self, binary: Path, settings: ServerSettings, *, log_path: Path | None = None, inherit_output: bool = False
    ) -> None:
        settings.check()
        self.settings = settings
        self.url = settings.url
        self.log_path = log_path
        self._log = open(log_path, "wb") if log_path and not inherit_output else None  # noqa: SIM115
        out = None if inherit_output else (self._log or subprocess.DEVNULL)
        lib = str(Path(binary).parent.parent / "lib")
        env = server_env(settings)
        if os.name != "nt" and Path(lib).is_dir():
            env["LD_LIBRARY_PATH"] = lib + os.pathsep + env.get("LD_LIBRARY_PATH", "")
        self.process = subprocess.Popen(
            server_command(binary, settings), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )

    def wait_ready(self, timeout_s: float = 120.0) -> LlamaServerProcess:
        try:
            wait_healthy(self.url, self.process, timeout_s, self.log_path)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LlamaServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def describe(url: str, api_key: str | None) -> str:
    """One line to print: where clients connect and how."""
    key = " with the API key (client: --api-key-env VAR)" if api_key else ""
    return f"LiveCC server ready: livecc-desk commentate VIDEO --server {url}{key}"


__all__ = [
    "LlamaServerProcess",
    "ServerSettings",
    "built_llama_server",
    "bundled_binary",
    "describe",
    "find_llama_server",
    "free_port",
]
