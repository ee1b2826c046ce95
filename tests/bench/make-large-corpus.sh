#!/usr/bin/env bash
# Builds the large archive benchmark corpus: a packed environment shaped like the ones users
# ship (numpy, torch, cloud SDKs), from what every machine set up by packaging/install-deps.sh
# has, so that it is the same on every such machine and never committed.
#
#   bin/                      python3.11 and its links (python3, python)
#   include/python3.11/       CPython's headers
#   lib/python3.11/           the standard library, with its __pycache__ and lib-dynload
#   lib/python3.11/site-packages/
#     <dist-packages>         Debian's Python packages, as installed
#     bench_cxx/include/boost/  Boost's headers: a package shipping C++ headers (torch does)
#     bench_vendor_N/         the standard library's and dist-packages' .py files under 16 KiB,
#                             copied N times: the many small modules of a large environment
#     bench_cxx.libs/         the shared objects clang-14 loads (LLVM, ICU data, z3...) under
#                             their real names, with their sonames as links, as wheels bundle
#   lib64 -> lib
#
# Usage: make-large-corpus.sh OUT_DIR [MIN_ENTRIES]   (default 36000 entries)
# Writes OUT_DIR/tree, OUT_DIR/corpus.zip (zip -y, names sorted) and OUT_DIR/corpus.tar.gz
# (tar --sort=name), and prints what it made.
set -euo pipefail
out=${1:?usage: make-large-corpus.sh OUT_DIR [MIN_ENTRIES]}
min_entries=${2:-36000}
export LC_ALL=C
python=$(readlink -f /usr/bin/python3)
version=$(basename "$python")        # python3.11
stdlib=/usr/lib/$version
dist=/usr/lib/python3/dist-packages
for need in "$stdlib" "$dist" /usr/include/boost "/usr/include/$version" "$(command -v clang)"; do
  [ -e "$need" ] || { echo "make-large-corpus: $need is missing (packaging/install-deps.sh)" >&2; exit 1; }
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
tree="$out/tree"
chmod -R u+w "$tree" 2>/dev/null || true
rm -rf "$tree"
mkdir -p "$tree/bin" "$tree/lib" "$tree/include"
site="$tree/lib/$version/site-packages"

cp -p "$python" "$tree/bin/$version"
ln -s "$version" "$tree/bin/python3"
ln -s python3 "$tree/bin/python"
ln -s lib "$tree/lib64"
cp -a "/usr/include/$version" "$tree/include/$version"
cp -a "$stdlib" "$tree/lib/$version"
rm -rf "$site"
cp -a "$dist" "$site"
printf 'home = /usr/bin\ninclude-system-site-packages = false\nversion = %s\n' \
  "${version#python}" > "$tree/pyvenv.cfg"

mkdir -p "$site/bench_cxx/include"
cp -a /usr/include/boost "$site/bench_cxx/include/boost"

libs="$site/bench_cxx.libs"
mkdir -p "$libs"
ldd "$(readlink -f "$(command -v clang)")" | awk '$3 ~ /^\// {print $3}' | sort -u |
  while read -r soname_path; do
    real=$(readlink -f "$soname_path")
    cp -p "$real" "$libs/"
    [ "$(basename "$real")" = "$(basename "$soname_path")" ] ||
      ln -sf "$(basename "$real")" "$libs/$(basename "$soname_path")"
  done

# The small modules: one copy made from the sources, then as many more as the entry count
# needs, each a package of its own.
vendor="$site/bench_vendor_1"
mkdir -p "$vendor/stdlib" "$vendor/dist"
(cd "$stdlib" && find . -name '*.py' -type f -size -16k -print0 | xargs -0 cp -p --parents -t "$vendor/stdlib")
(cd "$dist" && find . -name '*.py' -type f -size -16k -print0 | xargs -0 cp -p --parents -t "$vendor/dist")
per_copy=$(find "$vendor" | wc -l)
have=$(find "$tree" -mindepth 1 | wc -l)
copies=1
while [ "$have" -lt "$min_entries" ]; do
  copies=$((copies + 1))
  cp -a "$vendor" "$site/bench_vendor_$copies"
  have=$((have + per_copy))
done

rm -f "$out/corpus.zip" "$out/corpus.tar.gz"
(cd "$tree" && find . -mindepth 1 | sort | zip -qy -@ "$out/corpus.zip")
tar --sort=name -C "$tree" -czf "$out/corpus.tar.gz" .
echo "large corpus: $(find "$tree" -mindepth 1 | wc -l) entries" \
     "($(find "$tree" -type f | wc -l) files, $(find "$tree" -type d | wc -l) directories," \
     "$(find "$tree" -type l | wc -l) links, $copies vendored copies)," \
     "$(du -sb "$tree" | cut -f1) bytes; zip $(stat -c %s "$out/corpus.zip") bytes," \
     "tar.gz $(stat -c %s "$out/corpus.tar.gz") bytes"
