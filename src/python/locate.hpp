// Where an environment's CPython lives: its executable, the home of its standard library and
// its libpython, found from the environment itself (nothing needs to be installed into it).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "env/environment.hpp"
#include "util/log.hpp"

namespace pyenv::python {

namespace fs = std::filesystem;

struct PythonLayout {
  // Absolute; its directory resolved, its own name kept, so that a venv's bin/python (a link
  // to the base interpreter) still names the venv.
  fs::path executable;
  // The resolved prefix holding lib/python3.X (for a venv: its base interpreter's prefix).
  fs::path home;
  // The venv directory (with pyvenv.cfg) when the executable belongs to one; site.py
  // activates it from sys.executable.
  std::optional<fs::path> venv;
  // The standard library's entries of sys.path: lib/python3X.zip (when present),
  // lib/python3.X and lib/python3.X/lib-dynload, all under `home`.
  std::vector<std::string> stdlib_paths;
  fs::path libpython;   // resolved
  std::string version;  // "3.11": of the library file's name (or what the executable said)

  // What must be equal for two environments to share one running CPython.
  bool same_python(const PythonLayout &other) const {
    return home == other.home && venv == other.venv && libpython == other.libpython;
  }
  // "home /usr (libpython /usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0)", for messages.
  std::string describe() const;
};

// What env's relative paths (its executable, PYTHONPATH entries) are relative to, where
// Python runs: its working directory, else the process's.
fs::path relative_root(const Environment &env);

// Resolves the layout of env's Python for an embedder built against Python
// `supported_version` ("3.11"). Touches only the file system, except when the executable
// is a wrapper script or its prefix holds no libpython: then the executable is asked (run
// without a shell, with -I -S -c and sysconfig; answers are remembered per executable).
//
// Throws Error(kPython) naming what is missing and every place it looked: no executable,
// a home without a standard library, a Python of another version than `supported_version`
// (naming both), no libpython.
PythonLayout locate_python(const Environment &env, const std::string &supported_version,
                           const Logger &log);

}  // namespace pyenv::python
