#include "archive/libarchive.hpp"

#include "util/shared_library.hpp"

#ifndef PYENV_LIBARCHIVE_SONAME
#error "build with -DPYENV_LIBARCHIVE_SONAME=\"libarchive.so.N\" (src/CMakeLists.txt)"
#endif

namespace pyenv::archive {
namespace {

LibArchive load() {
  const char *name = PYENV_LIBARCHIVE_SONAME;
  void *handle =
      open_library(name, Status::kArchive, "tar archives need", " (install libarchive13)");
  LibArchive lib{};
#define PYENV_LIBARCHIVE_RESOLVE(function) \
  resolve_function(lib.function, handle, name, #function, Status::kArchive);
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
