"""Hotkey texts are read the way Qt writes them; bad ones say what is wrong."""

from __future__ import annotations

import pytest

from app.hotkeys import GlobalHotkeys, HotkeyError, KeyCombo, parse_combo


def test_keys_are_read_as_qt_writes_them():
    assert parse_combo("Ctrl+Shift+F8") == KeyCombo("F8", ctrl=True, shift=True)
    assert parse_combo("alt + meta + p") == KeyCombo("P", alt=True, meta=True)
    assert parse_combo("Pause") == KeyCombo("Pause")


@pytest.mark.parametrize("text", ["", "Ctrl+", "Ctrl+Shift", "Hyper+F1", "Ctrl++"])
def test_a_bad_key_says_what_is_wrong(text):
    with pytest.raises(HotkeyError):
        parse_combo(text)


def test_bad_keys_are_problems_not_crashes(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    hotkeys = GlobalHotkeys({"overlay": "Ctrl+Nonsense+F8", "voice": ""}, lambda name: None)
    hotkeys.start()
    assert len(hotkeys.problems) == 1 and "Nonsense" in hotkeys.problems[0]
    assert "voice" not in hotkeys.bindings and not hotkeys.listening
    hotkeys.stop()
