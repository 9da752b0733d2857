#!/usr/bin/env bash
# Where the CUDA build finds cuBLAS, which ggml-cuda needs and some CUDA toolkits
# leave out (a slim toolkit image, a CI runner): prints nothing when the toolkit
# beside nvcc has it, else installs NVIDIA's own `nvidia-cublas` wheel from PyPI,
# matching the toolkit's version, into the cache (~570 MB, once per machine) and
# prints its folder (include/ and lib/ inside).
#
#   scripts/ensure_cublas.sh      (nvcc on PATH; env LIVECC_CACHE as build_llama_wheel.sh)
set -euo pipefail
say() { echo "ensure_cublas: $*" >&2; }
CACHE=${LIVECC_CACHE:-$HOME/.cache/livecc-desk}

nvcc=$(command -v nvcc) || { say "nvcc not found"; exit 1; }
root=$(cd "$(dirname "$(readlink -f "$nvcc")")/.." && pwd)
for inc in "$root/include" "$root"/targets/*/include; do
    [ -f "$inc/cublas_v2.h" ] && exit 0
done

version=$(nvcc --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1.\2/p')
[ -n "$version" ] || { say "cannot read the CUDA version from 'nvcc --version'"; exit 1; }
major=${version%%.*}
target="$CACHE/cuda-cublas-$version"
dir="$target/nvidia/cu$major"
if [ ! -f "$dir/include/cublas_v2.h" ]; then
    say "the CUDA $version toolkit at $root has no cuBLAS; installing nvidia-cublas==$version.* from PyPI into $target"
    rm -rf "$target"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$target" "nvidia-cublas==$version.*" >&2 \
        || { say "could not install nvidia-cublas $version.* (install the CUDA toolkit's cuBLAS, e.g. apt-get install libcublas-dev-$major-${version#*.})"; exit 1; }
fi
[ -f "$dir/include/cublas_v2.h" ] || { say "nvidia-cublas $version.* has no headers in $dir"; exit 1; }
echo "$dir"
