"""Fixtures of the Review tab's GUI tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def review_view(qtbot, tmp_path):
    """A shown ReviewView without a model (marks, drawings, sound and exports need none); shut down afterwards."""
    from ui.engine_bridge import EngineBridge
    from ui.review.view import ReviewView

    bridge = EngineBridge(tmp_path / "logs")
    view = ReviewView(bridge)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    yield view
    view.shutdown()
    bridge.shutdown()
