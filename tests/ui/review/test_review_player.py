"""The review player a coach can live with: sound, caption controls, keys, clear exports (no model).

Sound runs the real path (ffmpeg decoding, miniaudio's device pulling samples in its
own thread) through miniaudio's NULL backend: no sound card needed. The test clip's
tone rises 100 Hz each second (300 Hz in second 0, 400 Hz in second 1, ...), so the
pitch of what was played says which second it came from. Everything is driven
through the real widgets: clicks and key presses, never a signal emitted by hand.
"""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QToolBar

from app.export.captions import CaptionStyle
from app.export.ffmpeg import ffmpeg_exe
from app.review import audio as review_audio
from app.review.session import ReviewSession
from app.sinks.subtitles import parse_srt
from app.sources.synthetic import write_test_video
from models.engine.records import ChunkDone

TONE_SECONDS = 8


def tone_hz(t: float) -> float:
    return 300.0 + 100.0 * int(t)


@pytest.fixture(scope="module")
def tone_clip(tmp_path_factory):
    """A 320x240 clip of TONE_SECONDS s with time stamps in the picture and a rising tone."""
    root = tmp_path_factory.mktemp("tone")
    picture = write_test_video(root / "picture.mp4", seconds=TONE_SECONDS, fps=10, size=(320, 240))
    out = root / "tone.mp4"
    tone = f"aevalsrc=0.5*sin(2*PI*(300+100*floor(t))*t):s=48000:d={TONE_SECONDS}"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(picture), "-f", "lavfi", "-i", tone]
        + ["-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-shortest", str(out)],
        check=True,
    )
    return out


@pytest.fixture
def clip(tmp_path):
    return write_test_video(tmp_path / "match.mp4", seconds=6, fps=10, size=(320, 240))


@pytest.fixture
def null_audio(monkeypatch):
    """Sound through miniaudio's NULL backend: the real device path without a sound card."""
    monkeypatch.setenv(review_audio.BACKEND_ENV, "null")


class Tap:
    """Keeps every block the audio device took, in order."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []

    def __call__(self, block: np.ndarray) -> None:
        self.blocks.append(block.copy())

    def mark(self) -> int:
        return len(self.blocks)

    def since(self, mark: int) -> np.ndarray:
        blocks = self.blocks[mark:]
        return np.concatenate(blocks) if blocks else np.zeros((0, 2), np.int16)


def pitch(samples: np.ndarray) -> float | None:
    """The loudest frequency of the first 0.1 s of sound in ``samples`` (leading silence skipped)."""
    sounding = np.flatnonzero(samples[:, 0])
    if len(sounding) == 0:
        return None
    window = samples[sounding[0] : sounding[0] + review_audio.SAMPLE_RATE // 10, 0].astype(float)
    if len(window) < review_audio.SAMPLE_RATE // 10:
        return None
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    return float(np.argmax(spectrum) * review_audio.SAMPLE_RATE / len(window))


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def choose(qtbot, combo, text: str) -> None:
    """Pick ``text`` in ``combo`` with the keyboard, as a user would."""
    combo.setFocus()
    while combo.currentText() != text:
        index = combo.findText(text)
        assert index >= 0, text
        qtbot.keyClick(combo, Qt.Key.Key_Down if index > combo.currentIndex() else Qt.Key.Key_Up)


def click_menu_item(qtbot, button, text: str) -> None:
    """Open ``button``'s menu and click its item ``text``."""
    menu = button.menu()
    menu.popup(button.mapToGlobal(QPoint(0, button.height())))
    qtbot.waitUntil(menu.isVisible)
    action = next(a for a in menu.actions() if a.text() == text)
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())
    qtbot.waitUntil(lambda: not menu.isVisible())


# -- sound --------------------------------------------------------------------------------------


def newest(tap: Tap, mark: int, seconds: float = 0.1) -> np.ndarray | None:
    """The last ``seconds`` the device took since ``mark``, or ``None`` before there are as many."""
    heard = tap.since(mark)
    frames = round(seconds * review_audio.SAMPLE_RATE)
    return heard[-frames:] if len(heard) >= frames else None


