#!/usr/bin/env bash
# Writes the public ABI of a built libpyenv.so as libabigail XML (abidw).
# usage: packaging/abi/abi-dump.sh PLUGIN OUT
#
# Only what pyenv.h declares counts: types defined elsewhere are dropped and only exported
# interfaces are read. Locations, paths, DT_NEEDED and the corpus path are left out, so the
# output depends on the ABI alone, not on the build directory or the build type. abidw reads
# DWARF: the plugin must be built with debug information (Debug or RelWithDebInfo).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 PLUGIN OUT" >&2
  exit 2
fi
plugin=$1
out=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
abidw=${ABIDW:-abidw}

"$abidw" --headers-dir "$root/host_api/include/pyenv" --drop-private-types \
  --exported-interfaces-only --no-corpus-path --no-comp-dir-path --no-show-locs \
  --no-elf-needed --type-id-style hash --out-file "$out.tmp" "$plugin"
# The translation units are named by absolute path: keep them relative to the repository.
sed "s|path='$root/|path='|" "$out.tmp" > "$out"
rm -f "$out.tmp"
if ! grep -q "<function-decl name='pyenv_abi_version'" "$out"; then
  echo "$0: $plugin has no debug information for pyenv_abi_version; build it with -g" \
       "(Debug or RelWithDebInfo)" >&2
  exit 1
fi
