#!/usr/bin/env bash
# Puts the pinned llama-cpp-python, built for one backend, into a virtual
# environment (make setup calls it before installing the project itself).
#
#   scripts/install_llama_backend.sh PY [vulkan|cpu|cuda]     (default: vulkan)
#
# The wheel comes from scripts/build_llama_wheel.sh (compiled once per machine,
# then cached outside the clone), so a fresh clone or a CI run installs it in
# seconds. Vulkan is the default because it is what the bundle ships: the
# tests then run the same llama.cpp the users get, on the GPU path too (Mesa's
# software device here). When the Vulkan build cannot be had (not Debian/Ubuntu
# and no SDK, not root to install glslc), the portable CPU build is installed
# and the reason printed; the Vulkan tests then skip, saying why (LLAMA_NO_FALLBACK=1:
# fail instead, as the CUDA bundle does).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:?usage: $0 PY [vulkan|cpu|cuda]}
BACKEND=${2:-vulkan}
say() { echo "install_llama_backend: $*" >&2; }

if ! wheel=$(PY="$PY" scripts/build_llama_wheel.sh "$BACKEND" | tail -n 1) || [ ! -f "$wheel" ]; then
    [ "$BACKEND" = cpu ] && { say "the CPU build of llama-cpp-python failed (see above)"; exit 1; }
    [ -n "${LLAMA_NO_FALLBACK:-}" ] && { say "the $BACKEND build of llama-cpp-python failed (see above)"; exit 1; }
    say "the $BACKEND build of llama-cpp-python is not possible here (see above); installing the CPU build."
    say "The $BACKEND tests will be skipped, and a bundle built from this environment runs on the CPU only."
    wheel=$(PY="$PY" scripts/build_llama_wheel.sh cpu | tail -n 1)
fi
record="$(dirname "$PY")/../.llama-wheel"
if [ "$(cat "$record" 2>/dev/null)" = "$wheel" ] && "$PY" -c "import llama_cpp" 2>/dev/null; then
    exit 0
fi
say "installing $(basename "$(dirname "$wheel")") ($wheel)"
"$PY" -m pip install --quiet --no-deps --force-reinstall "$wheel"
echo "$wheel" > "$record"