def hears_time(out, tap: Tap, mark: int) -> bool:
    """Whether the newest sound is the tone of the time the output says it plays (or just before)."""
    window, now = newest(tap, mark), out.position()
    if window is None or not window.any():
        return False
    hz = pitch(window)
    return hz is not None and min(abs(hz - tone_hz(now)), abs(hz - tone_hz(max(0.0, now - 0.15)))) <= 15


def test_the_audio_path_plays_the_tone_of_the_time_asked_for(qtbot, tone_clip):
    import miniaudio

    tap = Tap()
    out = review_audio.AudioOutput(tone_clip, backends=[miniaudio.Backend.NULL], tap=tap)
    try:
        assert out.backend == "Null"
        out.play(2.2)
        qtbot.waitUntil(lambda: pitch(tap.since(0)) is not None, timeout=20_000)
        assert pitch(tap.since(0)) == pytest.approx(tone_hz(2.2), abs=15)  # the first sound: from 2.2 s
        mark = tap.mark()
        out.play(5.1)  # a seek: the samples come from the new place (800 Hz, not 500)
        qtbot.waitUntil(lambda: out.position() >= 5.1 and hears_time(out, tap, mark), timeout=20_000)
        full = int(np.abs(newest(tap, mark)).max())
        assert full > 3000
        out.volume = 0.5

        def at_half_volume() -> bool:
            window = newest(tap, mark)
            return abs(int(np.abs(window).max()) - full / 2) < 0.1 * full

        qtbot.waitUntil(at_half_volume, timeout=20_000)
        out.muted = True
        mark = tap.mark()
        qtbot.waitUntil(lambda: newest(tap, mark) is not None and not newest(tap, mark).any(), timeout=20_000)
        out.muted = False
        mark = tap.mark()
        out.play(1.0, rate=0.5)  # slow motion: stretched, the pitch kept
        qtbot.waitUntil(lambda: out.position() >= 1.0 and hears_time(out, tap, mark), timeout=20_000)
        assert out.position() < 1.0 + 0.5 * 5  # half speed
        out.pause()
        mark = tap.mark()
    finally:
        out.close()
    assert tap.mark() == mark  # paused: the device takes nothing more


def test_the_player_plays_the_footage_sound_follows_a_jump_and_mutes(qtbot, review_view, tone_clip, null_audio):
    view = review_view
    assert view.open_video(tone_clip, commentate=False)
    qtbot.waitUntil(lambda: view.mute_button.isEnabled(), timeout=20_000)
    assert view.volume_slider.isEnabled() and view.sound.output.backend == "Null"
    tap = Tap()
    view.sound.output.tap = tap
    click(qtbot, view.play_button)
    qtbot.waitUntil(lambda: pitch(tap.since(0)) is not None, timeout=20_000)
    first = pitch(tap.since(0))
    assert min(abs(first - tone_hz(0)), abs(first - tone_hz(1))) <= 15  # from the start of the clip
    view.setFocus()
    mark = tap.mark()
    qtbot.keyClick(view, Qt.Key.Key_L)  # 5 s forward while playing: the sound follows the picture
    out = view.sound.output
    qtbot.waitUntil(lambda: out.position() >= 5.0 and hears_time(out, tap, mark), timeout=20_000)
    assert abs(out.position() - view.reader.position) < 1.0  # with the picture
    click(qtbot, view.mute_button)
    assert view.mute_button.isChecked() and view.prefs.settings.muted
    mark = tap.mark()
    qtbot.waitUntil(lambda: newest(tap, mark) is not None and not newest(tap, mark).any(), timeout=20_000)
    click(qtbot, view.play_button)  # pause: the device stops taking samples
    qtbot.waitUntil(lambda: not view.sound.output.playing, timeout=5_000)
    click(qtbot, view.mute_button)
    qtbot.keyClick(view, Qt.Key.Key_J)  # back to about 0.5 s
    qtbot.waitUntil(lambda: view.reader.position < 1.0, timeout=10_000)
    choose(qtbot, view.rate, "0.5×")
    click(qtbot, view.play_button)  # slow motion: the sound is stretched, at the picture's time and pitch
    mark = tap.mark()
    qtbot.waitUntil(lambda: out.playing and out.rate == 0.5 and hears_time(out, tap, mark), timeout=20_000)
    assert abs(out.position() - view.reader.position) < 1.0
    # and the view is closed while the sound plays


