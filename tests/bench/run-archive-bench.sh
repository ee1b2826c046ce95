#!/usr/bin/env bash
# Builds the bench preset (the release build, with the tests, where the benchmarks are) and
# the corpora, then runs the archive benchmarks: the small corpus (make-corpus.sh) and the
# large one (make-large-corpus.sh) on the project's own disk, the large one again on a tmpfs
# (mounted here when run as root), the plugin's dlopen cost and the whole host process
# against `python3 -c pass`.
#
# Usage: tests/bench/run-archive-bench.sh [REPS]   (from the repository root; REPS >= 5)
# PYENV_BENCH_DIR: where corpora and work trees go (default /var/tmp/pyenv-bench, which must
#   be on the project's disk); PYENV_BENCH_BASELINE_PLUGIN: another libpyenv.so to compare
#   dlopen and the host process against (an older build, say); PYENV_BENCH_WORKERS=1: also
#   how zip workers share the files (extract_bench: pipeline, per entry, per directory, with
#   1, 2 and 4 workers) on the tmpfs and on the disk (slow: 7 variants x REPS cold opens).
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-5}
dir=${PYENV_BENCH_DIR:-/var/tmp/pyenv-bench}
cmake --preset bench >/dev/null
cmake --build --preset bench --target pyenv archive_bench dlopen_bench process_bench \
  bench_example_host extract_bench >/dev/null
bin=build/bench/bin
plugin=$bin/libpyenv.so
mkdir -p "$dir"
[ -f "$dir/small/corpus.zip" ] || tests/bench/make-corpus.sh "$dir/small"
[ -f "$dir/large/corpus.zip" ] || tests/bench/make-large-corpus.sh "$dir/large"
echo "machine: $(nproc) cores, $(uname -r), $(df -T "$dir" | awk 'NR==2 {print $2}') at $dir"
echo "small corpus: $(find "$dir/small/tree" -mindepth 1 | wc -l) entries," \
     "$(du -sb "$dir/small/tree" | cut -f1) bytes"
echo "large corpus: $(find "$dir/large/tree" -mindepth 1 | wc -l) entries," \
     "$(du -sb "$dir/large/tree" | cut -f1) bytes"

$bin/archive_bench --plugin "$plugin" --corpus "$dir/small" --work "$dir/work" \
  --reps "$reps" --label "small, disk" --extras
$bin/archive_bench --plugin "$plugin" --corpus "$dir/large" --work "$dir/work" \
  --reps "$reps" --label "large, disk" --extras

if [ "$(id -u)" -eq 0 ]; then
  mnt="$dir/tmpfs"
  mkdir -p "$mnt"
  mountpoint -q "$mnt" || mount -t tmpfs -o size=6g,mode=0700 pyenv-bench "$mnt"
  trap 'umount "$mnt" 2>/dev/null || true' EXIT
  mkdir -p "$mnt/large"
  cp "$dir/large/corpus.zip" "$dir/large/corpus.tar.gz" "$mnt/large/"
  $bin/archive_bench --plugin "$plugin" --corpus "$mnt/large" --work "$mnt/work" \
    --reps "$reps" --label "large, tmpfs"
  if [ -n "${PYENV_BENCH_WORKERS:-}" ]; then
    $bin/extract_bench --zip "$mnt/large/corpus.zip" --work "$mnt/work" --reps "$reps"
  fi
  umount "$mnt"
  trap - EXIT
else
  echo "tmpfs: skipped (mounting one needs root)"
fi

if [ -n "${PYENV_BENCH_WORKERS:-}" ]; then
  $bin/extract_bench --zip "$dir/large/corpus.zip" --work "$dir/work" --reps "$reps"
fi

plugins=("$plugin")
[ -z "${PYENV_BENCH_BASELINE_PLUGIN:-}" ] || plugins+=("$PYENV_BENCH_BASELINE_PLUGIN")
$bin/dlopen_bench 21 "${plugins[@]}"
# The peer is the very interpreter the host embeds, named by its path: a `python3` found on
# PATH may be a wrapper (pyenv's shims are shell scripts taking 100 ms) or another build.
examples=$(cd build/bench/share/pyenv/examples && pwd)
python=/usr/bin/python3
cat > "$dir/process.yaml" <<EOF
python:
  executable: $python
  files: [$examples/example/wordcount.py]
  systemenv.enabled: false
EOF
for p in "${plugins[@]}"; do
  echo "whole host process with $p (load, prepare the bundled example with $python, interpreter, one call), 21 runs:"
  TMPDIR="$dir" PYENV_PLUGIN=$p $bin/process_bench 21 $python -c pass -- \
    $bin/bench_example_host "$dir/process.yaml" wordcount:count_words "three small words"
done
