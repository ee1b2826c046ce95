#!/usr/bin/env bash
# Checks the ABI checker's verdicts: baselines derived from the committed one, each
# differing from the built plugin in one way, must pass (additions) or fail (the rest).
# usage: abi-check-selftest.sh SOURCE_DIR PLUGIN
set -euo pipefail
src=$1
plugin=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/pyenv-abi-selftest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Each variant is the baseline as it would have been; the built plugin is "the new one".
python3 - "$src/packaging/abi/libpyenv.abi" "$work" <<'PY'
import re, sys
base = open(sys.argv[1]).read()
out = sys.argv[2]

def variant(name, text):
    if text == base:
        sys.exit(f"variant {name} did not change the baseline")
    open(f"{out}/{name}.abi", "w").write(text)

def without_function(text, name):
    text = re.sub(rf"    <elf-symbol name='{name}'[^\n]*\n", "", text)
    return re.sub(rf"    <function-decl name='{name}'.*?</function-decl>\n", "", text, flags=re.S)

# The plugin has a function the baseline lacks: an addition.
variant("added-function", without_function(base, "pyenv_free"))
# The baseline has a function the plugin lacks: a removal.
symbol = ("    <elf-symbol name='pyenv_gone' version='PYENV_1.0' is-default-version='yes' "
          "type='func-type' binding='global-binding' visibility='default-visibility' "
          "is-defined='yes'/>\n")
decl = ("    <function-decl name='pyenv_gone' mangled-name='pyenv_gone' visibility='default' "
        "binding='global' size-in-bits='64' elf-symbol-id='pyenv_gone@@PYENV_1.0'>\n"
        "      <return type-id='95e97e5e'/>\n    </function-decl>\n")
removed = base.replace("  </elf-function-symbols>", symbol + "  </elf-function-symbols>")
variant("removed-function", removed.replace("  </abi-instr>", decl + "  </abi-instr>"))
# A parameter's type changed (size_t i of pyenv_environment_path_at was an int).
variant("changed-parameter", re.sub(
    r"(<function-decl name='pyenv_environment_path_at'.*?<parameter type-id=')[0-9a-f]+(' name='i'/>)",
    r"\g<1>95e97e5e\2", base, flags=re.S))
# A return type changed (pyenv_abi_version returned int).
variant("changed-return", re.sub(
    r"(<function-decl name='pyenv_abi_version'.*?<return type-id=')[0-9a-f]+('/>)",
    r"\g<1>95e97e5e\2", base, flags=re.S))
# pyenv_options grew a field (its last one appended since the baseline).
variant("struct-grew", re.sub(
    r"      <data-member access='public' layout-offset-in-bits='704'>\n.*?</data-member>\n", "",
    base, flags=re.S).replace("name='pyenv_options' size-in-bits='768'",
                              "name='pyenv_options' size-in-bits='704'"))
# An enumerator's value changed.
variant("changed-enumerator", base.replace("name='PYENV_ENOMEM' value='-8'",
                                           "name='PYENV_ENOMEM' value='-9'"))
# A symbol moved to another version node.
variant("symbol-version", base.replace("'pyenv_open' version='PYENV_1.0'",
                                       "'pyenv_open' version='PYENV_0.9'")
                              .replace("pyenv_open@@PYENV_1.0", "pyenv_open@@PYENV_0.9"))
PY

failures=0
expect() {  # expect pass|fail VARIANT
  local verdict=pass
  PYENV_ABI_BASELINE=$work/$2.abi "$src/packaging/abi/abi-check.sh" "$plugin" \
    >"$work/$2.log" 2>&1 || verdict=fail
  if [ "$verdict" = "$1" ]; then
    echo "ok: $2 -> $verdict ($(grep -m1 -o 'exit status [0-9]*' "$work/$2.log"))"
  else
    echo "WRONG: $2 -> $verdict, expected $1"
    cat "$work/$2.log"
    failures=$((failures + 1))
  fi
}
expect pass added-function
expect fail removed-function
expect fail changed-parameter
expect fail changed-return
expect fail struct-grew
expect fail changed-enumerator
expect fail symbol-version
# And a baseline of another ABI version than pyenv.h's is refused.
if "$src/packaging/abi/abi-check.sh" "$plugin" 0.9 >"$work/version.log" 2>&1; then
  echo "WRONG: a baseline of ABI 1.0 accepted for a header of ABI 0.9"
  failures=$((failures + 1))
else
  echo "ok: version mismatch -> fail"
fi
exit "$failures"
