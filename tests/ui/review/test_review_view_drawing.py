"""Drawing on the paused picture in the Review tab, through the real widgets (offscreen, no model).

The coach picks a tool on the drawing bar and drags on the picture (which is
letterboxed: the 4:3 clip sits between black bars in a wider widget); the
shape is saved in the review journal in fractions of the frame, burned into
the picture the player shows from its moment for its hold time, listed on the
timeline and removable with Undo, Clear or Delete. A journal written without
the GUI (as the command line writes it) opens with its drawings.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog

from app.review.drawings import COLOURS, Shape
from app.review.session import ReviewSession
from app.sources.synthetic import read_stamp, write_test_video
from ui.review.drawing_canvas import to_widget


@pytest.fixture
def clip(tmp_path):
    return write_test_video(tmp_path / "match.mp4", seconds=6, fps=10, size=(320, 240))


def go_to(qtbot, view, t):
    view.seek(t)
    qtbot.waitUntil(lambda: view.reader.position == pytest.approx(t, abs=1e-3), timeout=10_000)
    qtbot.waitUntil(lambda: view.frame.image is not None and read_stamp(shown(view)) == pytest.approx(t, abs=1e-3))


def shown(view) -> np.ndarray:
    """The picture the player shows now (display size, RGB, drawings and captions burned in)."""
    image = view.frame.image.convertToFormat(view.frame.image.Format.Format_RGB888)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return pixels[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def pixel(frame: np.ndarray, point) -> np.ndarray:
    h, w = frame.shape[:2]
    return frame[min(h - 1, round(point[1] * h)), min(w - 1, round(point[0] * w))].astype(int)


def is_colour(rgb, name: str) -> bool:
    return bool(np.abs(np.asarray(rgb, int) - np.array(COLOURS[name])).max() <= 40)


def widget_point(view, fraction) -> QPoint:
    return to_widget(view.frame.picture_rect(), fraction).toPoint()


def drag(qtbot, view, start, end, via=()):
    """Press at ``start``, move through ``via`` to ``end`` and release (frame fractions)."""
    qtbot.mousePress(view.frame, Qt.MouseButton.LeftButton, pos=widget_point(view, start))
    for point in (*via, end):
        qtbot.mouseMove(view.frame, widget_point(view, point))
    qtbot.mouseRelease(view.frame, Qt.MouseButton.LeftButton, pos=widget_point(view, end))


def choose(qtbot, view, tool=None, colour=None):
    if tool is not None:
        qtbot.mouseClick(view.drawing_bar.tools[tool], Qt.MouseButton.LeftButton)
    if colour is not None:
        qtbot.mouseClick(view.drawing_bar.colours[colour], Qt.MouseButton.LeftButton)


def test_an_arrow_is_saved_in_frame_fractions_shown_for_its_hold_time(qtbot, review_view, clip):
    view = review_view
    assert view.open_video(clip, commentate=False)
    go_to(qtbot, view, 1.0)
    rect = view.frame.picture_rect()
    assert rect.x() > 50 and rect.y() == 0  # letterboxed: black bars left and right

    view.drawing_bar.hold.setValue(2.0)
    choose(qtbot, view, "arrow", "yellow")
    drag(qtbot, view, (0.2, 0.5), (0.8, 0.5), via=[(0.5, 0.45)])

    (drawing,) = view.session.drawings()
    (arrow,) = drawing.shapes
    assert (drawing.t, drawing.hold_s, arrow.kind, arrow.colour) == (1.0, 2.0, "arrow", "yellow")
    one_pixel = 1.5 / rect.height()
    assert np.allclose(arrow.points, [(0.2, 0.5), (0.8, 0.5)], atol=one_pixel)
    assert drawing.id in view.timeline.row_ids()
    assert view.mark_strip.drawing_times == [1.0]

    middle = (0.5, 0.5)
    qtbot.waitUntil(lambda: is_colour(pixel(shown(view), middle), "yellow"))  # burned into the picture
    assert not is_colour(pixel(view.reader.current_frame, middle), "yellow")  # not into the footage
    on_screen = view.frame.grab().toImage().pixelColor(widget_point(view, middle))
    assert is_colour(on_screen.getRgb()[:3], "yellow")  # where the coach drew it

    go_to(qtbot, view, 2.5)  # within the hold time
    assert is_colour(pixel(shown(view), middle), "yellow")
    go_to(qtbot, view, 3.5)  # after it
    assert np.array_equal(shown(view)[60:200], view.reader.current_frame[60:200])
    go_to(qtbot, view, 0.5)  # and before its moment
    assert np.array_equal(shown(view)[60:200], view.reader.current_frame[60:200])

    view.close_video()
    with ReviewSession(clip) as saved:
        assert saved.drawings() == [drawing]


def test_drawing_pauses_playback_and_clicks_on_the_black_bars_draw_nothing(qtbot, review_view, clip):
    view = review_view
    view.open_video(clip, commentate=False)
    go_to(qtbot, view, 0.5)
    choose(qtbot, view, "line")
    qtbot.mouseClick(view.frame, Qt.MouseButton.LeftButton, pos=QPoint(5, view.frame.height() // 2))
    assert view.session.drawings() == []

    view.play_button.click()
    qtbot.waitUntil(lambda: view.reader.position > 1.0)
    qtbot.mousePress(view.frame, Qt.MouseButton.LeftButton, pos=widget_point(view, (0.3, 0.3)))
    assert not view.reader.playing and view.play_button.text() == "Play"
    qtbot.mouseMove(view.frame, widget_point(view, (0.6, 0.2)))
    qtbot.mouseRelease(view.frame, Qt.MouseButton.LeftButton, pos=widget_point(view, (0.6, 0.2)))
    (drawing,) = view.session.drawings()
    assert drawing.t == pytest.approx(view.reader.position) and drawing.shapes[0].kind == "line"

    choose(qtbot, view, "line")  # the chosen tool clicked again: put down
    assert view.frame.tool is None
    drag(qtbot, view, (0.3, 0.6), (0.6, 0.6))
    assert len(view.session.drawings()[0].shapes) == 1


def test_shapes_add_up_at_one_moment_and_undo_and_clear_take_them_back(qtbot, review_view, clip):
    view = review_view
    view.open_video(clip, commentate=False)
    go_to(qtbot, view, 2.0)
    choose(qtbot, view, "ellipse", "blue")
    drag(qtbot, view, (0.3, 0.3), (0.5, 0.6))
    choose(qtbot, view, "freehand", "white")
    drag(qtbot, view, (0.6, 0.2), (0.9, 0.3), via=[(0.7, 0.35), (0.8, 0.2)])

    def fill_text():
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QInputDialog)
        dialog.setTextValue("Press here")
        dialog.accept()

    choose(qtbot, view, "text", "black")
    QTimer.singleShot(0, fill_text)
    qtbot.mouseClick(view.frame, Qt.MouseButton.LeftButton, pos=widget_point(view, (0.1, 0.2)))

    (drawing,) = view.session.drawings()
    kinds = [(s.kind, s.colour) for s in drawing.shapes]
    assert kinds == [("ellipse", "blue"), ("freehand", "white"), ("text", "black")]
    assert len(drawing.shapes[1].points) >= 4 and drawing.shapes[2].text == "Press here"
    row = view.timeline.topLevelItem(view.timeline.index_of(drawing.id))
    assert row.text(1) == "Drawing" and "Press here" in row.text(2)

    qtbot.mouseClick(view.drawing_bar.undo_button, Qt.MouseButton.LeftButton)
    assert [s.kind for s in view.session.drawings()[0].shapes] == ["ellipse", "freehand"]
    qtbot.mouseClick(view.drawing_bar.clear_button, Qt.MouseButton.LeftButton)
    assert view.session.drawings() == [] and drawing.id not in view.timeline.row_ids()
    qtbot.waitUntil(lambda: np.array_equal(shown(view)[:200], view.reader.current_frame[:200]))

    go_to(qtbot, view, 3.0)  # another moment: another drawing
    choose(qtbot, view, "arrow")
    drag(qtbot, view, (0.2, 0.2), (0.4, 0.4))
    (other,) = view.session.drawings()
    view.timeline.setCurrentItem(view.timeline.topLevelItem(view.timeline.index_of(other.id)))
    qtbot.mouseClick(view.delete_button, Qt.MouseButton.LeftButton)
    assert view.session.drawings() == [] and view.mark_strip.drawing_times == []


def test_a_review_written_without_the_gui_opens_with_its_drawings_marks_and_answers(qtbot, review_view, clip):
    with ReviewSession(clip) as session:  # as `livecc-desk review` writes it
        mark = session.add_mark(0.5, t_out=2.0, tag="attack", label="Overload left")
        qa = session.add_qa(1.5, "Who is free?", "The left back.")
        drawing = session.add_drawing(1.0, (Shape("ellipse", ((0.3, 0.3), (0.7, 0.7)), colour="red"),), hold_s=1.5)
    view = review_view
    assert view.open_video(clip, commentate=False)
    assert {mark.id, qa.id, drawing.id} <= set(view.timeline.row_ids())
    assert view.mark_strip.drawing_times == [1.0]
    go_to(qtbot, view, 1.2)
    assert is_colour(pixel(shown(view), (0.3, 0.5)), "red")  # the ellipse's left edge
    go_to(qtbot, view, 2.8)
    assert not is_colour(pixel(shown(view), (0.3, 0.5)), "red")


def test_the_hold_time_is_a_saved_setting_and_applies_to_the_drawing_here(qtbot, review_view, clip, tmp_path):
    from app.settings import ReviewSettings, Settings, SettingsStore

    view = review_view
    changed = []
    view.prefs.changed.connect(changed.append)
    view.apply_review_settings(ReviewSettings(drawing_hold_s=5.0))
    assert view.drawing_bar.hold.value() == 5.0 and not changed
    view.open_video(clip, commentate=False)
    go_to(qtbot, view, 1.0)
    choose(qtbot, view, "line")
    drag(qtbot, view, (0.2, 0.2), (0.8, 0.8))
    assert view.session.drawings()[0].hold_s == 5.0

    view.drawing_bar.hold.setFocus()
    view.drawing_bar.hold.selectAll()
    qtbot.keyClicks(view.drawing_bar.hold, "1.5")
    assert view.session.drawings()[0].hold_s == 5.0  # nothing is saved while typing
    qtbot.keyClick(view.drawing_bar.hold, Qt.Key.Key_Return)
    assert view.session.drawings()[0].hold_s == 1.5  # the drawing at this moment follows
    assert changed[-1].drawing_hold_s == 1.5  # and the window saves it

    store = SettingsStore(tmp_path / "config")
    store.save(Settings())
    data = store.path.read_text().replace('"drawing_hold_s": 3.0', '"drawing_hold_s": 1000')
    store.path.write_text(data)
    loaded = store.load()
    assert loaded.settings.review.drawing_hold_s == 3.0
    assert any("review.drawing_hold_s" in w for w in loaded.warnings)


def test_a_drawing_line_on_the_timeline_seeks_and_edits_its_hold_time(qtbot, review_view, clip):
    view = review_view
    view.open_video(clip, commentate=False)
    go_to(qtbot, view, 2.0)
    choose(qtbot, view, "arrow")
    drag(qtbot, view, (0.2, 0.2), (0.6, 0.6))
    (drawing,) = view.session.drawings()
    go_to(qtbot, view, 4.0)
    row = view.timeline.topLevelItem(view.timeline.index_of(drawing.id))
    view.timeline.itemClicked.emit(row, 2)
    qtbot.waitUntil(lambda: view.reader.position == pytest.approx(2.0, abs=1e-3))

    def fill_hold():
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QInputDialog)
        dialog.setDoubleValue(0.5)
        dialog.accept()

    QTimer.singleShot(0, fill_hold)
    view.timeline.itemDoubleClicked.emit(row, 2)
    assert view.session.get(drawing.id).hold_s == 0.5
    assert "0.5 s" in view.timeline.topLevelItem(view.timeline.index_of(drawing.id)).text(2)

    view.activateWindow()  # back from the dialog
    view.setFocus()
    qtbot.waitUntil(view.isActiveWindow)
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo: its only shape
    assert view.session.drawings() == []


def test_bars_above_and_below_the_picture_are_allowed_for_too(qtbot, review_view, clip):
    view = review_view
    view.resize(760, 1000)  # a tall window: the picture sits between bars above and below
    view.open_video(clip, commentate=False)
    go_to(qtbot, view, 1.0)
    qtbot.waitUntil(lambda: view.frame.picture_rect().y() > 20)
    choose(qtbot, view, "line", "white")
    drag(qtbot, view, (0.1, 0.3), (0.9, 0.7))
    (line,) = view.session.drawings()[0].shapes
    assert np.allclose(line.points, [(0.1, 0.3), (0.9, 0.7)], atol=1.5 / view.frame.picture_rect().width())
    qtbot.waitUntil(lambda: is_colour(pixel(shown(view), (0.5, 0.5)), "white"))
    on_screen = view.frame.grab().toImage().pixelColor(widget_point(view, (0.5, 0.5)))
    assert is_colour(on_screen.getRgb()[:3], "white")
