#include "util/shared_library.hpp"

#include <dlfcn.h>

namespace pyenv {

void *open_library(const char *soname, Status status, const std::string &needed_by,
                   const std::string &advice) {
  void *handle = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char *why = ::dlerror();
    fail(status, needed_by + " " + soname +
                     ", which cannot be loaded: " + (why ? why : "unknown error") + advice);
  }
  return handle;
}

void *library_symbol(void *handle, const char *soname, const char *symbol, Status status) {
  void *address = ::dlsym(handle, symbol);
  if (address == nullptr) fail(status, std::string(soname) + " has no function " + symbol);
  return address;
}

bool keep_this_library_loaded() {
  Dl_info self{};
  return ::dladdr(reinterpret_cast<void *>(&keep_this_library_loaded), &self) != 0 &&
         self.dli_fname != nullptr &&
         ::dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != nullptr;
}

}  // namespace pyenv
