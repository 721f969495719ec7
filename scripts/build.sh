#!/usr/bin/env bash
# Configures and builds Portcullis into a build directory.
#   scripts/build.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$dir" -DPORTCULLIS_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j "$jobs"
