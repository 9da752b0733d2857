#!/bin/sh
# What building llama.cpp's Vulkan backend (and testing it without a GPU) needs
# on Debian/Ubuntu, installed when root, else the apt command is printed:
#   glslc                 compiles ggml-vulkan's compute shaders at build time;
#   libvulkan1            the Vulkan loader the backend links to;
#   mesa-vulkan-drivers   lavapipe ("llvmpipe"), a software Vulkan device, so the
#                         GPU path is built AND tested on machines without a GPU;
#   vulkan-tools          vulkaninfo, to see which devices the driver offers.
# Headers: the vendored ggml-vulkan needs vulkan.hpp newer than Debian 12's
# 1.3.239 (it uses vk::LayerSettingEXT). When the system's are too old, Debian
# 13's libvulkan-dev (1.4.x) is fetched with apt through a private sources list
# (the system is NOT upgraded) and unpacked into the cache folder below; the
# include folder to pass to cmake is printed on stdout. ggml-vulkan also wants
# SPIRV-Headers' cmake package (Debian: spirv-headers), fetched the same way.
#
# Usage: scripts/ensure_vulkan_build_deps.sh
#        (prints VULKAN_INCLUDE_DIR=... and SPIRV_HEADERS_DIR=...)
# Environment: LIVECC_CACHE (default ~/.cache/livecc-desk).
set -eu
CACHE=${LIVECC_CACHE:-$HOME/.cache/livecc-desk}
PACKAGES="glslc libvulkan1 mesa-vulkan-drivers vulkan-tools"
say() { echo "ensure_vulkan_build_deps: $*" >&2; }

if ! command -v apt-get >/dev/null 2>&1; then
    say "not Debian/Ubuntu: install glslc (or the LunarG Vulkan SDK), Vulkan headers >= 1.3.275 and a Vulkan driver."
    exit 1
fi

missing=""
for pkg in $PACKAGES; do
    case "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        say "missing:$missing; install them with: sudo apt-get update && sudo apt-get install -y$missing"
        exit 1
    fi
    say "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Headers new enough on the system (Debian 13, Ubuntu 24.04+)? Then nothing to fetch.
header_ok() {
    grep -q "LayerSettingEXT" "$1/include/vulkan/vulkan_structs.hpp" 2>/dev/null \
        && [ -f "$1/share/cmake/SPIRV-Headers/SPIRV-HeadersConfig.cmake" ]
}
if header_ok /usr; then
    echo "VULKAN_INCLUDE_DIR=/usr/include"
    echo "SPIRV_HEADERS_DIR=/usr/share/cmake/SPIRV-Headers"
    exit 0
fi

HEADERS="$CACHE/vulkan-headers"
if ! header_ok "$HEADERS/usr"; then
    say "the system's Vulkan headers are too old for ggml-vulkan; fetching Debian 13 (trixie) libvulkan-dev and spirv-headers into $HEADERS"
    APT_DIR="$CACHE/apt-trixie"
    mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/archives/partial" "$APT_DIR/etc"
    echo "deb http://deb.debian.org/debian trixie main" > "$APT_DIR/etc/sources.list"
    : > "$APT_DIR/etc/preferences"
    OPTS="-o Dir::Etc::SourceList=$APT_DIR/etc/sources.list -o Dir::Etc::SourceParts=/dev/null
          -o Dir::State::Lists=$APT_DIR/lists -o Dir::Cache::Archives=$APT_DIR/archives
          -o Dir::Etc::Preferences=$APT_DIR/etc/preferences -o Dir::Etc::PreferencesParts=/dev/null
          -o Dir::State::status=/dev/null -o APT::Architecture=$(dpkg --print-architecture)"
    # shellcheck disable=SC2086
    apt-get $OPTS update -qq >&2
    rm -rf "$HEADERS" && mkdir -p "$HEADERS"
    for pkg in libvulkan-dev spirv-headers; do
        ( cd "$APT_DIR/archives" && apt-get $OPTS download "$pkg" >&2 )
        dpkg-deb -x "$(ls -t "$APT_DIR/archives/${pkg}"_*.deb | head -n 1)" "$HEADERS"
    done
    header_ok "$HEADERS/usr" || { say "the fetched packages lack vulkan.hpp or SPIRV-HeadersConfig.cmake"; exit 1; }
fi
echo "VULKAN_INCLUDE_DIR=$HEADERS/usr/include"
echo "SPIRV_HEADERS_DIR=$HEADERS/usr/share/cmake/SPIRV-Headers"
