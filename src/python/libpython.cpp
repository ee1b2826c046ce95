#include "python/libpython.hpp"

#include <dlfcn.h>

#include "error.hpp"

namespace pyenv::python {

std::string header_version() {
  return std::to_string(PY_MAJOR_VERSION) + "." + std::to_string(PY_MINOR_VERSION);
}

Api load_libpython(const std::filesystem::path &path) {
  Api api;
  api.path = path;
  dlerror();
  api.handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (api.handle == nullptr) {
    const char *why = dlerror();
    fail(Status::kPython, "cannot load libpython " + path.string() + ": " +
                              (why != nullptr ? why : "dlopen failed"));
  }
  auto close_and_fail = [&](const std::string &message) {
    ::dlclose(api.handle);
    fail(Status::kPython, message);
  };
  auto resolve = [&](const char *name) -> void * {
    dlerror();
    void *symbol = ::dlsym(api.handle, name);
    if (symbol == nullptr) {
      close_and_fail("libpython " + path.string() + " lacks " + name + " (not a CPython " +
                     header_version() + " library?)");
    }
    return symbol;
  };
#define PYENV_RESOLVE_FUNCTION(name) \
  api.name = reinterpret_cast<decltype(api.name)>(resolve(#name));
  PYENV_PYTHON_FUNCTIONS(PYENV_RESOLVE_FUNCTION)
#undef PYENV_RESOLVE_FUNCTION
  api.none = static_cast<PyObject *>(resolve("_Py_NoneStruct"));

  api.version = api.Py_GetVersion();
  const std::string wanted = header_version();
  const std::string major_minor =
      api.version.substr(0, api.version.find_first_not_of("0123456789."));
  const bool same =
      major_minor == wanted || (major_minor.compare(0, wanted.size() + 1, wanted + ".") == 0);
  if (!same) {
    close_and_fail("libpython " + path.string() + " is Python " + major_minor +
                   ", but libpyenv embeds Python " + wanted +
                   " (the version of the headers it was built with)");
  }
  return api;
}

}  // namespace pyenv::python
