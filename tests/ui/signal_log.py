"""Record every emission of a signal, for waits on signals that fire many times.

pytest-qt's ``waitSignal(..., check_params_cb=...)`` disconnects its blocker
from inside the emission that satisfied it; with PySide6 that connection can
outlive the blocker, and a later emission then calls a method on whatever
object Python has since built at the same address (seen in CI as
"'MultiSignalBlocker' object has no attribute 'check_params_callback'").
A plain list fed by a function that lives as long as the test has no such
hazard, and ``qtbot.waitUntil`` still spins the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class SignalLog:
    """The argument of every emission of ``signal`` since construction (or ``clear``).

    The slot is a closure over the list, not a bound method: the connection
    owns it, so the log may be dropped while the signal keeps firing. (A bound
    method of a plain Python object is exactly what crashed: PySide6 does not
    keep its ``self`` alive.)
    """

    def __init__(self, signal) -> None:
        args: list[Any] = []

        def record(*emitted) -> None:
            args.append(emitted[0] if len(emitted) == 1 else emitted)

        self.args = args
        signal.connect(record)

    def clear(self) -> None:
        self.args.clear()

    def wait_for(
        self, qtbot, predicate: Callable[[Any], bool], timeout: int, action: Callable[[], Any] | None = None
    ) -> Any:
        """Run ``action`` (if any), then spin the event loop until an emission after
        that point satisfies ``predicate``; return that emission's argument."""
        start = len(self.args)
        if action is not None:
            action()

        def first_match():
            return next((a for a in self.args[start:] if predicate(a)), None)

        qtbot.waitUntil(lambda: first_match() is not None, timeout=timeout)
        return first_match()
