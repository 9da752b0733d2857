"""The Review tab's player settings are kept and range-checked like every other group."""

from __future__ import annotations

import json

from app.settings import ReviewSettings, Settings, SettingsStore


def test_review_settings_round_trip(tmp_path):
    store = SettingsStore(tmp_path)
    chosen = Settings().replace("review", volume=0.3, muted=True, caption_position="top", caption_lines=2)
    store.save(chosen)
    loaded = store.load()
    assert loaded.settings.review == chosen.review and loaded.warnings == ()


def test_bad_review_values_fall_back_to_their_defaults_with_a_warning(tmp_path):
    (tmp_path / "settings.json").write_text(
        json.dumps({"review": {"volume": 3.0, "caption_position": "middle", "caption_lines": 2, "muted": "yes"}})
    )
    loaded = SettingsStore(tmp_path).load()
    review = loaded.settings.review
    default = ReviewSettings()
    assert (review.volume, review.caption_position, review.muted) == (default.volume, "bottom", False)
    assert review.caption_lines == 2
    assert len(loaded.warnings) == 3 and all("review." in w for w in loaded.warnings)
