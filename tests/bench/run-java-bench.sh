#!/usr/bin/env bash
# Builds the release preset and runs the Java binding's benchmark: callBytes from Java
# threads against a C host calling the same function in the same process (JavaCallBytesBench).
# Usage: tests/bench/run-java-bench.sh [PYTHON] [CALLS] [RUNS]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:-/usr/bin/python3}
calls=${2:-100000}
runs=${3:-31}
cmake --preset release >/dev/null
cmake --build --preset release --target pyenv_java_bench >/dev/null
bin=build/release/bin
java -Djava.library.path="$bin:build/release/tests/java" -Dpyenv.plugin="$bin/libpyenv.so" \
  -cp "build/release/tests/java/pyenv_java_bench.jar:$bin/pyenv.jar" \
  JavaCallBytesBench --python "$python" --calls "$calls" --runs "$runs"
