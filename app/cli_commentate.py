"""The ``commentate`` and ``demo`` subcommands."""

from __future__ import annotations

import sys
from pathlib import Path

from app.commentate import OutputFiles, SubtitleSink, TranscriptSink, stream_file
from app.console import CommentaryPrinter, ProgressBar
from app.errors import VideoOpenError
from app.protocol import DEFAULT_QUERY
from app.records import ChunkDone
from app.sources.file_source import FileSource


def engine_options_from_args(args):
    from models.engine.livecc_engine import EngineOptions
    from models.engine.llama_runtime import RuntimeOptions
    from models.engine.token_sampler import SamplingOptions

    talk = args.talk_more or (None, 0.0)
    return EngineOptions(
        runtime=RuntimeOptions(n_ctx=args.n_ctx, n_gpu_layers=args.n_gpu_layers, n_threads=args.threads),
        sampling=SamplingOptions(
            greedy=args.greedy,
            seed=args.seed if args.seed is not None else 0,
            temperature=args.temperature,
            repetition_penalty=args.repetition_penalty,
            talk_more_base=talk[0],
            talk_more_step=talk[1],
        ),
        max_new_tokens=args.max_new_tokens,
    )


def run_commentate(args) -> int:
    from models.engine.livecc_engine import LiveCCEngine

    if args.end is not None and args.end <= args.start:
        raise VideoOpenError(f"--end ({args.end}) must be after --start ({args.start}).")
    outputs = OutputFiles(jsonl=args.jsonl, srt=args.srt, vtt=args.vtt)
    outputs.check_writable()
    source = FileSource(args.video, start=args.start, end=args.end)
    source.open()  # a missing or unreadable video fails here, before the model loads
    end = args.end if args.end is not None else source.duration_hint
    engine = LiveCCEngine(args.model, args.mmproj, engine_options_from_args(args),
                          query=args.query or DEFAULT_QUERY)
    printer = CommentaryPrinter(show_silence=args.show_silence)
    progress = ProgressBar(args.start, end)
    subtitles = SubtitleSink(args.srt, args.vtt)
    transcript = TranscriptSink(args.jsonl) if args.jsonl else None
    print(f"model: {engine.runtime.pair.name} | {engine.device.describe()}", file=sys.stderr)
    chunks = 0
    try:
        for event in stream_file(engine, source, max_pixels=args.max_pixels):
            printer.handle(event, before_write=progress.clear)
            if transcript:
                transcript.handle(event)
            subtitles.handle(event)
            progress.update(event)
            chunks += isinstance(event, ChunkDone)
    finally:
        progress.clear()
        # Subtitles hold whatever was commentated, also after Ctrl-C or an error.
        subtitles.write()
        if transcript:
            transcript.close()
        engine.close()
    for warning in source.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if chunks == 0:
        raise VideoOpenError(f"{args.video}: no frames to commentate in the chosen time range.")
    return 0


def run_demo(args) -> int:
    """Make the tiny model and a clip, then commentate it: proves the whole path works."""
    from platformdirs import user_cache_dir

    from app.synthetic_video import write_test_video
    from models.tiny_model import make_tiny_model

    from app.cli import build_parser

    folder = Path(args.dir or user_cache_dir("livecc-desk")) / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    tiny = make_tiny_model(folder / "tiny-model")
    clip = folder / "demo-clip.mp4"
    if not clip.exists():
        write_test_video(clip, seconds=8)
    print("LiveCC Desk demo: a generated 8-second clip, commentated by a TINY RANDOM model.\n"
          "The words are noise; everything else (frames, protocol, llama.cpp, subtitles) is real.\n",
          file=sys.stderr)
    cargs = build_parser().parse_args([
        "commentate", str(clip), "--model", str(tiny.text_path), "--mmproj", str(tiny.mmproj_path),
        "--greedy", "--srt", str(folder / "demo-clip.srt"), "--jsonl", str(folder / "demo-clip.jsonl"),
    ])
    (folder / "demo-clip.jsonl").unlink(missing_ok=True)
    rc = run_commentate(cargs)
    print(f"\nSubtitles: {folder / 'demo-clip.srt'}\n"
          "To use the real model, get a LiveCC-7B GGUF and its mmproj (see README.md, 'Getting a model'), then:\n"
          "  livecc-desk commentate VIDEO --model LiveCC-7B-Instruct-Q4_K_M.gguf "
          "--mmproj LiveCC-7B-Instruct-mmproj-f16.gguf --srt out.srt", file=sys.stderr)
    return rc
