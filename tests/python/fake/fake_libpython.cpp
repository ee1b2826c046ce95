// A "libpython3.12.so.1.0" that is not CPython: it exports what libpyenv resolves and
// misbehaves at start-up in the way FAKE_LIBPYTHON names, so that the tests can show
// libpyenv refusing cleanly (an error status, never a crash or an exit):
//   preconfig-grown  PyPreConfig_InitIsolatedConfig writes 44 bytes, not 40
//   preconfig-values it writes the 40 bytes, but not the isolated values
//   config-overrun   PyConfig_InitIsolatedConfig writes past 8 KiB
//   init-error       Py_InitializeFromConfig returns an error status
//   init-exit        Py_InitializeFromConfig returns an exit status
#include <cstdlib>
#include <cstring>
#include <string>

#include "python/capi.hpp"

using namespace pyenv::python::capi;

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

extern "C" {
__attribute__((visibility("default"))) char _Py_NoneStruct[64];  // a definition: braces
}

namespace {
bool mode(const char *name) {
  const char *set = std::getenv("FAKE_LIBPYTHON");
  return set != nullptr && std::strcmp(set, name) == 0;
}
}  // namespace

FAKE_EXPORT const char *Py_GetVersion(void) { return "3.12.99 (fake)"; }

FAKE_EXPORT void PyPreConfig_InitIsolatedConfig(PyPreConfig *config) {
  int fields[11] = {3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  if (mode("preconfig-values")) fields[2] = 0;
  std::memcpy(config, fields, mode("preconfig-grown") ? 44 : 40);
}

FAKE_EXPORT void PyConfig_InitIsolatedConfig(PyConfig *config) {
  const int isolated = 3;
  std::memcpy(config, &isolated, sizeof isolated);
  if (mode("config-overrun")) std::memset(reinterpret_cast<char *>(config) + 9000, 0, 8);
}

FAKE_EXPORT PyStatus Py_InitializeFromConfig(const PyConfig *) {
  if (mode("init-exit")) return PyStatus{2, nullptr, nullptr, 7};
  return PyStatus{1, "fake_init", "the fake cannot start", 0};
}

FAKE_EXPORT wchar_t *Py_DecodeLocale(const char *text, size_t *) {
  const size_t n = std::strlen(text);
  auto *out = static_cast<wchar_t *>(std::calloc(n + 1, sizeof(wchar_t)));
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(text[i]);
  return out;
}

FAKE_EXPORT void PyMem_RawFree(void *p) { std::free(p); }
