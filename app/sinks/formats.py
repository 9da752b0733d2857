"""The file formats a commentary transcript is saved in, once.

``srt`` and ``vtt`` are subtitles (``app.sinks.subtitles``), ``jsonl`` the
transcript, one object per chunk (``app.sinks.transcript``). The CLI's
``--formats`` and the Live tab's export accept exactly these.
"""

from __future__ import annotations

EXPORT_FORMATS = ("srt", "vtt", "jsonl")
