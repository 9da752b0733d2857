#!/usr/bin/env bash
# Builds the pinned llama-cpp-python wheel for one llama.cpp backend, ONCE per
# machine, and prints its path on the last line of stdout. pip compiles
# llama.cpp from source (CPU ~5 min, Vulkan ~8.5 min on 2 cores, CUDA far
# longer), so the wheel is kept in a cache folder outside the clone, keyed by
# version + backend + cmake flags: a fresh clone and every CI run on the same
# machine reuse it instead of compiling again.
#
#   scripts/build_llama_wheel.sh [cpu|vulkan|cuda]     (default: vulkan)
#
# Every backend is built with GGML_NATIVE=OFF: portable CPU code (the x86-64
# AVX2/FMA/F16C level, every desktop CPU since 2013) instead of code for the
# build machine's CPU, which would crash with "Illegal instruction" on users'
# machines. The Vulkan and CUDA builds keep the CPU backend as the fallback.
#
# Environment: PY (python used to run pip; default python3), LIVECC_CACHE
# (default ~/.cache/livecc-desk), CUDA_ARCHITECTURES (cuda only; default below).
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${1:-vulkan}
PY=${PY:-python3}
CACHE=${LIVECC_CACHE:-$HOME/.cache/livecc-desk}
VERSION=$(sed -n 's/.*"llama-cpp-python==\([^"]*\)".*/\1/p' pyproject.toml)
[ -n "$VERSION" ] || { echo "build_llama_wheel: no llama-cpp-python pin in pyproject.toml" >&2; exit 1; }
say() { echo "build_llama_wheel: $*" >&2; }

# CUDA: real code for the common consumer GPUs, PTX for the rest (JIT on first run).
# 75 Turing (RTX 20xx, GTX 16xx), 86 Ampere (RTX 30xx), 89 Ada (RTX 40xx), 120 Blackwell (RTX 50xx).
CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES:-75-virtual;86-real;89-real;120a-real}

FLAGS="-DGGML_NATIVE=OFF"
case "$BACKEND" in
    cpu) ;;
    vulkan)
        deps=$(scripts/ensure_vulkan_build_deps.sh)
        include=$(echo "$deps" | sed -n 's/^VULKAN_INCLUDE_DIR=//p' | tail -n 1)
        spirv=$(echo "$deps" | sed -n 's/^SPIRV_HEADERS_DIR=//p' | tail -n 1)
        [ -n "$include" ] && [ -n "$spirv" ] || { say "no Vulkan headers (see scripts/ensure_vulkan_build_deps.sh)"; exit 1; }
        loader=$(ldconfig -p | sed -n 's/.*libvulkan\.so\.1 .*=> \(.*\)/\1/p' | head -n 1)
        FLAGS="$FLAGS -DGGML_VULKAN=on -DVulkan_INCLUDE_DIR=$include -DSPIRV-Headers_DIR=$spirv${loader:+ -DVulkan_LIBRARY=$loader}" ;;
    cuda)
        command -v nvcc >/dev/null || for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do [ -x "$d/nvcc" ] && PATH="$d:$PATH" && break; done
        command -v nvcc >/dev/null || { say "nvcc not found: install the CUDA toolkit (https://developer.nvidia.com/cuda-downloads)"; exit 1; }
        # No VMM: ggml-cuda then does not link the driver's libcuda.so, so the wheel builds on a
        # machine without an NVIDIA driver (CI) and the bundle starts on one (CPU fallback).
        FLAGS="$FLAGS -DGGML_CUDA=on -DGGML_CUDA_NO_VMM=ON -DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCHITECTURES"
        cublas=$(scripts/ensure_cublas.sh) || exit 1
        if [ -n "$cublas" ]; then  # cuBLAS from PyPI (nvidia-cublas): headers on CPATH, libraries by path
            export CPATH="$cublas/include${CPATH:+:$CPATH}"
            FLAGS="$FLAGS -DCUDA_cublas_LIBRARY=$(ls "$cublas"/lib/libcublas.so.* | head -n 1)"
            FLAGS="$FLAGS -DCUDA_cublasLt_LIBRARY=$(ls "$cublas"/lib/libcublasLt.so.* | head -n 1)"
        fi ;;
    *) say "unknown backend '$BACKEND' (cpu, vulkan or cuda)"; exit 2 ;;
esac

# The key names what changes the binary: version, backend, flags without machine paths.
KEY_FLAGS=$(echo "$FLAGS" | tr ' ' '\n' | grep -v -e '^-DVulkan_' -e '^-DSPIRV-Headers_DIR' -e '^-DCUDA_cublas' | sort | tr '\n' ' ')
KEY="$VERSION-$BACKEND-$(printf '%s' "$KEY_FLAGS" | sha256sum | cut -c1-12)"
OUT="$CACHE/wheels/$KEY"
wheel=$(ls "$OUT"/llama_cpp_python-*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$wheel" ]; then
    say "cached: $wheel"
    echo "$wheel"
    exit 0
fi

say "compiling llama-cpp-python $VERSION for $BACKEND ($KEY_FLAGS) — minutes; cached in $OUT afterwards"
mkdir -p "$CACHE/wheels"
TMP=$(mktemp -d "$CACHE/wheels/.build-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
started=$(date +%s)
CMAKE_ARGS="$FLAGS" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    "$PY" -m pip wheel --no-deps --no-cache-dir --no-binary llama-cpp-python \
    -w "$TMP" "llama-cpp-python==$VERSION" >&2
echo "$FLAGS" > "$TMP/CMAKE_ARGS"
rm -rf "$OUT" && mv "$TMP" "$OUT"
trap - EXIT
say "built in $(( $(date +%s) - started )) s"
ls "$OUT"/llama_cpp_python-*.whl | head -n 1
