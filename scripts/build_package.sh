#!/usr/bin/env bash
# Build the packaged app (dist/livecc-desk, a PyInstaller one-folder bundle),
# print its size, and run its self-test: the bundle is only "built" once it has
# proved, on this machine, that every layer it ships still loads and works.
#
#   scripts/build_package.sh [--archive] [--cuda]
#
#   --archive   also pack dist/livecc-desk-VERSION-OS-ARCH.tar.gz (.zip on Windows),
#               the file users download.
#   --cuda      build the CUDA bundle instead, in dist-cuda/ (needs nvcc; the CUDA
#               llama-cpp-python is compiled once and cached, and installed into its
#               own environment, .venv-cuda, so the development one is untouched).
#
# The default bundle carries the llama-cpp-python of the development environment:
# `make setup` installs the Vulkan build (GPU offload on NVIDIA, AMD and Intel with
# just the graphics driver) with the CPU backend as the fallback, both portable
# (GGML_NATIVE=OFF). The self-test then runs in the bundle three times: as is, on
# a software Vulkan device when the machine has one (lavapipe), and with every
# Vulkan driver hidden (it must still start and run on the CPU).
#
# Environment: PY (default .venv/bin/python, as `make setup` creates it).
# Run from a Linux, macOS or Windows (Git Bash) shell; PyInstaller builds for
# the OS it runs on.
set -euo pipefail
cd "$(dirname "$0")/.."

ARCHIVE=0
CUDA=0
for arg in "$@"; do
    case "$arg" in
        --archive) ARCHIVE=1 ;;
        --cuda) CUDA=1 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
    esac
done

case "$(uname -s)" in
    Linux*)  OS=linux ;;
    Darwin*) OS=macos ;;
    MINGW*|MSYS*|CYGWIN*) OS=windows ;;
    *) OS=$(uname -s | tr '[:upper:]' '[:lower:]') ;;
esac
if [ "$OS" = windows ]; then DEFAULT_PY=.venv/Scripts/python.exe; EXE=livecc-desk.exe; else DEFAULT_PY=.venv/bin/python; EXE=livecc-desk; fi
PY=${PY:-$DEFAULT_PY}
DIST=dist

fail() { echo "build_package: $*" >&2; exit 1; }

if [ "$CUDA" = 1 ]; then
    # Its own environment: the CUDA wheel replaces llama-cpp-python, the rest is shared.
    [ "$OS" = windows ] && CUDA_PY=.venv-cuda/Scripts/python.exe || CUDA_PY=.venv-cuda/bin/python
    [ -x "$CUDA_PY" ] || python3 -m venv .venv-cuda || fail "could not create .venv-cuda"
    started_cuda=$(date +%s)
    LLAMA_NO_FALLBACK=1 scripts/install_llama_backend.sh "$CUDA_PY" cuda || fail "no CUDA build of llama-cpp-python (see above)"
    "$CUDA_PY" -m pip install --quiet -e . || fail "could not install the project into .venv-cuda"
    # cuBLAS from PyPI where the toolkit has none (scripts/ensure_cublas.sh): on the library path
    # for the import check and for PyInstaller, which copies it into the bundle.
    command -v nvcc >/dev/null || PATH="/usr/local/cuda/bin:$PATH"
    cublas=$(scripts/ensure_cublas.sh) || fail "no cuBLAS for the CUDA build (see above)"
    [ -z "$cublas" ] || export LD_LIBRARY_PATH="$cublas/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "CUDA llama-cpp-python ready in $(( $(date +%s) - started_cuda )) s (compiled once per machine, then cached)."
    PY=$CUDA_PY
    DIST=dist-cuda
fi
BUNDLE=$DIST/livecc-desk

# -- what the build needs -----------------------------------------------------------
[ -x "$PY" ] || fail "no Python environment at $PY: run 'make setup' first (or set PY=...)."
"$PY" -c "import llama_cpp" 2>/dev/null || fail "llama-cpp-python does not import in $PY: run 'make setup' first."
if [ "$OS" = linux ]; then
    for tool in objdump objcopy ldd; do
        command -v "$tool" >/dev/null || fail "'$tool' is missing: install binutils (Debian/Ubuntu: apt-get install binutils; Fedora: dnf install binutils)."
    done
