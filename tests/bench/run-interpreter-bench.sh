#!/usr/bin/env bash
# Builds the bench preset (the release build, with the tests, where the benchmarks are) and
# runs the embedded-interpreter benchmark on every Python of the version matrix that is built
# (tests/python/cpython/build-cpython.sh; the manifest is PYENV_PYTHON_MANIFEST or the
# build's default).
# Usage: tests/bench/run-interpreter-bench.sh [RUNS] [CALLS]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-11}
calls=${2:-1000000}
cmake --preset bench >/dev/null
cmake --build --preset bench --target pyenv interpreter_bench >/dev/null
build/bench/bin/interpreter_bench --plugin build/bench/bin/libpyenv.so --runs "$runs" \
  --calls "$calls"
