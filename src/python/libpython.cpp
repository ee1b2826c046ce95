#include "python/libpython.hpp"

#include <dlfcn.h>

#include "error.hpp"

namespace pyenv::python {

void *Api::symbol(const char *name) const {
  dlerror();
  return ::dlsym(handle, name);
}

Api load_libpython(const std::filesystem::path &path, const std::string &version) {
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
    void *found = api.symbol(name);
    if (found == nullptr) {
      close_and_fail("libpython " + path.string() + " lacks " + name + " (not a CPython " +
                     version + " library?)");
    }
    return found;
  };
#define PYENV_RESOLVE_FUNCTION(name, result, params) \
  api.name = reinterpret_cast<capi::name##_fn>(resolve(#name));
  PYENV_CAPI_FUNCTIONS(PYENV_RESOLVE_FUNCTION)
#undef PYENV_RESOLVE_FUNCTION
#define PYENV_RESOLVE_OPTIONAL(name, result, params) \
  api.name = reinterpret_cast<capi::name##_fn>(api.symbol(#name));
  PYENV_CAPI_OPTIONAL_FUNCTIONS(PYENV_RESOLVE_OPTIONAL)
#undef PYENV_RESOLVE_OPTIONAL
  api.none = static_cast<capi::PyObject *>(resolve("_Py_NoneStruct"));

  api.version = api.Py_GetVersion();
  const std::string major_minor =
      api.version.substr(0, api.version.find_first_not_of("0123456789."));
  if (major_minor != version && major_minor.compare(0, version.size() + 1, version + ".") != 0) {
    close_and_fail("libpython " + path.string() + " is Python " + major_minor +
                   ", but its file name and its environment say Python " + version);
  }
  return api;
}

}  // namespace pyenv::python
