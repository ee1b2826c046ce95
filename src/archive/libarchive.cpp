#include "archive/libarchive.hpp"

#include <dlfcn.h>

#include <string>

#include "error.hpp"

#ifndef PYENV_LIBARCHIVE_SONAME
#error "build with -DPYENV_LIBARCHIVE_SONAME=\"libarchive.so.N\" (src/CMakeLists.txt)"
#endif

namespace pyenv::archive {
namespace {

LibArchive load() {
  const char *name = PYENV_LIBARCHIVE_SONAME;
  // Never unloaded: hosts that dlclose and dlopen the plugin again find it loaded.
  void *handle = ::dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char *why = ::dlerror();
    fail(Status::kArchive, std::string("tar archives need ") + name + ", which cannot be loaded: " +
                               (why ? why : "unknown error") + " (install libarchive13)");
  }
  LibArchive lib{};
  auto resolve = [&](auto &slot, const char *symbol) {
    void *address = ::dlsym(handle, symbol);
    if (address == nullptr) {
      fail(Status::kArchive, std::string(name) + " has no function " + symbol);
    }
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(address);
  };
#define PYENV_LIBARCHIVE_RESOLVE(function) resolve(lib.function, #function);
  PYENV_LIBARCHIVE_FUNCTIONS(PYENV_LIBARCHIVE_RESOLVE)
#undef PYENV_LIBARCHIVE_RESOLVE
  return lib;
}

}  // namespace

const LibArchive &libarchive() {
  // A failure throws out of the initialiser, so the next tar tries again.
  static const LibArchive lib = load();
  return lib;
}

}  // namespace pyenv::archive
