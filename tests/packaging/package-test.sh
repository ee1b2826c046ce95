#!/usr/bin/env bash
# The DEB as a newcomer meets it: cpack builds it from the build tree, dpkg-deb unpacks it
# into a temporary root (so the package config and pyenv.pc must be relocatable), and the
# example host of packaging/example-host is built against that root with CMake
# (find_package(pyenv)) and with pkg-config, then run. A C++ host using pyenv::host and the
# packaged pyenv-host are run too, and the TGZ is checked the same way; so is the Java
# binding when the build has it (a Java host and the operator example, against the jar).
# usage: package-test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
cmake=${CMAKE:-cmake}
cpack=${CPACK:-cpack}
work=$(mktemp -d "${TMPDIR:-/tmp}/pyenv-package-test.XXXXXX")
# Extracted archive trees in the cache are read-only: open them up before removing.
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export TMPDIR=$work/tmp  # the jobs' base directories and archive cache
mkdir -p "$TMPDIR"

step() { echo "== $*"; }
fail() {
  echo "FAILED: $*" >&2
  exit 1
}
# Runs a command, showing its output only when it fails.
quiet() {
  local log=$work/quiet.log
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    fail "$*"
  fi
}
expect_in() {  # expect_in NEEDLE FILE
  grep -qF -- "$1" "$2" || { cat "$2" >&2; fail "\"$1\" not in $2"; }
}

