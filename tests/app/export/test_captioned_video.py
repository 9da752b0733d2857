"""Captioned MP4 export: real OpenCV decoding, real Pillow captions, the real bundled ffmpeg.

Captions are found by comparing each exported frame with the same frame of the
source inside the caption box: a caption changes those pixels a lot, its
absence leaves them as they were (up to codec noise). Frames are identified by
the time stamp that :mod:`app.sources.synthetic` draws into them; the caption
style keeps the box above that stamp.
"""

from __future__ import annotations

import os
import subprocess
import threading

import cv2
import numpy as np
import pytest

from app.errors import ExportCancelled, ExportError, OutputError
from app.export.captioned_video import export_captioned_video
from app.export.captions import CaptionRenderer, CaptionStyle, CaptionTrack, wrap_to_width
from app.export.ffmpeg import ffmpeg_exe, has_audio
from app.export.speech_track import Placement, find_synthesizer, mix, place_phrases
from app.sinks.subtitles import Cue
from app.sources.file_source import FileSource
from app.sources.synthetic import frame_times, read_stamp, write_test_video

STYLE = CaptionStyle(margin=0.15)  # above the time stamp strip (the bottom 12 %)
CUES = [Cue(0.5, 1.5, "The ball goes left"), Cue(2.0, 3.2, "Mbappé scores — what a goal!")]
NOTES = [Cue(1.0, 2.5, "Note: back line too high")]


def decode(path):
    """Every frame (RGB) and the container's fps."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames, fps


def source_frames(path):
    with FileSource(path) as source:
        return {round(f.t, 3): f.rgb for f in source.frames()}


def box_change(out, ref, box):
    """Mean absolute difference of two frames inside ``box`` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    return float(np.abs(out[y0:y1, x0:x1].astype(np.int16) - ref[y0:y1, x0:x1].astype(np.int16)).mean())


def duration_of(path):
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    h, m, s = probe.stderr.split("Duration: ")[1].split(",")[0].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def pcm(path, rate=8000):
    """The audio of ``path`` as mono float samples at ``rate``."""
    out = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(rate), "pipe:1"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(out, np.int16).astype(np.float32) / 32768


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_test_video(tmp_path_factory.mktemp("export") / "clip.mp4", seconds=4, fps=10, size=(320, 240))


@pytest.fixture(scope="module")
def clip_with_audio(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("export-audio") / "with-audio.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-i",
            str(clip),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100:duration=4",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            str(out),
        ],
        check=True,
    )
    return out


def test_captions_appear_exactly_during_their_cues(clip, tmp_path):
    out = tmp_path / "out.mp4"
    seen = []
    result = export_captioned_video(clip, out, CUES, notes=NOTES, style=STYLE, progress=lambda f, m: seen.append(f))
    frames, fps = decode(out)
    assert (result.frames, len(frames), fps, result.audio) == (40, 40, 10.0, "none")
    assert duration_of(out) == pytest.approx(4.0, abs=0.05)
    assert seen[-1] == 1.0 and seen == sorted(seen)
    refs = source_frames(clip)
    bottom, top = CaptionRenderer(320, 240, STYLE), CaptionRenderer(320, 240, STYLE, "top")
    for i, frame in enumerate(frames):
        t = i / 10
        assert read_stamp(frame) == pytest.approx(t, abs=1e-3)  # frame i is the source's frame i
        ref = refs[round(t, 3)]
        for cues, renderer in ((CUES, bottom), (NOTES, top)):
            for cue in cues:
                change = box_change(frame, ref, renderer.box(cue.text))
                if cue.start <= t < cue.end:
                    assert change > 25, (t, cue.text, change)
                elif not any(c.start <= t < c.end for c in cues):
                    assert change < 6, (t, cue.text, change)


def test_chunk_records_become_cues(clip, tmp_path):
    from models.engine.records import ChunkDone

    chunks = [ChunkDone(0, 0.0, 3.0, ""), ChunkDone(1, 3.0, 4.0, "Corner kick.")]
    out = tmp_path / "chunks.mp4"
    export_captioned_video(clip, out, chunks, style=STYLE)
    frames, _ = decode(out)
    refs = source_frames(clip)
    box = CaptionRenderer(320, 240, STYLE).box("Corner kick.")
    assert box_change(frames[35], refs[3.5], box) > 25
    assert box_change(frames[25], refs[2.5], box) < 6


