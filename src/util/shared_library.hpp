// Libraries the plugin loads on first use rather than at its own dlopen (libarchive,
// libcrypto): opened once and never unloaded (a host that dlcloses and dlopens the plugin
// again finds them loaded), their functions looked up by name into a table of pointers.
#pragma once

#include <string>
#include <type_traits>

#include "error.hpp"

namespace pyenv {

// dlopen(soname, RTLD_NOW | RTLD_LOCAL). Throws Error(status):
// "<needed_by> <soname>, which cannot be loaded: <dlerror><advice>".
void *open_library(const char *soname, Status status, const std::string &needed_by,
                   const std::string &advice = "");

// dlsym(handle, symbol); throws Error(status): "<soname> has no function <symbol>".
void *library_symbol(void *handle, const char *soname, const char *symbol, Status status);

// Fills `slot` (a function pointer) with `symbol`, as library_symbol.
template <class Pointer>
void resolve_function(Pointer &slot, void *handle, const char *soname, const char *symbol,
                      Status status) {
  static_assert(std::is_pointer_v<Pointer>);
  slot = reinterpret_cast<Pointer>(library_symbol(handle, soname, symbol, status));
}

// Keeps the library holding this code (the plugin) loaded until the process ends, whatever
// dlclose the host calls: for state that must outlive a dlclose (a running CPython, the
// thread that supervises worker processes). False when that cannot be done.
bool keep_this_library_loaded();

}  // namespace pyenv
