// libcrypto, loaded when the first archive is hashed rather than with the plugin: a job
// whose archives the memo already knows, or that has none, never needs it, and mapping and
// relocating it costs every host about a millisecond at dlopen. Only its header is compiled
// against; the functions are looked up once, by name, from PYENV_LIBCRYPTO_SONAME.
#pragma once

#include <openssl/evp.h>

namespace pyenv::cache {

struct LibCrypto {
#define PYENV_LIBCRYPTO_FUNCTIONS(X) \
  X(EVP_MD_CTX_new)                  \
  X(EVP_MD_CTX_free)                 \
  X(EVP_sha256)                      \
  X(EVP_DigestInit_ex)               \
  X(EVP_DigestUpdate)                \
  X(EVP_DigestFinal_ex)
#define PYENV_LIBCRYPTO_POINTER(name) decltype(&::name) name;
  PYENV_LIBCRYPTO_FUNCTIONS(PYENV_LIBCRYPTO_POINTER)
#undef PYENV_LIBCRYPTO_POINTER
};

// The loaded library, the first call loading it (thread-safe). Throws Error(kIo) when it
// cannot be loaded or lacks a function, naming the library.
const LibCrypto &libcrypto();

}  // namespace pyenv::cache
