#!/usr/bin/env bash
# Builds the release preset, the corpus, and runs the archive benchmark.
# Usage: tests/bench/run-archive-bench.sh [REPS]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-5}
cmake --preset release >/dev/null
cmake --build --preset release --target pyenv archive_bench inflate_bench >/dev/null
corpus=${PYENV_BENCH_CORPUS:-/tmp/pyenv-bench-corpus}
[ -f "$corpus/corpus.zip" ] || tests/bench/make-corpus.sh "$corpus"
build/release/bin/archive_bench --plugin build/release/bin/libpyenv.so --corpus "$corpus" \
  --reps "$reps" --work /tmp/pyenv-bench-work
build/release/bin/inflate_bench "$corpus/corpus.zip" "$reps"
