"""Times shown to people: a stream position (``1:02.5``) and a remaining duration (``3:07``).

One formatter each, for the terminal, the transcript panel and the review
timeline. Subtitle files have their own fixed formats (``app.sinks.subtitles``).
"""

from __future__ import annotations


def clock(seconds: float) -> str:
    """A stream position to a tenth of a second: ``m:ss.s``, or ``h:mm:ss.s`` from an hour on."""
    m, s = divmod(max(0.0, seconds), 60.0)
    h, m = divmod(int(m), 60)
    return f"{h:d}:{m:02d}:{s:04.1f}" if h else f"{m:d}:{s:04.1f}"


def duration(seconds: float | None) -> str:
    """A duration in whole seconds (an ETA): ``m:ss`` or ``h:mm:ss``; ``--:--`` when unknown."""
    if seconds is None:
        return "--:--"
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