fi
if [ "$OS" = macos ]; then
    command -v codesign >/dev/null || fail "'codesign' is missing: install the Xcode command line tools (xcode-select --install)."
fi
# Not needed to build, only for the self-test to exercise more: say what is skipped and why.
if [ "$OS" = linux ]; then
    "$PY" -c "import ctypes.util, sys; sys.exit(not (ctypes.util.find_library('espeak-ng') or ctypes.util.find_library('espeak')))" \
        || echo "note: espeak-ng is not installed, so the self-test cannot check speech (apt-get install espeak-ng)."
    command -v xvfb-run >/dev/null \
        || echo "note: xvfb-run is not installed, so the self-test runs without a display only (apt-get install xvfb xauth)."
fi

# Which llama.cpp backends the bundle will carry. A bundle without a GPU backend runs on
# the CPU only: allowed for a local build, not in CI (the bundle is what users install).
backends=$("$PY" -c "from models.engine.devices import backends; print(' '.join(backends()))" 2>/dev/null || echo "?")
echo "llama.cpp backends in this environment: $backends"
case " $backends " in
    *" Vulkan "*|*" CUDA "*|*" Metal "*|*" MTL "*) ;;
    *) if [ -n "${CI:-}" ]; then
           fail "this llama-cpp-python has no GPU backend ($backends): run 'make setup' (GPU=vulkan) first."
       fi
       echo "warning: this llama-cpp-python has no GPU backend ($backends): the bundle will run on the CPU only."
       echo "         'make setup GPU=vulkan' installs the Vulkan build the release bundle carries." ;;
esac

# llama.cpp's own llama-server (`livecc-desk serve`), as `make server` built it: pyinstaller.spec bundles
# it. Without one the bundle cannot serve other machines: allowed for a local build, not in CI.
if [ "$CUDA" = 1 ]; then export LIVECC_SERVER_BACKENDS=cuda,vulkan,cpu; else export LIVECC_SERVER_BACKENDS=${LIVECC_SERVER_BACKENDS:-vulkan,metal,hip,cpu}; fi
server=$("$PY" -c "import os; from models.engine.llama_server import built_llama_server as b; print(b(tuple(os.environ['LIVECC_SERVER_BACKENDS'].split(','))) or '')" 2>/dev/null || true)
if [ -z "$server" ]; then
    if [ -n "${CI:-}" ]; then
        fail "no llama-server is built ($LIVECC_SERVER_BACKENDS): run 'make server' (GPU=vulkan|cuda|metal) first."
    fi
    echo "warning: no llama-server is built: the bundle will not carry one ('livecc-desk serve' will ask for it)."
    echo "         'make server' builds it (GPU=vulkan make server for the Vulkan one)."
else
    echo "llama-server to bundle: $server"
fi

