// The CPythons the version matrix runs on: the machine's 3.11, and 3.9, 3.13, 3.13t and
// 3.13s (no shared libpython: process mode only) as built by
// tests/python/cpython/build-cpython.sh, listed in its manifest.tsv (one line per build:
// version, flavour "gil", "freethreaded" or "static", archive, executable relative to the
// archive's root, install tree). Used by the matrix tests and the interpreter benchmark.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace pyenv::test {

struct MatrixPython {
  std::string name;  // "3.13t"
  std::string version;
  bool free_threaded = false;
  bool static_libpython = false;   // no libpython to embed
  std::filesystem::path archive;  // empty: the machine's own, used in place
  std::string executable;         // relative to the archive's root, else absolute
  std::filesystem::path tree;     // where it is installed (its prefix)

  // The configuration naming it, as a job would: the archive extracted as "py".
  std::string yaml() const {
    if (archive.empty()) return "python.executable: " + executable + "\n";
    return "python.archives: " + archive.string() + "#py\npython.executable: py/" + executable +
           "\n";
  }
};

inline const std::vector<std::string> &matrix_names() {
  static const std::vector<std::string> names = {"3.9", "3.11", "3.13", "3.13t"};
  return names;
}

// PYENV_PYTHON_MANIFEST, else the path the build was configured with.
inline std::string matrix_manifest() {
  const char *env = std::getenv("PYENV_PYTHON_MANIFEST");
  if (env != nullptr && *env != '\0') return env;
#ifdef PYENV_PYTHON_MANIFEST_DEFAULT
  return PYENV_PYTHON_MANIFEST_DEFAULT;
#else
  return "/var/cache/pyenv/cpython/manifest.tsv";
#endif
}

// Set by CI's matrix stage: a Python of the matrix that is not there fails instead of
// skipping.
inline bool matrix_required() {
  const char *env = std::getenv("PYENV_REQUIRE_PYTHON_MATRIX");
  return env != nullptr && std::string(env) == "1";
}

// The Python called `name`, or nullopt with `why` it is not there.
inline std::optional<MatrixPython> find_matrix_python(const std::string &name, std::string &why) {
  if (name == "3.11") {
    return MatrixPython{"3.11", "3.11", false, false, {}, "/usr/bin/python3.11", "/usr"};
  }
  const std::string manifest = matrix_manifest();
  std::ifstream in(manifest);
  if (!in) {
    why = "no manifest " + manifest +
          " (build the interpreters with tests/python/cpython/build-cpython.sh, or set "
          "PYENV_PYTHON_MANIFEST)";
    return std::nullopt;
  }
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    MatrixPython row;
    std::string flavour, archive, tree;
    if (!std::getline(fields, row.version, '\t') || !std::getline(fields, flavour, '\t') ||
        !std::getline(fields, archive, '\t') || !std::getline(fields, row.executable, '\t') ||
        !std::getline(fields, tree)) {
      continue;
    }
    row.free_threaded = flavour == "freethreaded";
    row.static_libpython = flavour == "static";
    row.name = row.version + (row.free_threaded ? "t" : row.static_libpython ? "s" : "");
    row.archive = archive;
    row.tree = tree;
    if (row.name == name) return row;
  }
  why = manifest + " lists no Python " + name;
  return std::nullopt;
}

}  // namespace pyenv::test
