#!/usr/bin/env bash
# Builds the release preset and runs the embedded-interpreter benchmark on every Python of
# the version matrix that is built (tests/python/cpython/build-cpython.sh; the manifest is
# PYENV_PYTHON_MANIFEST or the build's default).
# Usage: tests/bench/run-interpreter-bench.sh [RUNS] [CALLS]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-11}
calls=${2:-1000000}
cmake --preset release >/dev/null
cmake --build --preset release --target pyenv interpreter_bench >/dev/null
build/release/bin/interpreter_bench --plugin build/release/bin/libpyenv.so --runs "$runs" \
  --calls "$calls"