step "cpack -G DEB;TGZ"
quiet "$cpack" -G "DEB;TGZ" --config "$build/CPackConfig.cmake" -B "$work/out"
deb=$(ls "$work"/out/*.deb)
tgz=$(ls "$work"/out/*.tar.gz)
echo "$deb ($(du -h "$deb" | cut -f1)), $tgz"

step "DEB control fields"
dpkg-deb -f "$deb" Package Version Maintainer Depends Description | tee "$work/control"
depends=$(dpkg-deb -f "$deb" Depends)
# Computed by dpkg-shlibdeps from what the plugin and pyenv-host link; libarchive and
# libcrypto (libssl3), which the plugin loads with dlopen, are declared (packaging/CMakeLists.txt).
for lib in libc6 libstdc++6 libarchive libssl libyaml-cpp libboost-filesystem; do
  [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done
[ -n "$(dpkg-deb -f "$deb" Maintainer)" ] || fail "no Maintainer"

step "unpack into a temporary root"
dpkg-deb -x "$deb" "$work/root"
prefix=$work/root/usr
for f in lib/pyenv/libpyenv.so include/pyenv/pyenv.h include/pyenv/host.hpp bin/pyenv-host \
         lib/cmake/pyenv/pyenvConfig.cmake lib/cmake/pyenv/pyenvConfigVersion.cmake \
         lib/pkgconfig/pyenv.pc share/pyenv/examples/example.yaml \
         share/pyenv/examples/venv-archive.yaml share/pyenv/examples/venv.zip \
         share/pyenv/examples/requirements/wheels/tinyjob-1.0-py3-none-any.whl; do
  [ -e "$prefix/$f" ] || fail "the package lacks /usr/$f"
done
examples=$prefix/share/pyenv/examples

step "out-of-tree host with CMake: find_package(pyenv), CMAKE_PREFIX_PATH=<root>/usr"
quiet "$cmake" -S "$src/packaging/example-host" -B "$work/cmake-host" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release
quiet "$cmake" --build "$work/cmake-host"
"$work/cmake-host/example_host" "$examples/venv-archive.yaml" greeting:greet world \
  >"$work/cmake-host.out" 2>"$work/cmake-host.err" ||
  { cat "$work/cmake-host.err" >&2; fail "example_host (CMake) failed"; }
cat "$work/cmake-host.out"
# The plugin it loaded is the unpacked one, found through the package.
expect_in "from $prefix/lib/pyenv/libpyenv.so" "$work/cmake-host.err"
expect_in '"python_home": "' "$work/cmake-host.out"
expect_in "greeting:greet(world) = hello, world" "$work/cmake-host.out"

step "out-of-tree host with pkg-config: PKG_CONFIG_PATH=<root>/usr/lib/pkgconfig"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
plugindir=$(pkg-config --variable=plugindir pyenv)
[ "$(cd "$plugindir" && pwd)" = "$prefix/lib/pyenv" ] ||
  fail "plugindir is $plugindir, not in the unpacked root"
[ -z "$(pkg-config --libs pyenv | tr -d ' ')" ] || fail "pyenv.pc has Libs: $(pkg-config --libs pyenv)"
quiet "$src/packaging/example-host/build-with-pkg-config.sh" "$work/pc-host"
"$work/pc-host" "$examples/example.yaml" wordcount:count_words "three small words" \
  >"$work/pc-host.out" 2>"$work/pc-host.err" ||
  { cat "$work/pc-host.err" >&2; fail "example_host (pkg-config) failed"; }
cat "$work/pc-host.out"
expect_in "lib/pyenv/libpyenv.so" "$work/pc-host.err"
expect_in "wordcount:count_words(three small words) = 3" "$work/pc-host.out"
unset PKG_CONFIG_PATH

step "C++ host with find_package(pyenv COMPONENTS host): pyenv::host, PYENV_PLUGIN_PATH"
mkdir -p "$work/cxx-host-src"
cat >"$work/cxx-host-src/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(cxx_host LANGUAGES CXX)
find_package(pyenv REQUIRED COMPONENTS host)
get_target_property(plugin pyenv::plugin IMPORTED_LOCATION)
if(NOT plugin STREQUAL PYENV_PLUGIN_PATH)
  message(FATAL_ERROR "pyenv::plugin is ${plugin}, PYENV_PLUGIN_PATH is ${PYENV_PLUGIN_PATH}")
endif()
add_executable(cxx_host main.cpp)
target_link_libraries(cxx_host PRIVATE pyenv::host)
target_compile_definitions(cxx_host PRIVATE PLUGIN="${PYENV_PLUGIN_PATH}"
  EXAMPLE="${PYENV_EXAMPLES_DIR}/example.yaml")
CMAKE
cat >"$work/cxx-host-src/main.cpp" <<'CPP'
#include <pyenv/host.hpp>
#include <cstdlib>
#include <iostream>
int main() {
  pyenv::host::Plugin plugin = pyenv::host::Plugin::load(PLUGIN);
  pyenv::host::Options options;
  options.job_id = "cxx-host";
  options.tmp_dirs = {std::getenv("TMPDIR")};
  options.config_file = EXAMPLE;
  pyenv::host::Manager manager = plugin.create(options);
  manager.open();
  std::cout << "libpyenv " << plugin.version() << ": " << manager.create_environment().to_json()
            << "\n";
  manager.close();
}
CPP
quiet "$cmake" -S "$work/cxx-host-src" -B "$work/cxx-host" -DCMAKE_PREFIX_PATH="$prefix"
quiet "$cmake" --build "$work/cxx-host"
"$work/cxx-host/cxx_host" >"$work/cxx-host.out" || fail "cxx_host failed"
expect_in '"python_exec": "python3"' "$work/cxx-host.out"

step "the packaged pyenv-host finds its plugin and examples"
"$prefix/bin/pyenv-host" env >"$work/pyenv-host.out" || fail "pyenv-host env failed"
expect_in '"python_exec": "python3"' "$work/pyenv-host.out"

step "TGZ: the same tree, relocatable"
mkdir -p "$work/tgz"
tar -xzf "$tgz" -C "$work/tgz"
tgz_prefix=$(dirname "$(dirname "$(find "$work/tgz" -path '*/bin/pyenv-host')")")
"$tgz_prefix/bin/pyenv-host" env >"$work/tgz-host.out" || fail "pyenv-host from the TGZ failed"
expect_in '"python_exec": "python3"' "$work/tgz-host.out"
[ "$(PKG_CONFIG_PATH=$tgz_prefix/lib/pkgconfig pkg-config --variable=plugin pyenv)" -ef \
  "$tgz_prefix/lib/pyenv/libpyenv.so" ] || fail "pyenv.pc of the TGZ does not name its plugin"

# The Java binding, when this build made it: pyenv.jar finds libpyenv_jni.so and the plugin
# from its own location in the unpacked root, with nothing on java.library.path.
if [ -e "$build/bin/pyenv.jar" ]; then
  step "Java: pyenv.jar and libpyenv_jni.so through the package, a Java host, the operator example"
  for f in share/java/pyenv.jar lib/pyenv/libpyenv_jni.so \
           share/pyenv/examples/java-operator/FlinkStyleOperator.java; do
    [ -e "$prefix/$f" ] || fail "the package lacks /usr/$f"
  done
  jar=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --variable=jar pyenv)
  [ "$jar" -ef "$prefix/share/java/pyenv.jar" ] || fail "pyenv.pc names jar $jar"
  mkdir -p "$work/java-cmake-src"
  cat >"$work/java-cmake-src/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(java_host NONE)
