#include "cache/libcrypto.hpp"

#include <dlfcn.h>

#include <string>
#include <type_traits>

#include "error.hpp"

#ifndef PYENV_LIBCRYPTO_SONAME
#error "build with -DPYENV_LIBCRYPTO_SONAME=\"libcrypto.so.N\" (src/CMakeLists.txt)"
#endif

namespace pyenv::cache {
namespace {

LibCrypto load() {
  const char *name = PYENV_LIBCRYPTO_SONAME;
  // Never unloaded: hosts that dlclose and dlopen the plugin again find it loaded.
  void *handle = ::dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char *why = ::dlerror();
    fail(Status::kIo, std::string("hashing archives for the cache needs ") + name +
                          ", which cannot be loaded: " + (why ? why : "unknown error"));
  }
  LibCrypto lib{};
  auto resolve = [&](auto &slot, const char *symbol) {
    void *address = ::dlsym(handle, symbol);
    if (address == nullptr) fail(Status::kIo, std::string(name) + " has no function " + symbol);
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(address);
  };
#define PYENV_LIBCRYPTO_RESOLVE(function) resolve(lib.function, #function);
  PYENV_LIBCRYPTO_FUNCTIONS(PYENV_LIBCRYPTO_RESOLVE)
#undef PYENV_LIBCRYPTO_RESOLVE
  return lib;
}

}  // namespace

const LibCrypto &libcrypto() {
  // A failure throws out of the initialiser, so the next hash tries again.
  static const LibCrypto lib = load();
  return lib;
}

}  // namespace pyenv::cache
