#!/usr/bin/env bash
# Builds the bench preset (the release build, with the tests, where the benchmarks are) and
# runs the Java binding's benchmark: callBytes from Java threads against a C host calling the
# same function in the same process (JavaCallBytesBench).
# Usage: tests/bench/run-java-bench.sh [PYTHON] [CALLS] [RUNS]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:-/usr/bin/python3}
calls=${2:-100000}
runs=${3:-31}
cmake --preset bench >/dev/null
cmake --build --preset bench --target pyenv_java_bench >/dev/null
bin=build/bench/bin
java -Djava.library.path="$bin:build/bench/tests/java" -Dpyenv.plugin="$bin/libpyenv.so" \
  -cp "build/bench/tests/java/pyenv_java_bench.jar:$bin/pyenv.jar" \
  JavaCallBytesBench --python "$python" --calls "$calls" --runs "$runs"
