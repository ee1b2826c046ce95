// Every function libpyenv resolves from a libpython, as weak do-nothing definitions:
// fake_libpython.cpp overrides those whose behaviour a test needs.
#include "python/capi.hpp"

using namespace pyenv::python::capi;

template <class T>
T zero() {
  return T();
}
template <>
void zero<void>() {}

#define PYENV_FAKE_STUB(name, result, params)                                  \
  extern "C" __attribute__((weak, visibility("default"))) result name params { \
    return zero<result>();                                                     \
  }
PYENV_CAPI_FUNCTIONS(PYENV_FAKE_STUB)
PYENV_CAPI_PEP587_FUNCTIONS(PYENV_FAKE_STUB)
#undef PYENV_FAKE_STUB
