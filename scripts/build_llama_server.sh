#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server` from the very llama.cpp that the pinned
# llama-cpp-python bundles (its sdist vendors llama.cpp), with our one patch
# (packaging/llama-server/livecc.patch: LiveCC frame pairs as temporal patches, pictures
# decoded once), and caches it:
#   ~/.cache/livecc-desk/llama-server/<version>-<backend>-<patch id>/bin/llama-server (+ its shared libs)
# The patch id is the start of the patch's SHA-256 (models/engine/llama_server.py computes the same).
# A cached build is reused; the first CPU build takes a few minutes on 2 cores.
#
#   scripts/build_llama_server.sh            # CPU
#   GPU=cuda   scripts/build_llama_server.sh # -DGGML_CUDA=on
#   GPU=vulkan scripts/build_llama_server.sh # -DGGML_VULKAN=on (needs glslc + Vulkan headers >= 1.4)
#   GPU=metal  scripts/build_llama_server.sh # -DGGML_METAL=on
#   EXTRA_CMAKE_ARGS="-DVulkan_INCLUDE_DIR=..." JOBS=4 PYTHON=.venv/bin/python ...
# Prints the path of the binary as its last line of output.
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
GPU="${GPU:-cpu}"
JOBS="${JOBS:-2}"
PYTHON="${PYTHON:-}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "$PYTHON" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
PATCH="$ROOT/packaging/llama-server/livecc.patch"
PATCH_ID=$("$PYTHON" -c "import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest()[:10])" "$PATCH")
CACHE_ROOT="${LIVECC_DESK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/livecc-desk}"
DEST="$CACHE_ROOT/llama-server/$VERSION-$GPU-$PATCH_ID"
BIN="$DEST/bin/llama-server"

if [ -x "$BIN" ] && [ -f "$DEST/.complete" ]; then
  echo "llama-server $VERSION ($GPU) is cached: $BIN" >&2
  echo "$BIN"
  exit 0
fi

case "$GPU" in
  cpu) gpu_flags=() ;;
  cuda)
    # As the CUDA wheel (scripts/build_llama_wheel.sh): no VMM (no link to the driver's libcuda),
    # cuBLAS from NVIDIA's PyPI wheel where the toolkit has none.
    gpu_flags=(-DGGML_CUDA=on -DGGML_CUDA_NO_VMM=ON)
    cublas=$("$ROOT/scripts/ensure_cublas.sh") || exit 1
    if [ -n "$cublas" ]; then
      export CPATH="$cublas/include${CPATH:+:$CPATH}"
      gpu_flags+=("-DCUDA_cublas_LIBRARY=$(ls "$cublas"/lib/libcublas.so.* | head -n 1)")
      gpu_flags+=("-DCUDA_cublasLt_LIBRARY=$(ls "$cublas"/lib/libcublasLt.so.* | head -n 1)")
    fi ;;
  vulkan)
    # The same headers, shader compiler and loader as the Vulkan wheel (scripts/ensure_vulkan_build_deps.sh).
    deps=$("$ROOT/scripts/ensure_vulkan_build_deps.sh")
    include=$(echo "$deps" | sed -n 's/^VULKAN_INCLUDE_DIR=//p' | tail -n 1)
    spirv=$(echo "$deps" | sed -n 's/^SPIRV_HEADERS_DIR=//p' | tail -n 1)
    loader=$(ldconfig -p 2>/dev/null | sed -n 's/.*libvulkan\.so\.1 .*=> \(.*\)/\1/p' | head -n 1)
    gpu_flags=(-DGGML_VULKAN=on)
    [ -n "$include" ] && gpu_flags+=("-DVulkan_INCLUDE_DIR=$include")
    [ -n "$spirv" ] && gpu_flags+=("-DSPIRV-Headers_DIR=$spirv")
    [ -n "$loader" ] && gpu_flags+=("-DVulkan_LIBRARY=$loader") ;;
  metal) gpu_flags=(-DGGML_METAL=on) ;;
  hip|rocm) gpu_flags=(-DGGML_HIP=on) ;;
  *) echo "error: GPU=$GPU is not one of cpu, cuda, vulkan, metal, hip" >&2; exit 2 ;;
esac

for tool in cmake tar git; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: '$tool' not found; it is needed to build llama-server" >&2; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/llama-server-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)

echo "Downloading the llama-cpp-python $VERSION source distribution..." >&2
"$PYTHON" -m pip download --quiet --no-deps --no-binary :all: \
  "llama-cpp-python==$VERSION" -d "$WORK/sdist" >&2
tar -xzf "$WORK"/sdist/llama_cpp_python-"$VERSION".tar.gz -C "$WORK"
SRC="$WORK/llama_cpp_python-$VERSION/vendor/llama.cpp"
[ -f "$SRC/tools/server/server.cpp" ] || { echo "error: no tools/server in $SRC" >&2; exit 1; }
# The sdist's vendor/llama.cpp holds a .git file that points at a submodule it does not carry, and
# the sdist itself a .git folder: git must not take either for a repository (it would skip the
# patch's files as outside it), so it applies the patch as a plain diff.
rm -f "$SRC/.git"
(cd "$SRC" && GIT_CEILING_DIRECTORIES="$(dirname "$SRC")" git apply --verbose "$PATCH") >&2 \
  && grep -q '"multimodal_frame_pairs"' "$SRC/tools/server/server-context.cpp" \
  || { echo "error: $PATCH does not apply to the llama.cpp of llama-cpp-python $VERSION" >&2; exit 1; }

echo "Building llama-server ($GPU, -j$JOBS); the first build takes a few minutes..." >&2
# shellcheck disable=SC2086
cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_CURL=OFF -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=ON -DCMAKE_INSTALL_RPATH='$ORIGIN/../lib' -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON \
  "${gpu_flags[@]}" ${EXTRA_CMAKE_ARGS:-} >&2
cmake --build "$WORK/build" --config Release --target llama-server -j "$JOBS" >&2

STAGE="$DEST.tmp.$$"
rm -rf "$STAGE"
mkdir -p "$STAGE/bin" "$STAGE/lib"
cp "$WORK/build/bin/llama-server" "$STAGE/bin/"
find "$WORK/build" \( -name '*.so' -o -name '*.so.*' -o -name '*.dylib' -o -name '*.dll' \) \
  -exec cp -P {} "$STAGE/lib/" \; 2>/dev/null || true
cp "$SRC/tools/server/README.md" "$STAGE/README-server.md" 2>/dev/null || true
echo "llama-cpp-python $VERSION + livecc.patch $PATCH_ID, backend $GPU, built $(date -u +%FT%TZ) in $(( $(date +%s) - start )) s" > "$STAGE/BUILD_INFO"
touch "$STAGE/.complete"
rm -rf "$DEST"
mv "$STAGE" "$DEST"
"$BIN" --version >&2 || true
echo "Built in $(( $(date +%s) - start )) s: $BIN" >&2
echo "$BIN"
