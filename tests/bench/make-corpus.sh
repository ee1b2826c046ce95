#!/usr/bin/env bash
# Builds the archive benchmark's corpus from this machine's Python 3.11: the interpreter,
# its standard library and the installed dist-packages in a venv-like layout, packed as
# corpus.zip (zip -ry) and corpus.tar.gz. Usage: make-corpus.sh OUT_DIR
set -euo pipefail
out=${1:?usage: make-corpus.sh OUT_DIR}
python=$(readlink -f /usr/bin/python3)
version=$(basename "$python")        # python3.11
tree="$out/tree"
rm -rf "$tree" && mkdir -p "$tree/bin" "$tree/lib"
cp "$python" "$tree/bin/$version"
ln -s "$version" "$tree/bin/python3"
ln -s python3 "$tree/bin/python"
cp -a "/usr/lib/$version" "$tree/lib/$version"
rm -rf "$tree/lib/$version/site-packages"
cp -a /usr/lib/python3/dist-packages "$tree/lib/$version/site-packages"
printf 'home = /usr/bin\ninclude-system-site-packages = false\n' > "$tree/pyvenv.cfg"
rm -f "$out/corpus.zip" "$out/corpus.tar.gz"
(cd "$tree" && zip -qry "$out/corpus.zip" .)
(cd "$tree" && tar czf "$out/corpus.tar.gz" .)
echo "corpus: $(find "$tree" | wc -l) entries, $(du -sb "$tree" | cut -f1) bytes;" \
     "zip $(stat -c %s "$out/corpus.zip") bytes, tar.gz $(stat -c %s "$out/corpus.tar.gz") bytes"
