"""The model panel downloads a catalog entry (from a local hub stand-in) with progress."""

from __future__ import annotations

import json

from tests.hub_server import HubServer


def test_download_from_the_catalog_installs_the_pair(qtbot, tiny_model, tmp_path, monkeypatch):
    from ui.live.model_panel import ModelPanel

    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("LIVECC_DESK_MODELS", str(models))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for var in ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    (models / "catalog.json").write_text(
        json.dumps(
            {
                "models": [
                    {
                        "id": "tiny-hub",
                        "repo": "me/tiny",
                        "model": {"file": "tiny.gguf"},
                        "mmproj": {"file": "mmproj.gguf"},
                    }
                ]
            }
        )
    )
    files = {"tiny.gguf": tiny_model.text_path.read_bytes(), "mmproj.gguf": tiny_model.mmproj_path.read_bytes()}
    with HubServer({"me/tiny": files}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        panel = ModelPanel()
        qtbot.addWidget(panel)
        panel.refresh()
        index = panel.catalog.findData("tiny-hub")
        assert index >= 0
        panel.catalog.setCurrentIndex(index)
        progress = []
        panel.progressed.connect(progress.append)
        with qtbot.waitSignal(panel.downloadEnded, timeout=60_000) as ended:
            panel.get_button.click()
            assert panel.confirm.isVisible() and "tiny-hub" in panel.confirm.destination.text()
            panel.confirm.ok_button.click()
    assert ended.args == ["tiny-hub", ""]
    assert progress and progress[-1].stage in ("download", "hash")
    assert (models / "tiny-hub" / "tiny.gguf").read_bytes() == files["tiny.gguf"]
    assert "installed" in panel.device.text()
    listed = [panel.models.itemData(i) for i in range(panel.models.count())]
    assert any(c is not None and c.catalog_id == "tiny-hub" for c in listed)
