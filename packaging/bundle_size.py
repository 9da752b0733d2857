"""Print a bundle's size and what takes the space, so growth is noticed at build time.

    python packaging/bundle_size.py dist/livecc-desk [--top 10]

A PySide6 + OpenCV bundle grows by tens of megabytes from one innocent import;
printing the largest parts on every build is how that gets seen. Symbolic links
(llama.cpp's versioned library names) are not counted twice. Written in Python,
not ``du``, so it reads the same on Linux, macOS and Windows.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def tree_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (links not followed, not counted)."""
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = Path(root, name)
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def largest_parts(bundle: Path) -> list[tuple[int, str]]:
    """(bytes, name) of the top-level entries of the bundle's library folder, largest first."""
    inner = bundle / "_internal"
    if not inner.is_dir():  # macOS .app layout, or an older PyInstaller
        inner = bundle
    parts = [(tree_size(p), p.name) for p in inner.iterdir()]
    return sorted(parts, reverse=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--top", type=int, default=10, help="how many of the largest parts to list")
    args = parser.parse_args(argv)
    if not args.bundle.is_dir():
        print(f"error: {args.bundle} is not a folder", file=sys.stderr)
        return 2
    total = tree_size(args.bundle)
    print(f"Bundle {args.bundle}: {total / 1e6:.0f} MB")
    parts = largest_parts(args.bundle)
    for size, name in parts[: args.top]:
        print(f"  {size / 1e6:7.1f} MB  {name}")
    rest = sum(size for size, _ in parts[args.top :])
    print(f"  {rest / 1e6:7.1f} MB  ({max(0, len(parts) - args.top)} smaller parts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
