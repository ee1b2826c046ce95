#!/usr/bin/env bash
# Compares a built libpyenv.so against the committed ABI baseline with abidiff.
# usage: packaging/abi/abi-check.sh PLUGIN [HEADER_ABI_VERSION]
#
# Passes when the ABI is unchanged, or when the only changes are added functions or
# variables. Fails on everything else. abidiff's exit status is a bit mask:
#   1 ABIDIFF_ERROR, 2 ABIDIFF_USAGE_ERROR            -> the comparison did not happen: fail
#   8 ABIDIFF_ABI_INCOMPATIBLE_CHANGE (removed symbol) -> fail
#   4 ABIDIFF_ABI_CHANGE alone                         -> may be compatible or not: a
#     changed parameter or return type, a struct that grew, a changed enumerator all land
#     here. It passes only when a second run with --no-added-syms (additions hidden) is
#     clean and the report's summaries count nothing removed or changed.
# HEADER_ABI_VERSION (MAJOR.MINOR from pyenv.h) must equal the baseline's version: the
# baseline is regenerated exactly when the ABI version is bumped (packaging/abi/README.md).
# PYENV_ABI_BASELINE names another baseline file (the checker's own tests use it).
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 PLUGIN [HEADER_ABI_VERSION]" >&2
  exit 2
fi
plugin=$1
here=$(cd "$(dirname "$0")" && pwd)
baseline=${PYENV_ABI_BASELINE:-$here/libpyenv.abi}
baseline_version=$(cat "$here/libpyenv.abi.version")
abidiff=${ABIDIFF:-abidiff}
if ! command -v "$abidiff" >/dev/null || ! command -v "${ABIDW:-abidw}" >/dev/null; then
  echo "abi-check: abidiff/abidw not found: install abigail-tools (packaging/install-deps.sh)" >&2
  exit 1
fi

if [ $# -eq 2 ] && [ "$2" != "$baseline_version" ]; then
  echo "abi-check: pyenv.h declares ABI $2 but the baseline is of ABI $baseline_version." >&2
  echo "A version bump comes with a new baseline: see packaging/abi/README.md." >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/pyenv-abi-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$here/abi-dump.sh" "$plugin" "$work/current.abi"

echo "abi-check: $plugin against $baseline (ABI $baseline_version)"
set +e
"$abidiff" "$baseline" "$work/current.abi" > "$work/report.txt" 2>&1
status=$?
set -e
cat "$work/report.txt"
echo "abi-check: abidiff exit status $status"

if [ "$status" -eq 0 ]; then
  echo "abi-check: OK, the ABI is the baseline's"
  exit 0
fi
if [ $((status & 3)) -ne 0 ]; then
  echo "abi-check: FAILED: abidiff could not compare (error bits $((status & 3)))" >&2
  exit 1
fi
if [ $((status & 8)) -ne 0 ]; then
  echo "abi-check: FAILED: incompatible ABI change (a function or variable was removed)" >&2
  exit 1
fi

# Bit 4 alone. Additions only, or a change?
set +e
"$abidiff" --no-added-syms "$baseline" "$work/current.abi" > "$work/no-added.txt" 2>&1
no_added_status=$?
set -e
removed_or_changed=$(grep -E "summary:" "$work/report.txt" |
  grep -E "(^|[ :])[1-9][0-9]* (Removed|Changed)" || true)
if [ "$no_added_status" -ne 0 ] || [ -n "$removed_or_changed" ]; then
  echo "abi-check: FAILED: the ABI changed (abidiff exit status 4: changed signatures," \
       "struct layouts or enumerators; see the report above)." >&2
  echo "Restore the baseline's ABI, or bump the ABI version and regenerate the baseline" \
       "(packaging/abi/README.md)." >&2
  exit 1
fi
added=$(grep -E "summary:" "$work/report.txt" | grep -oE "[0-9]+ Added [a-z ]+" | tr '\n' ';')
echo "abi-check: OK, additions only (${added%;}). Additions bump PYENV_ABI_VERSION_MINOR;" \
     "regenerate the baseline with that bump (packaging/abi/README.md)."
