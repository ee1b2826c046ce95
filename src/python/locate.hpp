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

// The CPython versions libpyenv embeds: 3.9 to 3.15 (DESIGN.md section 6).
constexpr int kOldestMinor = 9;
constexpr int kNewestMinor = 15;
std::string supported_range();  // "3.9 to 3.15"

// A CPython build as its file names tell it: "3.13" and "t" for libpython3.13t.so,
// python3.13t and lib/python3.13t/.
struct Flavour {
  std::string version;   // "3.13"
  std::string abiflags;  // "", "t" (free-threaded), "d" (debug), "td"
  bool free_threaded() const { return abiflags.find('t') != std::string::npos; }
  // "3.13" or "3.13 (free-threaded)", for messages.
  std::string describe() const;
  bool same_build(const Flavour &other) const {
    return version == other.version && free_threaded() == other.free_threaded();
  }
};

struct PythonLayout {
  // Absolute; its directory resolved, its own name kept, so that a venv's bin/python (a link
  // to the base interpreter) still names the venv.
  fs::path executable;
  // The resolved prefix holding lib/python3.X (for a venv: its base interpreter's prefix).
  fs::path home;
  // The venv directory (with pyvenv.cfg) when the executable belongs to one; site.py
  // activates it from sys.executable.
  std::optional<fs::path> venv;
  fs::path libpython;  // resolved
  // Of the standard library's directory, the library's file name, the executable's name or
  // what the executable said, whichever told first; all that told agree.
  Flavour flavour;

  // What must be equal for two environments to share one running CPython.
  bool same_python(const PythonLayout &other) const {
    return home == other.home && venv == other.venv && libpython == other.libpython;
  }
  // "home /usr, libpython /usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", for messages.
  std::string describe() const;
};

// What env's relative paths (its executable, PYTHONPATH entries) are relative to, where
// Python runs: its working directory, else the process's.
fs::path relative_root(const Environment &env);

// Resolves the layout of env's Python and its version and flavour, before anything is
// loaded. Touches only the file system, except when the executable is a wrapper script or
// its prefix holds no libpython: then the executable is asked (run without a shell, with
// -I -S -c and sysconfig; answers are remembered per executable).
//
// Throws Error(kPython) naming what is missing and every place it looked: no executable,
// a home without a standard library, a version outside 3.9 to 3.15 (naming it and the
// range), names that disagree on the version (naming both), no libpython.
PythonLayout locate_python(const Environment &env, const Logger &log);

}  // namespace pyenv::python
