"""Clips of marked ranges and the highlights reel: real files from the bundled ffmpeg, decoded back.

Each output frame is identified by the time stamp :mod:`app.sources.synthetic`
draws into the footage, so a clip is checked frame by frame against its range,
its drawings and its captions; a title card is a dark frame with text and no stamp.
"""

from __future__ import annotations

import os
import subprocess
import threading

import numpy as np
import pytest

from app.errors import ExportCancelled, ExportError, OutputError
from app.export.captions import CaptionRenderer, CaptionStyle
from app.export.ffmpeg import ffmpeg_exe, has_audio
from app.review import clips as clips_module
from app.review.clips import (
    CARD_RGB,
    audio_format,
    clip_names,
    export_clips,
    export_reel,
    mark_title,
    ranged_marks,
    title_card,
)
from app.review.drawings import Shape
from app.review.session import Note, ReviewSession
from app.sources.synthetic import read_stamp, write_test_video
from models.engine.records import ChunkDone
from tests.video_files import decoded_frames

STYLE = CaptionStyle(margin=0.15)  # captions above the time stamp strip
BAR = Shape("line", ((0.1, 0.3), (0.9, 0.3)), "blue", 0.05)
FPS = 10


def duration_of(path) -> float:
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    h, m, s = probe.stderr.split("Duration: ")[1].split(",")[0].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def audio_seconds(path, rate=8000) -> float:
    out = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(rate), "pipe:1"],
        capture_output=True,
        check=True,
    ).stdout
    return len(out) / 2 / rate


def is_blue(frame) -> bool:
    h, w = frame.shape[:2]
    r, g, b = frame[round(0.3 * (h - 1)) - 2 : round(0.3 * (h - 1)) + 3, w // 2 - 2 : w // 2 + 3].reshape(-1, 3).mean(0)
    return b > 170 and r < 110 and b - g > 60


def caption_shown(frame, text, position="bottom") -> bool:
    """The caption box of ``text`` is there: bright text pixels on a darkened box."""
    x0, y0, x1, y1 = CaptionRenderer(frame.shape[1], frame.shape[0], STYLE, position).box(text)
    return int((frame[y0:y1, x0:x1] > 220).all(axis=2).sum()) > 30


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    """6 s at 10 fps, 320x240, with a 440 Hz tone."""
    folder = tmp_path_factory.mktemp("clips-footage")
    silent = write_test_video(folder / "silent.mp4", seconds=6, fps=FPS, size=(320, 240))
    out = folder / "match.mp4"
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=6"]
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-i", str(silent), *tone, "-c:v", "copy", "-c:a", "aac", str(out)],
        check=True,
    )
    return out


@pytest.fixture
def review(footage, tmp_path):
    video = tmp_path / "match.mp4"
    video.write_bytes(footage.read_bytes())
    with ReviewSession(video) as review:
        review.add_chunk(ChunkDone(0, 0.0, 6.0, "The ball goes left"))
        review.add_mark(0.5, t_out=2.0, tag="attack", label="Press after kick-off")
        review.add_mark(2.5, tag="defence", label="A point, not a clip")
        review.add_mark(3.5, t_out=4.5, tag="defence", label="Back line")
        review.add_drawing(1.0, [BAR], hold_s=0.5)
        review.add_drawing(3.0, [BAR], hold_s=0.5)  # between the clips: in neither
        yield review


def test_clip_names_are_readable_safe_and_unique():
    marks = [
        Note("n1", 12.4, label="Press after kick-off", tag="attack", t_out=20.0),
        Note("n2", 3725.0, label="Corner / short: ../../etc", tag="set piece", t_out=3730.0),
        Note("n3", 5.0, text="Ñandú con acentos", t_out=6.0),
        Note("n4", 7.0, label="ゴール", t_out=8.0),
    ]
    names = clip_names(marks)
    assert names == [
        "01-0m12s-attack-press-after-kick-off.mp4",
        "02-1h02m05s-set-piece-corner-short-etc.mp4",
        "03-0m05s-nandu-con-acentos.mp4",
        "04-0m07s-clip.mp4",
    ]
    assert clip_names([marks[0]] * 2) == ["01-0m12s-attack-press-after-kick-off.mp4"] * 1 + [
        "02-0m12s-attack-press-after-kick-off.mp4"
    ]
    assert mark_title(marks[0]) == "[attack] Press after kick-off" and mark_title(Note("n", 61.0)) == "Moment at 1:01.0"


def test_each_ranged_mark_becomes_a_clip_with_its_range_captions_drawings_and_sound(review, tmp_path):
    seen = []
    written = export_clips(review, tmp_path / "clips", style=STYLE, progress=lambda f, m: seen.append((f, m)))
    first, second = review.marks("attack")[0], review.marks("defence")[1]
    assert list(written) == [first.id, second.id]
    assert sorted(os.listdir(tmp_path / "clips")) == [
        "01-0m00s-attack-press-after-kick-off.mp4",
        "02-0m03s-defence-back-line.mp4",
    ]
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == 1.0
    assert "Clip 2 of 2: [defence] Back line" in " ".join(m for _, m in seen)
    for mark, span in ((first, 1.5), (second, 1.0)):
        frames = decoded_frames(written[mark.id])
        assert abs(len(frames) - span * FPS) <= 1 and duration_of(written[mark.id]) == pytest.approx(span, abs=0.11)
        stamps = [read_stamp(f) for f in frames]
        assert stamps[0] == pytest.approx(mark.t, abs=1e-3)
        assert [round(t, 1) for t, f in zip(stamps, frames) if is_blue(f)] == (
            [1.0, 1.1, 1.2, 1.3, 1.4] if mark is first else []
        )
        assert all(caption_shown(f, "The ball goes left") for f in frames)
        assert all(caption_shown(f, mark_title(mark), "top") for f in frames)  # the mark's banner
        assert has_audio(written[mark.id]) and audio_seconds(written[mark.id]) == pytest.approx(span, abs=0.1)
    numbered_in_this_export = tmp_path / "clips" / "01-0m03s-defence-back-line.mp4"
    assert export_clips(review, tmp_path / "clips", tag="defence", style=STYLE) == {second.id: numbered_in_this_export}


