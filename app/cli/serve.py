"""``livecc-desk serve``: run a LiveCC model in llama.cpp's own llama-server, for other machines.

The server is ``llama-server`` built from the pinned llama.cpp (``make server``);
this command starts it with the pair and the settings the remote engine needs
(one context of ``--n-ctx`` per stream, ``--parallel`` streams) and prints what to
give the client: ``livecc-desk commentate VIDEO --server URL``. Listening on
anything but loopback needs an API key.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path

from models.engine import defaults
from models.errors import LiveCCError, ServerError


def add_serve_command(sub) -> None:
    s = sub.add_parser("serve", help="serve a model to other machines with llama-server (remote engine)")
    s.add_argument("--model", required=True, help="an installed model's name, or a language model GGUF")
    s.add_argument("--mmproj", type=Path, default=None, help="vision projector GGUF (needed with a GGUF path)")
    s.add_argument("--models-dir", type=Path, default=None, help="where installed models are (with a name)")
    s.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; anything else needs an API key)"
    )
    s.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free port)")
    key = s.add_mutually_exclusive_group()
    key.add_argument("--api-key", default=None, help="API key clients must send (prefer --api-key-env)")
    key.add_argument("--api-key-env", default=None, metavar="VAR", help="read the API key from this variable")
    s.add_argument("--parallel", type=int, default=1, help="streams served at once (default 1)")
    s.add_argument("--n-gpu-layers", type=int, default=-1, help="layers on the GPU: -1 all (default), 0 CPU only")
    s.add_argument(
        "--n-ctx",
        type=int,
        default=2 * defaults.N_CTX,
        help=f"context per stream in tokens (default {2 * defaults.N_CTX})",
    )
    s.add_argument("--threads", type=int, default=None, help="CPU threads (default: llama.cpp's choice)")


def api_key_from(args: argparse.Namespace) -> str | None:
    """The key given with --api-key, or read from the variable --api-key-env names."""
    if getattr(args, "api_key_env", None):
        value = os.environ.get(args.api_key_env, "")
        if not value:
            raise LiveCCError(f"--api-key-env {args.api_key_env}: that environment variable is not set or empty.")
        return value
    return getattr(args, "api_key", None) or None


def _pair(args: argparse.Namespace) -> tuple[Path, Path]:
    path = Path(args.model)
    if path.suffix.lower() == ".gguf" or path.exists():
        if args.mmproj is None:
            raise LiveCCError("A model given as a GGUF file needs its vision projector too: add --mmproj P.gguf.")
        return path, args.mmproj
    from models.store import ModelStore, models_dir

    model = ModelStore(models_dir(args.models_dir)).resolve(args.model)
    return model.text_path, args.mmproj or model.mmproj_path


def run_serve(args: argparse.Namespace) -> int:
    from models.engine.gguf_check import check_model_pair
    from models.engine.llama_server import (
        LlamaServerProcess,
        ServerSettings,
        cache_root,
        describe,
        find_llama_server,
        free_port,
    )

    text, mmproj = _pair(args)
    pair = check_model_pair(text, mmproj)  # a clear error now, not a llama-server log line later
    port = args.port or free_port(args.host if args.host not in ("0.0.0.0", "::") else "127.0.0.1")
    settings = ServerSettings(
        model=pair.text_path,
        mmproj=pair.mmproj_path,
        host=args.host,
        port=port,
        api_key=api_key_from(args),
        parallel=args.parallel,
        n_gpu_layers=args.n_gpu_layers,
        n_ctx=args.n_ctx,
        threads=args.threads,
    )
    settings.check()
    binary = find_llama_server()
    if binary is None:
        raise ServerError(
            "llama-server is not built on this machine: run `make server` "
            "(scripts/build_llama_server.sh; GPU=cuda|vulkan|metal for a GPU build)."
        )
    log_dir = cache_root()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"serve-{port}.log"
    print(
        f"starting {binary} with {pair.text_path.name} + {pair.mmproj_path.name} "
        f"({args.parallel} x {args.n_ctx} tokens); log: {log_path}",
        file=sys.stderr,
    )
    server = LlamaServerProcess(binary, settings, log_path=log_path)
    try:
        server.wait_ready(timeout_s=600)
        public = socket.gethostname() if args.host in ("0.0.0.0", "::") else args.host
        url = settings.url if args.host in ("127.0.0.1", "localhost", "::1") else f"http://{public}:{port}"
        print(describe(url, settings.api_key), flush=True)
        while server.process.poll() is None:
            time.sleep(0.5)
        raise ServerError(f"llama-server stopped (exit code {server.process.returncode}); see {log_path}.")
    except KeyboardInterrupt:
        print("\nstopping the server", file=sys.stderr)
        return 0
    finally:
        server.stop()
