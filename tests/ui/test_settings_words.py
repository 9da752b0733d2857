"""The settings dialog speaks the user's words: plain labels with units, tooltips without engine jargon."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout

from ui.settings_dialog import SettingsDialog


def test_labels_are_plain_words_with_units(qtbot, make_main_window, tiny_settings):
    window = make_main_window(tiny_settings)
    dialog = SettingsDialog(window.settings, [], window)
    qtbot.addWidget(dialog)
    shown = {}
    for key, editor in dialog.editors.items():
        form = editor.parentWidget().layout()
        if isinstance(form, QFormLayout) and form.labelForField(editor) is not None:
            shown[key] = (form.labelForField(editor).text(), editor.toolTip())
    label, tip = shown[("commentary", "max_new_tokens")]
    assert label == "Most words per second (tokens)" and "each second of video" in tip
    for key in (
        ("model", "n_ctx"),
        ("context", "vision_window_s"),
        ("capture", "capture_fps"),
        ("overlay", "fade_after_s"),
        ("overlay", "font_size"),
        ("voice", "volume"),
    ):
        assert "(" in shown[key][0], shown[key]  # a unit or range in brackets
    for label, tip in shown.values():
        assert "KV" not in label + tip and "chunk" not in label + tip, (label, tip)
