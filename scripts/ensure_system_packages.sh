#!/bin/sh
# System packages the desktop app's tests need on Debian/Ubuntu:
#   Xvfb (GUI tests on a real X server), espeak-ng (speech), the libraries
#   PySide6's Qt loads headless (offscreen) and on X11 (xcb platform plugin),
#   and the real programs the OBS outputs are tested against: OBS Studio
#   (obs-websocket 5 built in) and Chromium (the browser-source page, the
#   review report; poppler-utils turns its PDF print into images).
#   xdotool types the global hotkeys into another application under Xvfb.
# As root (CI runs as root) missing packages are installed with apt-get;
# otherwise the exact command is printed. Never fails the build: tests that
# need a missing package say so when they run.
#
# Usage: scripts/ensure_system_packages.sh
set -u

PACKAGES="xvfb xauth xdotool espeak-ng libespeak-ng1 alsa-utils obs-studio chromium poppler-utils
libegl1 libgl1 libopengl0 libfontconfig1 libfreetype6 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0
libx11-6 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1 libxcb-xfixes0
libxcb-xinerama0 libxcb-xkb1"

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_system_packages: not a Debian/Ubuntu system; make sure Xvfb, espeak-ng and Qt's X11 (xcb) libraries are installed." >&2
    exit 0
fi

# Debian 13 / Ubuntu 24.04 renamed some libraries (t64); use whichever name the archive has.
glib=libglib2.0-0
if ! apt-cache show "$glib" >/dev/null 2>&1 && apt-cache show libglib2.0-0t64 >/dev/null 2>&1; then
    glib=libglib2.0-0t64
fi
PACKAGES="$PACKAGES $glib"

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done

if [ -z "$missing" ]; then
    exit 0
fi

command="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" = "0" ]; then
    echo "ensure_system_packages: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null; }; then
        echo "ensure_system_packages: apt-get failed; GUI, capture or speech tests may be skipped or fail." >&2
    fi
else
    echo "ensure_system_packages: missing system packages:$missing" >&2
    echo "  install them with:  sudo apt-get update && sudo $command" >&2
fi
exit 0
