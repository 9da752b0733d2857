"""``livecc-desk``: the one console entry point.

With no arguments it opens the desktop application. The subcommands run headless:

  livecc-desk commentate VIDEO --model M.gguf --mmproj P.gguf [options]
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
from pathlib import Path

from app.errors import LiveCCError
from models.engine.streaming_policy import POLICIES

DEFAULT_MAX_PIXELS = 384 * 28 * 28
EXIT_INPUT_ERROR = 2
EXIT_INTERRUPTED = 130


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative, got {value}")
    return value


def _device(text: str) -> str:
    from models.engine.devices import DeviceSettingError, normalize_setting

    try:
        return normalize_setting(text)
    except DeviceSettingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, type=Path, help="language model GGUF (LiveCC / Qwen2-VL)")
    p.add_argument("--mmproj", required=True, type=Path, help="vision projector GGUF published with the model")
    p.add_argument("--query", default=None, help="what to commentate, in your words (default: describe the video)")
    p.add_argument("--n-ctx", type=int, default=8192, help="context size in tokens (default 8192)")
    p.add_argument("--n-gpu-layers", type=int, default=None,
                   help="layers to offload to the GPU: -1 all, 0 CPU only (default: as many as fit)")
    p.add_argument("--device", type=_device, default="auto",
                   help="where the model runs: auto (the first GPU, else the CPU), cpu, or a GPU by number "
                        "or name (Vulkan0, Vulkan1, ...; --self-test lists them)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: every core this process may use)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help=f"most pixels per frame after resizing (default {DEFAULT_MAX_PIXELS} = 384*28*28)")
    p.add_argument("--max-new-tokens", type=int, default=16, help="most tokens per 1-s chunk (default 16)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--greedy", action="store_true", help="always take the most likely token (reproducible)")
    mode.add_argument("--seed", type=int, default=None, help="sample with this seed (default: sampling, seed 0)")
    p.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default 0.7)")
    p.add_argument("--repetition-penalty", type=float, default=1.05, help="(default 1.05, as LiveCC)")
    p.add_argument("--context-policy", choices=POLICIES, default="streaming",
                   help="what stays in the context on long videos: a window of recent frames and text at "
                        "bounded positions (streaming, default), or plain eviction of the oldest turns (evict)")
    p.add_argument("--vision-window", type=_non_negative_int, default=0, metavar="SECONDS",
                   help="seconds of video whose frames stay in the context (default 0: half the context)")
    p.add_argument("--text-window", type=_non_negative_int, default=0, metavar="TOKENS",
                   help="tokens of recent commentary kept after their frames go (default 0: 3/16 of the context)")
    p.add_argument("--talk-more", nargs=2, type=float, metavar=("BASE", "STEP"), default=None,
                   help="suppress silence while its probability is <= BASE + STEP*n (speaks more often)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livecc-desk", description="Live commentary on video with LiveCC.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: llama.cpp too)")
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation headless (llama.cpp, a tiny model, capture, voice, Qt) and exit")
    sub = parser.add_subparsers(dest="command")

    c = sub.add_parser("commentate", help="commentate video files (several, or every video in a folder)")
    c.add_argument("videos", nargs="+", type=Path, metavar="VIDEO",
                   help="video files or folders (a folder's videos are taken, not its subfolders)")
    _add_engine_options(c)
    c.add_argument("--start", type=float, default=0.0, help="start at this many seconds")
    c.add_argument("--end", type=float, default=None, help="stop at this many seconds")
    c.add_argument("--srt", type=Path, help="write SubRip subtitles here")
    c.add_argument("--vtt", type=Path, help="write WebVTT subtitles here")
    c.add_argument("--jsonl", type=Path, help="append the transcript here, one JSON object per chunk")
    c.add_argument("--out-dir", type=Path, default=None,
                   help="write NAME.srt, NAME.vtt, NAME.jsonl per video here (default with several videos: "
                        "next to each video)")
    c.add_argument("--formats", default="srt,vtt,jsonl",
                   help="which files to write per video with several videos or --out-dir (default srt,vtt,jsonl)")
    c.add_argument("--export-mp4", action="store_true",
                   help="also write NAME.captioned.mp4: the video with the commentary burned in")
    c.add_argument("--speak", action="store_true",
                   help="add the spoken commentary to the captioned MP4 (implies --export-mp4)")
    c.add_argument("--show-silence", action="store_true", help="print silent chunks as '...'")

    from app.cli_models import add_models_commands

    add_models_commands(sub)

    d = sub.add_parser("demo", help="commentate a generated clip with the tiny model (no download)")
    d.add_argument("--dir", type=Path, default=None, help="where to keep the demo files (default: user cache)")
    return parser


def main(argv: list[str] | None = None) -> int:
    # The GUI's engine child starts with 'spawn'; a frozen (PyInstaller) build needs this first.
    multiprocessing.freeze_support()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        if _no_display():
            print("error: no display found, and the LiveCC Desk window needs one. Run it in a desktop "
                  "session, or use it headless: livecc-desk commentate VIDEO ... (livecc-desk --help).",
                  file=sys.stderr)
            return EXIT_INPUT_ERROR
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
        from app.self_test import run_self_test

        return run_self_test()
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "commentate":
            from app.cli_commentate import run_commentate

            return run_commentate(args)
        if args.command == "models":
            from app.cli_models import run_models

            return run_models(args)
        if args.command == "demo":
            from app.cli_commentate import run_demo

            return run_demo(args)
    except LiveCCError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    parser.error(f"unknown command {args.command}")
    return EXIT_INPUT_ERROR


def _no_display() -> bool:
    """On X11/Wayland systems Qt aborts the process without a display; say so instead."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


if __name__ == "__main__":
    sys.exit(main())