def test_a_span_of_the_video(clip, tmp_path):
    out = tmp_path / "span.mp4"
    result = export_captioned_video(clip, out, CUES, start=1.0, end=3.0, style=STYLE)
    frames, _ = decode(out)
    assert result.frames == len(frames) == 20
    assert [read_stamp(f) for f in frames] == pytest.approx([1.0 + i / 10 for i in range(20)], abs=1e-3)
    refs = source_frames(clip)
    box = CaptionRenderer(320, 240, STYLE).box(CUES[1].text)
    assert box_change(frames[12], refs[2.2], box) > 25  # source 2.2 s: in the second cue
    assert box_change(frames[7], refs[1.7], box) < 6  # source 1.7 s: between cues


def test_variable_frame_rate_keeps_timing(tmp_path):
    clip = write_test_video(tmp_path / "vfr.mkv", seconds=4, fps=10, size=(320, 240), variable_fps=True)
    times = frame_times(4, 10, True)
    out = tmp_path / "vfr.mp4"
    result = export_captioned_video(clip, out, [], style=STYLE)
    frames, fps = decode(out)
    assert fps == 10.0 and len(frames) == result.frames == round(times[-1] * 10) + 1
    for i, frame in enumerate(frames):  # each output frame shows the newest source frame at its time
        assert read_stamp(frame) == pytest.approx(max(t for t in times if t <= i / 10 + 1e-6), abs=1e-3)


def test_odd_frame_size_is_cropped_to_even(tmp_path):
    clip = write_test_video(tmp_path / "odd.avi", seconds=1, fps=10, size=(321, 241))
    result = export_captioned_video(clip, tmp_path / "odd.mp4", CUES)
    frames, _ = decode(result.path)
    assert frames[0].shape == (240, 320, 3) and len(frames) == 10


def test_source_audio_is_kept(clip_with_audio, tmp_path):
    out = tmp_path / "audio.mp4"
    assert export_captioned_video(clip_with_audio, out, CUES).audio == "source"
    samples = pcm(out)
    assert has_audio(out) and len(samples) / 8000 == pytest.approx(4.0, abs=0.1)
    assert np.sqrt(np.mean(samples**2)) == pytest.approx(np.sqrt(np.mean(pcm(clip_with_audio) ** 2)), rel=0.1)


@pytest.fixture(scope="module")
def synthesizer():
    try:
        return find_synthesizer()
    except Exception as exc:
        pytest.skip(f"no speech synthesiser here: {exc}")


def test_spoken_commentary_starts_at_its_cues(clip, tmp_path, synthesizer):
    out = tmp_path / "spoken.mp4"
    result = export_captioned_video(clip, out, CUES, speech=True, synthesizer=synthesizer)
    assert result.audio == "speech" and decode(out)[0].__len__() == 40
    samples = pcm(out)
    assert len(samples) / 8000 == pytest.approx(4.0, abs=0.1)
    loud = np.flatnonzero(np.abs(samples) > 0.02)
    assert loud.size and 0.45 <= loud[0] / 8000 <= 0.7  # the first phrase begins at its cue (0.5 s)


def test_speech_mixed_over_source_audio(clip_with_audio, tmp_path, synthesizer):
    out = tmp_path / "mixed.mp4"
    result = export_captioned_video(clip_with_audio, out, CUES, speech=True, synthesizer=synthesizer)
    assert result.audio == "source+speech"
    rms = lambda x: float(np.sqrt(np.mean(x[: int(0.4 * 8000)] ** 2)))  # noqa: E731  before any cue
    ratio = rms(pcm(out)) / rms(pcm(clip_with_audio))
    assert ratio == pytest.approx(0.35, abs=0.08)  # the game's sound, turned down under the voice


