"""Tagged marks in the Review tab, driven through the real widgets (offscreen, no model).

The coach picks a tag, presses I and O around a play (keys sent to the view),
sees the range on the strip above the slider in the tag's colour and on the
timeline with its tag, filters by tag, edits the mark in its dialog, and finds
it all again after reopening the video.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from app.review.session import Note, ReviewSession
from app.sources.synthetic import read_stamp, write_test_video
from ui.review.marks import ALL_TAGS, NO_TAG, MarkDialog, tag_colour


@pytest.fixture
def clip(tmp_path):
    return write_test_video(tmp_path / "match.mp4", seconds=4, fps=10, size=(320, 240))


def go_to(qtbot, view, t):
    view.seek(t)
    qtbot.waitUntil(lambda: view.reader.position == pytest.approx(t, abs=1e-3), timeout=10_000)
    assert read_stamp(view.reader.current_frame) == pytest.approx(t, abs=1e-3)


def strip_colour_at(view, t):
    image = view.mark_strip.grab().toImage()
    return image.pixelColor(round(view.mark_strip.x_of(t)), view.mark_strip.height() // 2).name()


def test_i_and_o_mark_a_tagged_range_shown_on_the_strip_and_the_timeline(qtbot, review_view, clip):
    view = review_view
    assert view.open_video(clip, commentate=False)
    view.tag_bar.tag.setCurrentText("attack")
    view.setFocus()
    go_to(qtbot, view, 1.0)
    qtbot.keyClick(view, Qt.Key.Key_I)
    go_to(qtbot, view, 2.5)
    qtbot.keyClick(view, Qt.Key.Key_O)
    go_to(qtbot, view, 3.5)
    view.tag_bar.tag.setCurrentText(NO_TAG)
    qtbot.keyClick(view, Qt.Key.Key_M)

    attack, point = view.session.marks()
    assert (attack.t, attack.t_out, attack.tag) == (1.0, 2.5, "attack")
    assert (point.t, point.t_out, point.tag) == (3.5, None, "")
    row = view.timeline.topLevelItem(view.timeline.index_of(attack.id))
    assert row.text(1) == "attack" and row.text(2).startswith("0:01.0–0:02.5")

    assert strip_colour_at(view, 1.75) == QColor(tag_colour("attack")).name()  # inside the range
    assert strip_colour_at(view, 3.0) != QColor(tag_colour("attack")).name()  # between the marks
    qtbot.mouseClick(view.mark_strip, Qt.MouseButton.LeftButton, pos=QPoint(round(view.mark_strip.x_of(2.0)), 5))
    qtbot.waitUntil(lambda: view.reader.position == pytest.approx(1.0, abs=1e-3), timeout=10_000)

    view.tag_bar.filter.setCurrentText("attack")
    assert view.timeline.visible_ids() == [attack.id]
    assert [m.id for m in view.mark_strip.marks] == [attack.id]
    view.tag_bar.filter.setCurrentText(NO_TAG)
    assert view.timeline.visible_ids() == [point.id]
    view.tag_bar.filter.setCurrentText(ALL_TAGS)
    assert view.timeline.visible_ids() == [attack.id, point.id]

    view.close_video()
    with ReviewSession(clip) as saved:
        assert saved.marks() == [attack, point]
    assert view.open_video(clip, commentate=False)
    assert [m.id for m in view.mark_strip.marks] == [attack.id, point.id]
    assert view.timeline.row_ids() == [attack.id, point.id]


def test_o_without_i_gives_the_last_mark_its_out_point(qtbot, review_view, clip):
    view = review_view
    view.open_video(clip, commentate=False)
    go_to(qtbot, view, 0.5)
    view.mark_button.click()
    go_to(qtbot, view, 2.0)
    view.set_out_point()
    (mark,) = view.session.marks()
    assert (mark.t, mark.end) == (0.5, 2.0)


def test_a_mark_is_edited_in_its_dialog_and_deleted(qtbot, review_view, clip):
    view = review_view
    view.open_video(clip, commentate=False)
    go_to(qtbot, view, 1.0)
    view.mark_button.click()
    (mark,) = view.session.marks()

    def fill():
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, MarkDialog)
        dialog.label.setText("Overload on the left")
        dialog.tag.setCurrentText("set piece")
        dialog.ranged.click()
        dialog.t_out.setValue(3.0)
        dialog.accept()

    QTimer.singleShot(0, fill)
    row = view.timeline.topLevelItem(view.timeline.index_of(mark.id))
    view.timeline.itemDoubleClicked.emit(row, 0)
    edited = view.session.get(mark.id)
    assert edited == Note(mark.id, 1.0, "", "Overload on the left", "set piece", 3.0)
    assert "Overload on the left" in view.timeline.topLevelItem(view.timeline.index_of(mark.id)).text(2)
    assert view.mark_strip.marks == [edited]

    view.timeline.setCurrentItem(view.timeline.topLevelItem(view.timeline.index_of(mark.id)))
    view.delete_button.click()
    assert view.session.marks() == [] and view.mark_strip.marks == [] and view.timeline.row_ids() == []


def test_the_tag_list_is_edited_and_offered_for_new_marks(qtbot, review_view, clip, monkeypatch):
    view = review_view
    view.open_video(clip, commentate=False)
    monkeypatch.setattr(
        "ui.review.mark_actions.QInputDialog.getText", lambda *a, **k: ("pressing, counter , pressing", True)
    )
    view.tag_bar.edit_button.click()
    assert view.session.tags == ["pressing", "counter"]
    tags = [view.tag_bar.tag.itemText(i) for i in range(view.tag_bar.tag.count())]
    assert tags == [NO_TAG, "pressing", "counter"]
    view.close_video()
    with ReviewSession(clip) as saved:
        assert saved.tags == ["pressing", "counter"]


def test_a_review_prepared_on_the_command_line_opens_with_its_marks(qtbot, review_view, clip):
    from app.cli.main import main

    assert main(["review", str(clip), "--mark", "0.5-2:attack:Overload left", "--mark", "3:pressing:Trap"]) == 0
    view = review_view
    assert view.open_video(clip, commentate=False)
    first, second = view.session.marks()
    assert (first.t, first.t_out, first.tag, first.label) == (0.5, 2.0, "attack", "Overload left")
    assert view.timeline.row_ids() == [first.id, second.id]
    assert "Overload left" in view.timeline.topLevelItem(0).text(2)
    assert [m.id for m in view.mark_strip.marks] == [first.id, second.id]
    assert strip_colour_at(view, 1.2) == QColor(tag_colour("attack")).name()
    filters = [view.tag_bar.filter.itemText(i) for i in range(view.tag_bar.filter.count())]
    assert "pressing" in filters  # a tag in use is offered even though it is not in the list
    view.tag_bar.filter.setCurrentText("pressing")
    assert view.timeline.visible_ids() == [second.id]


def test_the_report_is_exported_from_the_review_tab(qtbot, review_view, clip, tmp_path):
    view = review_view
    view.open_video(clip, commentate=False)
    go_to(qtbot, view, 1.0)
    view.tag_bar.tag.setCurrentText("defence")
    view.mark_button.click()
    assert "Report to hand out (HTML)" in [a.text() for a in view.export_button.menu().actions()]
    with qtbot.waitSignal(view.exportFinished):
        view.export("html", tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    assert "defence" in page and page.count("data:image/jpeg;base64,") == 1


def test_a_review_commentated_and_questioned_on_the_command_line_opens_complete(qtbot, review_view, clip, tiny_model):
    from app.cli.main import main

    model = ["--model", str(tiny_model.text_path), "--mmproj", str(tiny_model.mmproj_path), "--greedy"]
    assert main(["review", str(clip), *model, "--max-new-tokens", "4", "--ask", "2:What moves?"]) == 0
    view = review_view
    assert view.open_video(clip)  # no model in this window: nothing to commentate, and nothing needed
    assert view.commentary_complete and view.progress.value() == 1000
    (qa,) = [i for i in view.session.items() if type(i).__name__ == "QA"]
    assert qa.id in view.timeline.row_ids() and qa.question == "What moves?"