# pip builds llama.cpp with GGML_NATIVE=ON by default: code for THIS machine's CPU. A bundle
# built so crashes ("Illegal instruction") on CPUs without those extensions (AVX-512 on most
# desktops). Fine for testing here; a bundle to distribute needs a portable build (README.md).
"$PY" - <<'EOF' || true
import re, llama_cpp
built = re.findall(r"(\w+) = 1", llama_cpp.llama_print_system_info().decode(errors="replace"))
native = [f for f in built if f.startswith(("AVX512", "AVX_VNNI", "AMX", "SVE"))]
if native:
    print("warning: this llama-cpp-python is compiled for this machine's CPU (" + ", ".join(native) + "): the\n"
          "         bundle will not start on CPUs without them. To distribute it, reinstall with\n"
          "         CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" (see README.md, 'Installing the packaged app').")
EOF

# The PyInstaller pinned in pyproject.toml's 'package' extra, installed unless it already is.
PIN=$("$PY" -c "import re; print(re.search(r'\"(pyinstaller==[^\"]+)\"', open('pyproject.toml').read()).group(1))")
if [ "$("$PY" -c 'import PyInstaller; print("pyinstaller==" + PyInstaller.__version__)' 2>/dev/null)" != "$PIN" ]; then
    echo "Installing $PIN (the 'package' extra)..."
    "$PY" -m pip install --quiet "$PIN"
fi

# -- build ---------------------------------------------------------------------------
echo "Building $BUNDLE with PyInstaller $("$PY" -c 'import PyInstaller; print(PyInstaller.__version__)')..."
started=$(date +%s)
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$DIST" --workpath "build/pyinstaller-$DIST" pyinstaller.spec
echo "Built in $(( $(date +%s) - started )) s. (Warnings about ntdll/ole32/shell32, libxcb-errors and"
echo "libgtk-3/libgdk-3 are expected: Windows-only code paths, an optional debug library, and the GTK theme"
echo "plugin that pyinstaller.spec leaves out.)"
"$PY" packaging/bundle_size.py "$BUNDLE"

# -- prove it works --------------------------------------------------------------------
# The bundled llama-server must find every library it links to, its own ones inside the bundle.
BUNDLED_SERVER="$BUNDLE/_internal/llama-server/bin/llama-server"
if [ "$OS" = linux ] && [ -n "$server" ]; then
    [ -x "$BUNDLED_SERVER" ] || fail "the bundle has no $BUNDLED_SERVER although $server was built."
    deps=$(ldd "$BUNDLED_SERVER")
    missing=$(echo "$deps" | grep "not found" || true)
    [ -z "$missing" ] || fail "the bundled llama-server lacks libraries: $missing"
    outside=$(echo "$deps" | grep -E "lib(llama|ggml|mtmd|ssl|crypto|gomp)" | grep -v "$(cd "$BUNDLE" && pwd)" || true)
    [ -z "$outside" ] || fail "the bundled llama-server takes libraries from outside the bundle: $outside"
    echo "Bundled llama-server: every library found ($(echo "$deps" | grep -c "$(cd "$BUNDLE" && pwd)") inside the bundle)."
fi
echo
echo "Self-test of the bundle (headless):"
env -u DISPLAY -u WAYLAND_DISPLAY "$BUNDLE/$EXE" --self-test
if [ "$OS" = linux ] && [ "$CUDA" = 0 ]; then
    # ggml skips software Vulkan devices unless named: name the first one, so the GPU path of
    # the bundle runs here even without a GPU (lavapipe). Only when the machine has such a device.
    if command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>/dev/null | grep -q PHYSICAL_DEVICE_TYPE_CPU; then
        echo
        echo "Self-test of the bundle on the software Vulkan device (GGML_VK_VISIBLE_DEVICES=0):"
        env -u DISPLAY -u WAYLAND_DISPLAY GGML_VK_VISIBLE_DEVICES=0 "$BUNDLE/$EXE" --self-test
    fi
    echo
    echo "Self-test of the bundle with no Vulkan driver at all (it must run on the CPU):"
    env -u DISPLAY -u WAYLAND_DISPLAY VK_DRIVER_FILES=/nonexistent/icd.json VK_ICD_FILENAMES=/nonexistent/icd.json \
        GGML_VK_VISIBLE_DEVICES=0 "$BUNDLE/$EXE" --self-test
fi
if [ "$OS" = linux ] && command -v xvfb-run >/dev/null; then
    echo
    echo "Self-test of the bundle on a virtual display (Qt's xcb platform, screen capture):"
    xvfb-run --auto-servernum --server-args="-screen 0 1280x720x24" "$BUNDLE/$EXE" --self-test
fi

if [ "$ARCHIVE" = 1 ]; then
    VERSION=$("$PY" -c "from importlib.metadata import version; print(version('livecc-desk'))")
    NAME="livecc-desk-$VERSION-$OS-$(uname -m)$([ "$CUDA" = 1 ] && echo -cuda)"
    if [ "$OS" = windows ]; then
        (cd "$DIST" && rm -f "$NAME.zip" && powershell -NoProfile -Command "Compress-Archive -Path livecc-desk -DestinationPath $NAME.zip")
        ARCHIVE_FILE="$DIST/$NAME.zip"
    else
        tar -C "$DIST" -czf "$DIST/$NAME.tar.gz" livecc-desk  # keeps the library links of llama.cpp
        ARCHIVE_FILE="$DIST/$NAME.tar.gz"
    fi
    "$PY" -c "import os, sys; print(f'Archive {sys.argv[1]}: {os.path.getsize(sys.argv[1]) / 1e6:.0f} MB')" "$ARCHIVE_FILE"
fi
echo "Bundle ready: $BUNDLE/$EXE$([ "$OS" = macos ] && echo " and $DIST/LiveCC Desk.app")"