def test_cancel_removes_everything(clip, tmp_path):
    cancel = threading.Event()

    def progress(fraction, message):
        if fraction > 0.0:
            cancel.set()

    out = tmp_path / "cancelled.mp4"
    with pytest.raises(ExportCancelled):
        export_captioned_video(clip, out, CUES, progress=progress, cancel=cancel)
    assert os.listdir(tmp_path) == []


def test_ffmpeg_failure_is_reported_and_cleaned_up(clip, tmp_path, monkeypatch):
    import app.export.captioned_video as export_video

    monkeypatch.setattr(export_video, "video_encoder", lambda: ("no-such-encoder", []))
    with pytest.raises(ExportError, match="ffmpeg could not encode failed.mp4"):
        export_captioned_video(clip, tmp_path / "failed.mp4", CUES)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("case", ["missing folder", "folder", "the source"])
def test_unwritable_outputs_fail_before_work(clip, tmp_path, case):
    target = {"missing folder": tmp_path / "nope" / "out.mp4", "folder": tmp_path, "the source": clip}[case]
    with pytest.raises(OutputError) as info:
        export_captioned_video(clip, target, CUES)
    assert str(target) in str(info.value)


def test_a_full_disk_is_reported_before_encoding(clip, tiny_disk):
    with pytest.raises(OutputError, match="disk is full"):
        export_captioned_video(clip, tiny_disk / "big.mp4", CUES)
    assert os.listdir(tiny_disk) == []


# -- the pieces --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["espeak-ng program", "pyttsx3"])
def test_each_synthesizer_writes_a_phrase(tmp_path, kind):
    import shutil

    from app.export.speech_track import EspeakCli, Pyttsx3Synth, read_audio

    if kind == "pyttsx3":
        pytest.importorskip("pyttsx3")
        try:
            synth = Pyttsx3Synth()
        except Exception as exc:  # no driver (no libespeak-ng) on this machine
            pytest.skip(f"pyttsx3 has no working driver here: {exc}")
    else:
        exe = shutil.which("espeak-ng")
        if exe is None:
            pytest.skip("espeak-ng is not installed")
        synth = EspeakCli(exe)
    synth.synthesize("The keeper comes out and punches it clear.", tmp_path / "phrase.wav")
    samples, rate = read_audio(tmp_path / "phrase.wav")
    assert 1.0 < samples.size / rate < 6.0 and np.abs(samples).max() > 0.1


def test_caption_track_stacks_overlaps_and_shifts():
    track = CaptionTrack([Cue(1.0, 2.0, "a"), Cue(1.5, 5.0, "b"), Cue(6.0, 7.0, "c")])
    assert [track.text_at(t) for t in (0.5, 1.0, 1.7, 2.0, 5.5, 6.5)] == ["", "a", "a\n\nb", "b", "", "c"]
    shifted = track.shifted(1.6)
    assert [shifted.text_at(t) for t in (0.0, 0.5, 4.5)] == ["a\n\nb", "b", "c"]


def test_wrapping_keeps_fitting_lines_and_rewraps_the_rest():
    fits = lambda s: len(s) <= 10  # noqa: E731
    assert wrap_to_width("short\nlines", fits) == ["short", "lines"]
    assert wrap_to_width("one two three four", fits) == ["one two", "three four"]
    assert wrap_to_width("a\n\nb", fits) == ["a", "b"]


def test_phrase_placement_waits_then_cuts():
    # second phrase waits for the first; the third would be 2 s late, so the second is cut
    placed = place_phrases([0.0, 1.0, 1.5, 9.5], [2.0, 2.0, 1.0, 2.0], max_delay=1.0, duration=10.0)
    assert placed == [Placement(0.0, 2.0), Placement(2.0, 0.5), Placement(2.5, 1.0), Placement(9.5, 0.5)]
    track = mix([np.ones(20, np.float32)] * 2, [Placement(0.0, 1.0), Placement(1.0, 1.0)], rate=10, duration=3.0)
    assert track.shape == (30,) and track[:9].min() > 0 and track[20:].max() == 0
    assert track[9] < 1.0  # cut phrases fade out instead of clicking