def test_a_video_without_sound_disables_the_sound_controls(qtbot, review_view, clip, null_audio):
    view = review_view
    assert view.open_video(clip, commentate=False)
    qtbot.waitUntil(lambda: view.sound.state == "none", timeout=20_000)
    assert not view.mute_button.isEnabled() and not view.volume_slider.isEnabled()
    assert "no sound" in view.mute_button.toolTip()


def test_no_audio_device_is_a_one_line_note_not_a_crash(qtbot, review_view, tone_clip, monkeypatch):
    import miniaudio

    def no_device(*args, **kwargs):
        raise miniaudio.MiniaudioError("failed to init device", -401)

    monkeypatch.setattr(miniaudio, "PlaybackDevice", no_device)
    view = review_view
    assert view.open_video(tone_clip, commentate=False)
    qtbot.waitUntil(lambda: view.sound.state == "unavailable", timeout=20_000)
    assert "without sound" in view.status.text() and "\n" not in view.status.text()
    assert not view.mute_button.isEnabled()
    click(qtbot, view.play_button)  # the picture plays on
    qtbot.waitUntil(lambda: view.reader.position > 0.5, timeout=20_000)


# -- captions -----------------------------------------------------------------------------------


def shown_frames(view):
    frames = []
    view.reader.frameShown.connect(lambda image, t, raw: frames.append((image, raw, t)))
    return frames


def caption_rows(image, raw, _t=None) -> np.ndarray:
    """Per row of the picture: how much the shown picture differs from the decoded frame."""
    shown = image.convertToFormat(image.Format.Format_RGB888)
    pixels = np.frombuffer(shown.constBits(), np.uint8).reshape(shown.height(), shown.bytesPerLine())
    pixels = pixels[:, : shown.width() * 3].reshape(shown.height(), shown.width(), 3)
    return np.abs(pixels.astype(int) - raw.astype(int)).mean(axis=(1, 2))


