#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/install-deps.sh" --tests
bash "$here/build.sh"
cd "$here/../../build"
ctest --output-on-failure -j 2 "$@"
