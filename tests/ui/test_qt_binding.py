"""Guards against a Qt binding that breaks the app in long sessions.

PySide6 6.12.0's ``Signal.emit()`` releases a reference to ``True`` it never
took; on Python < 3.12 (where ``True`` is not immortal) the interpreter aborts
after a few hundred signals, i.e. a few minutes into a live session.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    fired = Signal(object)


def test_emitting_signals_does_not_leak_references_to_true(qtbot):
    emitter = _Emitter()
    received = []
    emitter.fired.connect(received.append)
    before = sys.getrefcount(True)
    for i in range(200):
        emitter.fired.emit(i)
    assert len(received) == 200
    assert sys.getrefcount(True) - before > -50
