// The CPython C API as a table of functions resolved with dlsym from a libpython loaded at
// run time. libpyenv never links libpython and never calls into it directly: the library
// comes from each environment, so the plugin must load without one, and any version from
// 3.9 to 3.15 may be the one loaded. The declarations are libpyenv's own (capi.hpp), never
// Python.h's.
#pragma once

#include <filesystem>
#include <string>

#include "python/capi.hpp"

namespace pyenv::python {

// One loaded libpython. Never unloaded: a started CPython cannot be unloaded, and one that
// failed to start may have left state behind.
struct Api {
#define PYENV_DECLARE_FUNCTION(name, result, params) capi::name##_fn name = nullptr;
  PYENV_CAPI_FUNCTIONS(PYENV_DECLARE_FUNCTION)
  PYENV_CAPI_OPTIONAL_FUNCTIONS(PYENV_DECLARE_FUNCTION)  // nullptr where the library lacks it
#undef PYENV_DECLARE_FUNCTION
  capi::PyObject *none = nullptr;  // &_Py_NoneStruct
  void *handle = nullptr;
  std::filesystem::path path;
  std::string version;  // Py_GetVersion(): "3.11.2 (main, ...) [GCC 12.2.0]"

  // `name` from the library, or nullptr.
  void *symbol(const char *name) const;
};

// dlopen()s `path` with RTLD_GLOBAL (extension modules, like Debian's lib-dynload, are not
// linked against libpython and expect its symbols in the global scope), resolves the table
// and checks that the library is the Python `version` ("3.13") that its file name, the
// executable or the standard library said, so that start-up takes that version's path.
// Throws Error(kPython) naming the library, the missing symbol or both versions; the
// library is closed again then.
Api load_libpython(const std::filesystem::path &path, const std::string &version);

}  // namespace pyenv::python
