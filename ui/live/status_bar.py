"""The status line: state, real-time lag, per-chunk latency, tokens per second, drops, device.

Each figure is its own label so it can be read at a glance while streaming,
and coloured when it matters: lag turns amber past 2 s and red past 5 s (live
commentary that late no longer matches the picture), the device label says
plainly whether the GPU is used.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from app.pipeline.pacing import LiveStats

LAG_WARN_S = 2.0
LAG_BAD_S = 5.0


class LiveStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = QLabel("Idle", objectName="stateLabel")
        self.lag = QLabel("lag –", objectName="lagLabel")
        self.latency = QLabel("chunk –", objectName="latencyLabel")
        self.speed = QLabel("– tok/s", objectName="speedLabel")
        self.dropped = QLabel("", objectName="droppedLabel")
        self.device = QLabel("no model", objectName="deviceStatus")
        tips = {
            self.lag: "How far the commentary is behind the picture (live sources)",
            self.latency: "Time the engine took for the last 1-second chunk",
            self.speed: "Tokens generated per second",
            self.dropped: "Chunks skipped to keep up with real time",
            self.device: "Where the model runs",
        }
        self.addWidget(self.state, 1)
        for label, tip in tips.items():
            label.setToolTip(tip)
            self.addPermanentWidget(label)

    def set_state(self, text: str, kind: str = "idle") -> None:
        self.state.setText(text)
        self.state.setProperty("kind", kind)
        self.state.style().polish(self.state)

    def set_device(self, text: str, gpu: bool | None) -> None:
        short = "GPU" if gpu else ("CPU" if gpu is not None else text)
        self.device.setText(short)
        self.device.setToolTip(text)
        self.device.setProperty("gpu", bool(gpu))
        self.device.style().polish(self.device)

    def show_stats(self, stats: LiveStats) -> None:
        if stats.lag_s is None:
            self.lag.setText(f"at {stats.position_s:.0f} s")
            level = "ok"
        else:
            self.lag.setText(f"lag {stats.lag_s:.1f} s")
            level = "bad" if stats.lag_s > LAG_BAD_S else "warn" if stats.lag_s > LAG_WARN_S else "ok"
        self.lag.setProperty("level", level)
        self.lag.style().polish(self.lag)
        self.latency.setText(f"chunk {stats.latency_s * 1000:.0f} ms")
        self.speed.setText(f"{stats.tokens_per_s:.0f} tok/s")
        self.dropped.setText(f"dropped {stats.dropped}" if stats.dropped else "")

    def reset_stats(self) -> None:
        self.lag.setText("lag –")
        self.latency.setText("chunk –")
        self.speed.setText("– tok/s")
        self.dropped.setText("")
