#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS (default 300) from its committed seeds, and prints
# the executions and time per target. Exits non-zero when a target found a crash; the input
# that crashed is kept as <build>/fuzz-artifacts/<target>-crash-*.
#
#   tests/fuzz/run.sh [SECONDS]       (after: cmake --preset fuzz && cmake --build --preset fuzz)
#
# PYENV_FUZZ_BUILD names another build directory than build/fuzz. New inputs the fuzzer
# finds go to <build>/fuzz-corpus/<target>, never into the repository's seeds.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-300}"
build="${PYENV_FUZZ_BUILD:-build/fuzz}"
targets=(archive_fuzz config_fuzz json_fuzz)

for target in "${targets[@]}"; do
  if [ ! -x "$build/bin/$target" ]; then
    echo "fuzz: $build/bin/$target is not built (cmake --preset fuzz && cmake --build --preset fuzz)" >&2
    exit 2
  fi
done

mkdir -p "$build/fuzz-artifacts"
status=0
summary=()
for target in "${targets[@]}"; do
  work="$build/fuzz-corpus/$target"
  log="$build/fuzz-artifacts/$target.log"
  mkdir -p "$work"
  echo "fuzz: $target for ${seconds}s"
  start=$(date +%s.%N)
  # -timeout: one input taking longer is a finding (a hang), not a reason to wait.
  # -rss_limit_mb: the archive target's limits keep an input well under this.
  rc=0
  "$build/bin/$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$target-" \
    "$work" "tests/fuzz/corpus/$target" >"$log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  corpus=$(find "$work" -type f | wc -l)
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "fuzz: $target FAILED (exit $rc); last lines of $log:" >&2
    tail -40 "$log" >&2
  fi
  summary+=("$(printf '%-14s %12s execs %8ss %9s exec/s %6s corpus  %s' "$target" "${runs:-?}" \
    "$elapsed" "$(awk -v r="${runs:-0}" -v t="$elapsed" 'BEGIN { printf "%.0f", (t > 0 ? r / t : 0) }')" \
    "$corpus" "$([ "$rc" -eq 0 ] && echo ok || echo FAILED)")")
done

echo "fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
exit "$status"
