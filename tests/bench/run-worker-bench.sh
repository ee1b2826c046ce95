#!/usr/bin/env bash
# Builds the bench preset (the release build, with the tests, where the benchmarks are) and
# runs the process-mode benchmark on the machine's python3 (or PYTHON).
# Usage: tests/bench/run-worker-bench.sh [RUNS] [CALLS]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-7}
calls=${2:-200000}
cmake --preset bench >/dev/null
cmake --build --preset bench --target pyenv worker_bench >/dev/null
build/bench/bin/worker_bench --plugin build/bench/bin/libpyenv.so --python "${PYTHON:-/usr/bin/python3}" \
  --runs "$runs" --calls "$calls"
