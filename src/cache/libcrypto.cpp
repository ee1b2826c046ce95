#include "cache/libcrypto.hpp"

#include "util/shared_library.hpp"

#ifndef PYENV_LIBCRYPTO_SONAME
#error "build with -DPYENV_LIBCRYPTO_SONAME=\"libcrypto.so.N\" (src/CMakeLists.txt)"
#endif

namespace pyenv::cache {
namespace {

LibCrypto load() {
  const char *name = PYENV_LIBCRYPTO_SONAME;
  void *handle = open_library(name, Status::kIo, "hashing archives for the cache needs");
  LibCrypto lib{};
#define PYENV_LIBCRYPTO_RESOLVE(function) \
  resolve_function(lib.function, handle, name, #function, Status::kIo);
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
