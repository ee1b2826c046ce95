#!/usr/bin/env bash
# Regenerates the ABI baseline from a built plugin. Only with an ABI version bump: refuses
# when pyenv.h still declares the baseline's version (pass --same-version to rewrite the
# baseline of an unreleased version on purpose).
# usage: packaging/abi/update-baseline.sh [--same-version] PLUGIN
set -euo pipefail
same_version=0
if [ "${1:-}" = "--same-version" ]; then
  same_version=1
  shift
fi
if [ $# -ne 1 ]; then
  echo "usage: $0 [--same-version] PLUGIN" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
header=$here/../../host_api/include/pyenv/pyenv.h
major=$(sed -n 's/^#define PYENV_ABI_VERSION_MAJOR \([0-9]*\)$/\1/p' "$header")
minor=$(sed -n 's/^#define PYENV_ABI_VERSION_MINOR \([0-9]*\)$/\1/p' "$header")
version=$major.$minor
old=$(cat "$here/libpyenv.abi.version" 2>/dev/null || echo none)
if [ "$version" = "$old" ] && [ "$same_version" -eq 0 ]; then
  echo "$0: pyenv.h still declares ABI $version, the baseline's version." >&2
  echo "Bump PYENV_ABI_VERSION_MINOR (additions) or _MAJOR (breaks) first." >&2
  exit 1
fi
"$here/abi-dump.sh" "$1" "$here/libpyenv.abi"
echo "$version" > "$here/libpyenv.abi.version"
echo "baseline: ABI $old -> $version ($here/libpyenv.abi)"