def halves(rows: np.ndarray) -> tuple[float, float]:
    h = len(rows)
    return float(rows[: h // 3].max()), float(rows[2 * h // 3 :].max())


def test_caption_controls_move_shrink_and_hide_the_captions_and_notes(qtbot, review_view, clip):
    with ReviewSession(clip) as session:
        words = "A long pass out to the wing, the full back overlaps and crosses low into the box for the striker"
        session.add_chunk(ChunkDone(0, 0.0, 6.0, words))
    view = review_view
    assert view.open_video(clip, commentate=False)
    frames = shown_frames(view)
    view.seek(2.0)
    qtbot.waitUntil(lambda: bool(frames) and frames[-1][2] == pytest.approx(2.0), timeout=10_000)
    top, bottom = halves(caption_rows(*frames[-1]))
    assert bottom > 10 and top == 0  # the default: commentary at the bottom
    default_rows = int((caption_rows(*frames[-1]) > 0).sum())

    click(qtbot, view.captions_button)
    assert view.caption_bar.isVisible()
    seen = len(frames)
    choose(qtbot, view.caption_place, "Top")
    qtbot.waitUntil(lambda: len(frames) > seen, timeout=10_000)
    top, bottom = halves(caption_rows(*frames[-1]))
    assert top > 10 and bottom == 0

    seen = len(frames)
    choose(qtbot, view.caption_lines, "1 line")
    qtbot.waitUntil(lambda: len(frames) > seen, timeout=10_000)
    one_line = int((caption_rows(*frames[-1]) > 0).sum())
    assert 0 < one_line < default_rows

    seen = len(frames)
    choose(qtbot, view.caption_size, "Large")
    qtbot.waitUntil(lambda: len(frames) > seen, timeout=10_000)
    assert int((caption_rows(*frames[-1]) > 0).sum()) > one_line

    seen = len(frames)
    click(qtbot, view.show_captions)  # hide the commentary
    qtbot.waitUntil(lambda: len(frames) > seen, timeout=10_000)
    assert not caption_rows(*frames[-1]).any()
    assert view.caption_style() == CaptionStyle(
        font=0.065, position="top", max_lines=1, visible=False, notes_visible=True
    )

    seen = len(frames)
    view.note_edit.setFocus()
    qtbot.keyClicks(view.note_edit, "Press higher")
    qtbot.keyClick(view.note_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(frames) > seen, timeout=10_000)
    top, bottom = halves(caption_rows(*frames[-1]))
    assert bottom > 10 and top == 0  # the note takes the edge the commentary left
    seen = len(frames)
    click(qtbot, view.show_notes)
    qtbot.waitUntil(lambda: len(frames) > seen, timeout=10_000)
    assert not caption_rows(*frames[-1]).any()


def test_a_burned_in_export_follows_the_caption_style(qtbot, review_view, clip, tmp_path):
    with ReviewSession(clip) as session:
        session.add_chunk(ChunkDone(0, 0.0, 6.0, "A long pass out to the wing"))
    view = review_view
    assert view.open_video(clip, commentate=False)
    click(qtbot, view.captions_button)
    choose(qtbot, view.caption_place, "Top")
    out = tmp_path / "styled.mp4"
    with qtbot.waitSignal(view.exportFinished, timeout=120_000):
        view.export("mp4", out)
    burned, source = cv2.VideoCapture(str(out)), cv2.VideoCapture(str(clip))
    for cap in (burned, source):
        cap.set(cv2.CAP_PROP_POS_FRAMES, 20)
    ok1, a = burned.read()
    ok2, b = source.read()
    assert ok1 and ok2
    rows = np.abs(a.astype(int) - b.astype(int)).mean(axis=(1, 2))
    top, bottom = halves(rows)
    assert top > 20 and bottom < 6  # the caption at the top; the bottom only has encoding noise


# -- small fixes --------------------------------------------------------------------------------


def test_the_time_and_progress_labels_never_read_past_the_end(qtbot, review_view, clip):
    with ReviewSession(clip) as session:  # a last chunk that ends after the last frame
        session.add_chunk(ChunkDone(0, 0.0, 6.5, "The end"))
    view = review_view
    assert view.open_video(clip, commentate=False)
    duration = view.reader.duration
    assert view.progress_label.text() == f"Commentary {_clock(duration)} / {_clock(duration)}"
    view.reader.duration = 5.5  # a container whose duration is shorter than its last frame's time
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_L)  # to 5 s
    qtbot.waitUntil(lambda: view.reader.position == pytest.approx(5.0, abs=1e-3), timeout=10_000)
    for _ in range(12):
        qtbot.keyClick(view, Qt.Key.Key_Right)  # frame by frame, on to the last one (5.9 s)
    qtbot.waitUntil(lambda: view.reader.position == pytest.approx(5.9, abs=1e-3), timeout=10_000)
    qtbot.waitUntil(lambda: view.time_label.text() == "0:05.5 / 0:05.5", timeout=10_000)


def _clock(t: float) -> str:
    from app.timefmt import clock

    return clock(t)


def test_opening_another_video_clears_the_question_and_answer(qtbot, review_view, clip, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    other = write_test_video(tmp_path / "other.mp4", seconds=3, fps=10, size=(320, 240))
    view = review_view
    assert view.open_video(clip, commentate=False)
    view.answer.setPlainText("Q (0:01.0): Who presses?\nA: The winger.")  # what an answer left
    view.question.setFocus()
    qtbot.keyClicks(view.question, "And then?")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(other), ""))
    click(qtbot, view.open_button)
    assert view.title.text() == "other.mp4"
    assert view.answer.toPlainText() == "" and view.question.text() == ""