def test_the_reel_is_title_cards_and_clips_in_one_file_that_plays_through(review, tmp_path):
    out = tmp_path / "reel" / "highlights.mp4"
    result = export_reel(review, out, card_s=1.0, style=STYLE)
    assert result.stream_copied and result.clips == 2 and sorted(os.listdir(out.parent)) == ["highlights.mp4"]
    frames = decoded_frames(out)
    assert len(frames) == result.frames == 10 + 15 + 10 + 10
    assert duration_of(out) == pytest.approx(4.5, abs=0.1) and audio_seconds(out) == pytest.approx(4.5, abs=0.15)
    stamps = [read_stamp(f) for f in frames]
    cards = [frames[i] for i in (*range(0, 10), *range(25, 35))]
    assert all(read_stamp(c) is None and c.mean() < 60 for c in cards)  # dark...
    assert all((c > 200).all(axis=2).sum() > 50 for c in cards)  # ...with white text
    assert np.abs(cards[0][2, 2].astype(int) - CARD_RGB).max() < 12
    assert not np.array_equal(cards[0], cards[10])  # each mark has its own card
    assert stamps[10:25] == pytest.approx([0.5 + i / 10 for i in range(15)], abs=1e-3)
    assert stamps[35:] == pytest.approx([3.5 + i / 10 for i in range(10)], abs=1e-3)
    assert [i for i, f in enumerate(frames) if stamps[i] is not None and is_blue(f)] == [15, 16, 17, 18, 19]
    check = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(out), "-f", "null", "-"], capture_output=True)
    assert check.returncode == 0 and not check.stderr  # decodes without a complaint


def test_pieces_that_differ_are_re_encoded_into_one_reel(review, tmp_path, monkeypatch):
    real = clips_module._streams
    monkeypatch.setattr(clips_module, "_streams", lambda path: [*real(path), ("Other", path.name)])
    result = export_reel(review, tmp_path / "reel.mp4", tag="defence", card_s=0.5, style=STYLE)
    assert not result.stream_copied
    frames = decoded_frames(result.path)
    assert len(frames) == 5 + 10 and [read_stamp(f) for f in frames[5:]] == pytest.approx(
        [3.5 + i / 10 for i in range(10)], abs=1e-3
    )
    assert has_audio(result.path)


def test_a_title_card_is_the_videos_size_dark_and_centred(tmp_path):
    card = title_card(Note("n1", 62.0, label="Corner", tag="set piece", t_out=70.0), 320, 240)
    assert card.shape == (240, 320, 3)
    rows = np.flatnonzero((card > 200).all(axis=2).any(axis=1))
    assert rows.size and abs((rows[0] + rows[-1]) / 2 - 120) < 25


def test_silent_footage_makes_a_silent_reel(tmp_path):
    video = write_test_video(tmp_path / "quiet.mp4", seconds=2, fps=FPS, size=(160, 120))
    with ReviewSession(video) as review:
        review.add_mark(0.2, t_out=1.2, label="Only one")
        result = export_reel(review, tmp_path / "reel.mp4", card_s=0.5)
    assert audio_format(result.path) is None and len(decoded_frames(result.path)) == 5 + 10


@pytest.mark.parametrize("what", ["clips", "reel"])
def test_cancel_leaves_no_file(review, tmp_path, what):
    cancel = threading.Event()
    folder = tmp_path / "out"
    folder.mkdir()

    def progress(fraction, message):
        if fraction > 0.5:  # in the second clip
            cancel.set()

    with pytest.raises(ExportCancelled):
        if what == "clips":
            export_clips(review, folder, progress=progress, cancel=cancel)
        else:
            export_reel(review, folder / "reel.mp4", progress=progress, cancel=cancel)
    assert os.listdir(folder) == []


def test_a_failure_in_the_middle_leaves_no_file(review, tmp_path, monkeypatch):
    import app.export.captioned_video as captioned

    calls = []
    real = captioned.video_encoder

    def second_fails():
        calls.append(1)
        return real() if len(calls) == 1 else ("no-such-encoder", [])

    monkeypatch.setattr(captioned, "video_encoder", second_fails)
    with pytest.raises(ExportError, match="ffmpeg could not encode"):
        export_clips(review, tmp_path / "clips")
    assert os.listdir(tmp_path / "clips") == []


def test_nothing_to_export_and_wrong_targets_are_told_clearly(review, tmp_path):
    with pytest.raises(ExportError, match="No marks tagged 'set piece' with an in and out point"):
        export_clips(review, tmp_path / "clips", tag="set piece")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="it is a file"):
        export_clips(review, tmp_path / "file")
    with pytest.raises(OutputError, match="it is the video being exported"):
        export_reel(review, review.video)
    assert [m.label for m in ranged_marks(review)] == ["Press after kick-off", "Back line"]
    late = review.add_mark(30.0, t_out=40.0, label="After the final whistle")
    with pytest.raises(ExportError, match=r"After the final whistle \(0:30.0–0:40.0\) cannot be cut from match.mp4"):
        export_clips(review, tmp_path / "late", marks=[late])
    review.remove(late.id)
    point = review.marks("defence")[0]
    assert ranged_marks(review, marks=[point.id]) == []
