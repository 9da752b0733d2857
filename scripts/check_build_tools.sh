#!/usr/bin/env bash
# Checks what a fresh machine needs before `make` builds the environment.
# llama-cpp-python compiles llama.cpp from source (about 5 minutes on 2 cores,
# cached by pip afterwards), so a C/C++ compiler and cmake must be present.
set -u
py="${1:-python3}"
fail=0
if ! command -v "$py" >/dev/null 2>&1; then
  echo "error: $py not found. Install Python 3.10 or newer (https://www.python.org/downloads/)." >&2
  exit 1
fi
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "error: $("$py" --version 2>&1) is too old; LiveCC Desk needs Python 3.10 or newer." >&2
  exit 1
fi
if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "error: Python's venv/ensurepip modules are missing. On Debian/Ubuntu: sudo apt-get install python3-venv" >&2
  fail=1
fi
for tool in cmake; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: '$tool' not found; it is needed to build llama.cpp. Debian/Ubuntu: sudo apt-get install cmake; macOS: brew install cmake; Windows: install CMake from cmake.org." >&2
    fail=1
  fi
done
if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1 && ! command -v clang++ >/dev/null 2>&1; then
  echo "error: no C++ compiler found; it is needed to build llama.cpp. Debian/Ubuntu: sudo apt-get install build-essential; macOS: xcode-select --install." >&2
  fail=1
fi
exit $fail
