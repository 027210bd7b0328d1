#!/usr/bin/env bash
# Configures and builds into ./build (bin/cyrus and its cyr_* links).
set -euo pipefail
cd "$(dirname "$0")/../.."
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
[ -f build/CMakeCache.txt ] || cmake -S . -B build "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