def test_j_k_l_keys_and_their_tooltips(qtbot, review_view, clip):
    view = review_view
    assert view.open_video(clip, commentate=False)
    assert "K" in view.play_button.toolTip() and "Space" in view.play_button.toolTip()
    assert "Left" in view.back_button.toolTip() and "J" in view.back_button.toolTip()
    assert "Right" in view.forward_button.toolTip() and "L" in view.forward_button.toolTip()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_L)
    qtbot.waitUntil(lambda: view.reader.position == pytest.approx(5.0, abs=1e-3), timeout=10_000)
    qtbot.keyClick(view, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: view.reader.position == pytest.approx(0.0, abs=1e-3), timeout=10_000)
    qtbot.keyClick(view, Qt.Key.Key_K)
    assert view.reader.playing
    qtbot.keyClick(view, Qt.Key.Key_K)
    assert not view.reader.playing


def test_exports_say_saved_with_show_in_folder_and_subtitles_can_include_qa(
    qtbot, review_view, clip, tmp_path, monkeypatch
):
    from PySide6.QtWidgets import QFileDialog

    import ui.review.player_controls as controls

    with ReviewSession(clip) as session:
        session.add_mark(1.0, tag="attack", label="Overlap")
        session.add_qa(2.0, "Who presses?", "The winger.")
    view = review_view
    assert view.open_video(clip, commentate=False)
    assert not view.folder_button.isVisible()
    target = tmp_path / "out" / "match.srt"
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    click_menu_item(qtbot, view.export_button, "Questions and answers")
    assert view.prefs.settings.subtitles_qa
    click_menu_item(qtbot, view.export_button, "Subtitles (SRT)")
    cues = [c.text for c in parse_srt(target.read_text())]
    assert "Note: [attack] Overlap" in cues and any(c.startswith("Q: Who presses?") for c in cues)
    assert view.status.text() == "Saved: match.srt" and view.folder_button.isVisible()
    opened = []
    monkeypatch.setattr(controls, "open_url", opened.append)
    click(qtbot, view.folder_button)
    assert [u.toLocalFile() for u in opened] == [str(target.parent)]

    click_menu_item(qtbot, view.export_button, "Marks and notes")
    click_menu_item(qtbot, view.export_button, "Questions and answers")
    click_menu_item(qtbot, view.export_button, "Subtitles (SRT)")
    assert parse_srt(target.read_text()) == []  # commentary only, and there is none


# -- the window ---------------------------------------------------------------------------------


def test_review_hides_the_live_toolbar_and_status_line_and_remembers_the_player(qtbot, make_main_window):
    window = make_main_window()
    toolbar = window.findChild(QToolBar, "mainToolbar")
    bar = window.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(1).center())
    assert window.tabs.currentWidget() is window.review_holder
    assert not toolbar.isVisible() and not window.statusBar().isVisible()
    view = window.review
    click(qtbot, view.captions_button)
    choose(qtbot, view.caption_place, "Top")
    choose(qtbot, view.caption_lines, "2 lines")
    qtbot.waitUntil(lambda: window.store.load().settings.review.caption_lines == 2)  # written once it rests
    assert window.store.load().settings.review.caption_position == "top"
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(0).center())
    assert toolbar.isVisible() and window.statusBar().isVisible()
    QApplication.processEvents()


def test_the_timeline_shows_a_long_line_whole_wrapped_to_the_text_column(qtbot, review_view, clip):
    words = "A long pass out to the wing, the full back overlaps and crosses low into the box for the striker"
    with ReviewSession(clip) as session:
        session.add_chunk(ChunkDone(0, 0.0, 3.0, words))
        session.add_chunk(ChunkDone(1, 3.0, 4.0, "Goal."))
    view = review_view
    assert view.open_video(clip, commentate=False)
    timeline = view.timeline
    long_row, short_row = (timeline.visualItemRect(timeline.topLevelItem(i)) for i in (0, 1))
    assert long_row.height() >= 2 * short_row.height()  # wrapped over lines, not cut off
    assert timeline.topLevelItem(0).toolTip(2) == words
