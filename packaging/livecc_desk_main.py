"""Entry script of the packaged app: the bundle's ``livecc-desk`` runs this file.

It exists apart from ``app/cli/main.py`` for one reason: a frozen program that uses
``multiprocessing`` with the ``spawn`` method (the GUI runs llama.cpp in a child
process, see ``app/engine/process.py``) must call ``freeze_support()`` before
anything else. The child is started as the bundle's own executable with
special arguments; ``freeze_support()`` recognises them, runs the child's target
and exits instead of parsing them as a command line. Outside a bundle it does
nothing.
"""

from __future__ import annotations

import multiprocessing
import sys


def _main() -> int:
    multiprocessing.freeze_support()
    from app.cli.main import main

    return main()


if __name__ == "__main__":
    sys.exit(_main())
