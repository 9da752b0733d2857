"""``livecc-desk``: the one console entry point.

With no arguments it opens the desktop application; where there is no display
(a server, an SSH session) it runs the demo instead and says how to open the
window. The subcommands run headless:

  livecc-desk commentate VIDEO [--model NAME] [options]   (or --model M.gguf --mmproj P.gguf)
  livecc-desk review VIDEO [--mark T[-T2]:TAG:LABEL]... [--report OUT.html]
  livecc-desk models list | download | convert | verify | remove | add-local | make-tiny
  livecc-desk demo

Errors caused by input or the environment print one clear line and exit 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from app.settings import (
    AUTO_GPU_LAYERS,
    AUTO_THREADS,
    CommentarySettings,
    ContextSettings,
    ModelSettings,
    Settings,
    parse_setting,
)
from app.sinks.formats import EXPORT_FORMATS
from models.engine import defaults
from models.engine.prompt import DEFAULT_QUERY
from models.engine.streaming_policy import POLICIES
from models.errors import LiveCCError

EXIT_INPUT_ERROR = 2
EXIT_INTERRUPTED = 130


def _device(text: str) -> str:
    from models.engine.devices import DeviceSettingError, normalize_setting

    try:
        return normalize_setting(text)
    except DeviceSettingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _setting(group: type, name: str) -> Callable[[str], int | float]:
    """An argparse type for a number that the settings also hold: the same range check (app.settings)."""

    def parse(text: str) -> int | float:
        try:
            return parse_setting(group, name, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


class _Parser(argparse.ArgumentParser):
    """Says what is wrong with the command line in one line (not the whole usage), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT_ERROR, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _add_engine_options(p: argparse.ArgumentParser) -> None:
    """The engine's flags; defaults come from ``models.engine.defaults`` (see :func:`settings_from_args`)."""
    d = defaults
    side = d.MAX_PIXELS // (d.PIXEL_FACTOR * d.PIXEL_FACTOR)
    p.add_argument(
        "--model",
        default=None,
        type=Path,
        metavar="NAME|M.gguf",
        help="an installed model's name (`livecc-desk models list`) or a language model GGUF; "
        "may be left out when exactly one model is installed",
    )
    p.add_argument(
        "--mmproj",
        default=None,
        type=Path,
        metavar="P.gguf",
        help="vision projector GGUF; needed only when --model is a GGUF file no installed model owns",
    )
    p.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="models folder for --model NAME (default: $LIVECC_DESK_MODELS or the user data folder)",
    )
    p.add_argument("--query", default=None, help="what to commentate, in your words (default: describe the video)")
    p.add_argument(
        "--n-ctx",
        type=_setting(ModelSettings, "n_ctx"),
        default=d.N_CTX,
        help=f"context size in tokens (default {d.N_CTX})",
    )
    p.add_argument(
        "--n-gpu-layers",
        type=_setting(ModelSettings, "n_gpu_layers"),
        default=None,
        help="layers to offload to the GPU: -1 all, 0 CPU only (default: as many as fit)",
    )
    p.add_argument(
        "--device",
        type=_device,
        default="auto",
        help="where the model runs: auto (the first GPU, else the CPU), cpu, or a GPU by number "
        "or name (Vulkan0, Vulkan1, ...; --self-test lists them)",
    )
    p.add_argument(
        "--threads",
        type=_setting(ModelSettings, "n_threads"),
        default=AUTO_THREADS,
        help=f"CPU threads (default {AUTO_THREADS}: automatic, every core this process may use but {d.SPARE_CORES})",
    )
    p.add_argument(
        "--max-pixels",
        type=_setting(ModelSettings, "max_pixels"),
        default=d.MAX_PIXELS,
        help=f"most pixels per frame after resizing (default {d.MAX_PIXELS} = "
        f"{side}*{d.PIXEL_FACTOR}*{d.PIXEL_FACTOR})",
    )
    p.add_argument(
        "--max-new-tokens",
        type=_setting(CommentarySettings, "max_new_tokens"),
        default=d.MAX_NEW_TOKENS,
        help=f"most tokens per 1-s chunk (default {d.MAX_NEW_TOKENS})",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--greedy", action="store_true", help="always take the most likely token (reproducible)")
    mode.add_argument(
        "--seed",
        type=_setting(CommentarySettings, "seed"),
        default=None,
        help=f"sample with this seed (default: sampling, seed {d.SEED})",
    )
    p.add_argument(
        "--temperature",
        type=_setting(CommentarySettings, "temperature"),
        default=d.TEMPERATURE,
        help=f"sampling temperature (default {d.TEMPERATURE})",
    )
    p.add_argument(
        "--repetition-penalty",
        type=_setting(CommentarySettings, "repetition_penalty"),
        default=d.REPETITION_PENALTY,
        help=f"(default {d.REPETITION_PENALTY}, as LiveCC)",
    )
    p.add_argument(
        "--context-policy",
        choices=POLICIES,
        default=d.CONTEXT_POLICY,
        help="what stays in the context on long videos: a window of recent frames and text at "
        "bounded positions (streaming), or plain eviction of the oldest turns (evict); "
        f"default {d.CONTEXT_POLICY}",
    )
    p.add_argument(
        "--vision-window",
        type=_setting(ContextSettings, "vision_window_s"),
        default=d.VISION_WINDOW_S,
        metavar="SECONDS",
        help=f"seconds of video whose frames stay in the context (default {d.VISION_WINDOW_S}: half the context)",
    )
    p.add_argument(
        "--text-window",
        type=_setting(ContextSettings, "text_window_tokens"),
        default=d.TEXT_WINDOW_TOKENS,
        metavar="TOKENS",
        help=f"tokens of recent commentary kept after their frames go (default {d.TEXT_WINDOW_TOKENS}: "
        "3/16 of the context)",
    )
    p.add_argument(
        "--reprime-vision",
        type=_setting(ContextSettings, "reprime_vision_s"),
        default=d.REPRIME_VISION_S,
        metavar="SECONDS",
        help="seconds of frames re-read when the streaming context is rebuilt "
        f"(default {d.REPRIME_VISION_S}; at most the vision window)",
    )
    p.add_argument(
        "--talk-more",
        nargs=2,
        type=_setting(CommentarySettings, "talk_more_base"),
        metavar=("BASE", "STEP"),
        default=None,
        help="suppress silence while its probability is <= BASE + STEP*n (speaks more often)",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The engine flags as the desktop app's :class:`Settings`, for ``app.settings.engine_options``.

    The CLI and the GUI then build their ``EngineOptions`` with one function, so the
    same choices give the same engine.
    """
    talk_more = args.talk_more is not None
    base, step = args.talk_more if talk_more else (defaults.TALK_MORE_BASE, defaults.TALK_MORE_STEP)
    return Settings(
        model=ModelSettings(
            model_path=str(args.model),
            mmproj_path=str(args.mmproj),
            n_ctx=args.n_ctx,
            n_gpu_layers=AUTO_GPU_LAYERS if args.n_gpu_layers is None else args.n_gpu_layers,
            n_threads=args.threads,
            max_pixels=args.max_pixels,
            device=args.device,
        ),
        commentary=CommentarySettings(
            query=args.query or DEFAULT_QUERY,
            greedy=args.greedy,
            temperature=args.temperature,
            seed=defaults.SEED if args.seed is None else args.seed,
            repetition_penalty=args.repetition_penalty,
            talk_more=talk_more,
            talk_more_base=base,
            talk_more_step=step,
            max_new_tokens=args.max_new_tokens,
        ),
        context=ContextSettings(
            policy=args.context_policy,
            vision_window_s=args.vision_window,
            text_window_tokens=args.text_window,
            reprime_vision_s=args.reprime_vision,
        ),
    )


def _add_stream_options(p: argparse.ArgumentParser) -> None:
    """Outputs for OBS while a file is commentated (README.md, "OBS"); see app/cli/stream_outputs.py."""
    from app.sinks.obs import DEFAULT_SOURCE, DEFAULT_URL
    from app.sinks.overlay_server import DEFAULT_PORT

    g = p.add_argument_group("live outputs for OBS")
    g.add_argument(
        "--realtime",
        action="store_true",
        help="pace the file at its own speed, as a live stream (commentary no faster than the video)",
    )
    g.add_argument(
        "--overlay-server",
        nargs="?",
        const=str(DEFAULT_PORT),
        default=None,
        metavar="[HOST:]PORT",
        help="serve the browser-source page at http://127.0.0.1:PORT/overlay "
        f"(default port {DEFAULT_PORT}); "
        "a HOST other than 127.0.0.1 needs --overlay-token",
    )
    g.add_argument(
        "--overlay-token",
        default=None,
        metavar="TOKEN",
        help="a secret every request to the page must carry (?token=TOKEN); required off loopback",
    )
    g.add_argument(
        "--obs",
        nargs="?",
        const=DEFAULT_URL,
        default=None,
        metavar="URL",
        help=f"push the commentary into an OBS text source over obs-websocket (default URL {DEFAULT_URL})",
    )
    g.add_argument(
        "--obs-password-env",
        default=None,
        metavar="VAR",
        help="read the OBS WebSocket password from this environment variable",
    )
    g.add_argument(
        "--obs-source",
        default=DEFAULT_SOURCE,
        metavar="NAME",
        help=f"the OBS text source to fill, created in the current scene if missing (default {DEFAULT_SOURCE!r})",
    )
    g.add_argument(
        "--obs-captions", action="store_true", help="also send finished lines as stream captions while OBS is streaming"
    )
    g.add_argument(
        "--captions-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="keep the last lines of commentary in this file, for an OBS text source's 'Read from file'",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="livecc-desk",
        description=(
            "Live commentary on video with LiveCC. Run with no arguments to open the desktop app (without a "
            "display, that runs the demo instead); the commands below run without a window."
        ),
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: llama.cpp too)")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation headless (llama.cpp, a tiny model, capture, voice, Qt) and exit",
    )
    sub = parser.add_subparsers(dest="command")

    c = sub.add_parser("commentate", help="commentate video files (several, or every video in a folder)")
    c.add_argument(
        "videos",
        nargs="+",
        type=Path,
        metavar="VIDEO",
        help="video files or folders (a folder's videos are taken, not its subfolders)",
    )
    _add_engine_options(c)
    c.add_argument("--start", type=float, default=0.0, help="start at this many seconds")
    c.add_argument("--end", type=float, default=None, help="stop at this many seconds")
    c.add_argument("--srt", type=Path, help="write SubRip subtitles here")
    c.add_argument("--vtt", type=Path, help="write WebVTT subtitles here")
    c.add_argument("--jsonl", type=Path, help="append the transcript here, one JSON object per chunk")
    c.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="write NAME.srt, NAME.vtt, NAME.jsonl per video here (default with several videos: next to each video)",
    )
    c.add_argument(
        "--formats",
        default=",".join(EXPORT_FORMATS),
        help=f"which files to write per video with several videos or --out-dir (default {','.join(EXPORT_FORMATS)})",
    )
    c.add_argument(
        "--export-mp4",
        action="store_true",
        help="also write NAME.captioned.mp4: the video with the commentary burned in",
    )
    c.add_argument(
        "--speak", action="store_true", help="add the spoken commentary to the captioned MP4 (implies --export-mp4)"
    )
    c.add_argument("--show-silence", action="store_true", help="print silent chunks as '...'")
    _add_stream_options(c)
    c.add_argument(
        "--server",
        action="append",
        default=None,
        metavar="URL",
        help="run the model on a llama-server started with `livecc-desk serve` (another machine); repeat it to "
        "spread a batch over several servers: a server that fails is dropped and its videos start again on the "
        "others (one video uses the first server that answers)",
    )
    c.add_argument("--api-key-env", default=None, metavar="VAR", help="read the server's API key from this variable")
    c.add_argument(
        "--server-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="most seconds to wait for the server at each step (default 120)",
    )
    c.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="with --server and several videos: commentate N at once on EACH server (serve with --parallel N)",
    )

    from app.cli.models import add_models_commands

    add_models_commands(sub)

    from app.cli.serve import add_serve_command

    add_serve_command(sub)

    from app.cli.review import add_review_command

    add_review_command(sub)

    d = sub.add_parser("demo", help="commentate a generated clip with the tiny model (no download)")
    d.add_argument("--dir", type=Path, default=None, help="where to keep the demo files (default: user cache)")
    return parser


def main(argv: list[str] | None = None) -> int:
    # The GUI's engine child starts with 'spawn'; a frozen (PyInstaller) build needs this first.
    multiprocessing.freeze_support()
    # FFmpeg and OpenCV print their own lines about a damaged file before ours says what is wrong
    # and what to do; keep theirs out (before cv2 loads). Set the variables to see them again.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        if _no_display():
            return _demo_without_display()
        from ui.app import run_gui

        return run_gui([sys.argv[0]])
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.verbose < 2:
        logging.getLogger("models.engine.llama_runtime").setLevel(logging.ERROR)
    if args.self_test:
        from app.cli.self_test import run_self_test

        return run_self_test()
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "commentate":
            from app.cli.commentate import run_commentate

            if not args.server:
                from app.cli.model_choice import choose_model

                args.model, args.mmproj = choose_model(args.model, args.mmproj, args.models_dir)
            if args.jobs != 1 and not args.server or args.jobs < 1:
                parser.error("--jobs N needs --server URL (one model in this process runs one video at a time)")

            return run_commentate(args)
        if args.command == "serve":
            from app.cli.serve import run_serve

            return run_serve(args)
        if args.command == "review":
            from app.cli.review import run_review

            return run_review(args)
        if args.command == "models":
            from app.cli.models import run_models

            return run_models(args)
        if args.command == "demo":
            from app.cli.commentate import run_demo

            return run_demo(args)
    except LiveCCError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    parser.error(f"unknown command {args.command}")
    return EXIT_INPUT_ERROR


def _demo_without_display() -> int:
    """What ``livecc-desk`` (and ``make run``) does where no window can open: the demo, and how to get the window."""
    print(
        "No display found, so the desktop app cannot open here: running `livecc-desk demo` instead.\n"
        "To open the window, run `livecc-desk` (or `make run`) in a desktop session, or over SSH with X "
        "forwarding (ssh -X). Headless use: livecc-desk --help.\n",
        file=sys.stderr,
    )
    return main(["demo"])


def _no_display() -> bool:
    """On X11/Wayland systems Qt aborts the process without a display; say so instead."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


if __name__ == "__main__":
    sys.exit(main())
