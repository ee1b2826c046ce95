#!/usr/bin/env bash
# Builds the release preset and runs the embedded-interpreter benchmark.
# Usage: tests/bench/run-interpreter-bench.sh [PYTHON] [RUNS]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:-/usr/bin/python3}
runs=${2:-11}
cmake --preset release >/dev/null
cmake --build --preset release --target interpreter_bench >/dev/null
build/release/bin/interpreter_bench --python "$python" --runs "$runs"