find_package(pyenv REQUIRED COMPONENTS java)
message(STATUS "PYENV_JAR=${PYENV_JAR}")
CMAKE
  "$cmake" -S "$work/java-cmake-src" -B "$work/java-cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    >"$work/java-cmake.out" 2>&1 || { cat "$work/java-cmake.out" >&2; fail "find_package(pyenv COMPONENTS java)"; }
  expect_in "PYENV_JAR=$prefix/share/java/pyenv.jar" "$work/java-cmake.out"

  mkdir -p "$work/java-host"
  cat >"$work/java-host/Host.java" <<'JAVA'
import java.util.Map;
import org.libpyenv.*;
public class Host {
  public static void main(String[] args) {
    System.out.println("plugin " + Pyenv.pluginPath());
    try (PythonEnvironmentManager manager = PythonEnvironmentManager.fromConfigFile(
            "java-host", new String[] {args[1]}, Map.of(), java.nio.file.Path.of(args[0]))) {
      manager.open();
      try (EmbeddedPythonEnvironment env = manager.createEnvironment();
          PythonInterpreter python = env.getInterpreter()) {
        System.out.println(env.toJson());
        System.out.println("count = " + new String(python.callBytes("wordcount:count_words",
            "three small words".getBytes())));
      }
    }
  }
}
JAVA
  quiet "${JAVAC:-javac}" -cp "$jar" -d "$work/java-host" "$work/java-host/Host.java"
  "${JAVA:-java}" -Xcheck:jni -cp "$jar:$work/java-host" Host "$examples/example.yaml" "$TMPDIR" \
    >"$work/java-host.out" 2>"$work/java-host.err" ||
    { cat "$work/java-host.err" >&2; fail "the Java host failed"; }
  cat "$work/java-host.out"
  expect_in "plugin $prefix/lib/pyenv/libpyenv.so" "$work/java-host.out"
  expect_in "count = 3" "$work/java-host.out"

  mkdir -p "$work/java-operator"
  quiet "${JAVAC:-javac}" -cp "$jar" -d "$work/java-operator" \
    "$examples/java-operator/FlinkStyleOperator.java"
  "${JAVA:-java}" -cp "$jar:$work/java-operator" FlinkStyleOperator "$examples/example.yaml" \
    "$examples/example/records.txt" "$TMPDIR" >"$work/java-operator.out" 2>&1 ||
    { cat "$work/java-operator.out" >&2; fail "the Java operator example failed"; }
  expect_in "OK" "$work/java-operator.out"
else
  echo "== Java: the binding is not built in $build (no JDK found): not checked"
fi

[ -z "$(ls -A "$TMPDIR" | grep python-dist- || true)" ] || fail "base directories left behind"
echo "OK"
