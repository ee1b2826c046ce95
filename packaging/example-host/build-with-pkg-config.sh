#!/bin/sh
# Builds example_host with pkg-config instead of CMake. The package's pyenv.pc gives the
# include flags and the plugin's path; there is nothing to link but libdl.
#   PKG_CONFIG_PATH=<prefix>/lib/pkgconfig ./build-with-pkg-config.sh [OUTPUT]
set -eu
here=$(dirname "$0")
out=${1:-example_host}
${CC:-cc} -std=c99 -Wall -Wextra \
  $(pkg-config --cflags pyenv) \
  -DPYENV_PLUGIN_PATH="\"$(pkg-config --variable=plugindir pyenv)/libpyenv.so\"" \
  "$here/example_host.c" -o "$out" -ldl
