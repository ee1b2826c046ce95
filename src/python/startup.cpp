// How each CPython version is started, in one place. Everything else in src/python/ is the
// same for every version.
//
// 3.14 and later: PEP 741 (PyInitConfig_Create, PyInitConfig_SetInt/SetStr,
// Py_InitializeFromInitConfig). The configuration is opaque and set by option name, so
// nothing here depends on a struct layout. PyInitConfig_Create starts from the isolated
// configuration (Doc/c-api/init_config.rst of 3.14); the options are the PyConfig and
// PyPreConfig members listed in PYCONFIG_SPEC and PYPRECONFIG_SPEC of Python/initconfig.c
// (3.14: every option set below is there). Designed from the documentation and sources: no
// 3.14 or 3.15 build is reachable here to test against.
//
// 3.9 to 3.13: PEP 587, whose PyConfig changes layout in every minor. libpyenv never reads
// or writes a PyConfig field. PyConfig_InitIsolatedConfig fills an opaque, generously sized
// buffer, and Py_InitializeFromConfig reads it; home and program name come from the legacy
// setters Py_SetPythonHome and Py_SetProgramName, which the configuration reads while its
// own fields are unset: config_init_home and config_init_program_name in
// Python/initconfig.c of 3.9 and 3.10, _PyPathConfig_ReadGlobal (copying home and
// program_name when the config has none) called first by _PyConfig_InitPathConfig in 3.11,
// 3.12 and 3.13. getpath then derives the executable from the absolute program name
// (sys.executable, and a venv's pyvenv.cfg beside it) and the standard library from home.
// The isolated defaults relied upon, set by PyConfig_InitIsolatedConfig in every one of
// those versions: isolated = 1, use_environment = 0, user_site_directory = 0,
// install_signal_handlers = 0, pathconfig_warnings = 0; parse_argv stays 0.
// Unlike Py_InitializeEx, which exit()s the process on failure, Py_InitializeFromConfig
// returns a PyStatus (capi.hpp: the same layout in every version).
//
// UTF-8 mode is a PyPreConfig member, and the isolated pre-configuration sets it to 0. The
// PyPreConfig struct is ten ints on Linux, the same from 3.8 to 3.14 (Include/cpython/
// initconfig.h of 3.11, 3.12, 3.14 read): _config_init, parse_argv, isolated,
// use_environment, configure_locale, coerce_c_locale, coerce_c_locale_warn, utf8_mode,
// dev_mode, allocator. It is still not trusted blindly: PyPreConfig_InitIsolatedConfig
// writes it with memset(0) then the isolated values, so the buffer is filled with a pattern
// first, and utf8_mode is written only when exactly those 40 bytes changed and hold exactly
// the isolated values. Anything else refuses to start, naming the library.
#include "python/startup.hpp"

#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "error.hpp"

namespace pyenv::python {
namespace {

using capi::PyStatus;

std::pair<int, int> major_minor(const std::string &version) {
  const auto dot = version.find('.');
  return {std::stoi(version.substr(0, dot)), std::stoi(version.substr(dot + 1))};
}

// ---------------------------------------------------------------------------------------
// 3.14 and later.

template <class Fn>
Fn resolve(const Api &api, const char *name) {
  void *found = api.symbol(name);
  if (found == nullptr) {
    fail(Status::kPython, "libpython " + api.path.string() + " lacks " + name +
                              ", which its version documents for embedding");
  }
  return reinterpret_cast<Fn>(found);
}

struct Pep741 {
#define PYENV_DECLARE_FUNCTION(name, result, params) capi::name##_fn name = nullptr;
  PYENV_CAPI_PEP741_FUNCTIONS(PYENV_DECLARE_FUNCTION)
#undef PYENV_DECLARE_FUNCTION
  explicit Pep741(const Api &api) {
#define PYENV_RESOLVE_FUNCTION(name, result, params) name = resolve<capi::name##_fn>(api, #name);
    PYENV_CAPI_PEP741_FUNCTIONS(PYENV_RESOLVE_FUNCTION)
#undef PYENV_RESOLVE_FUNCTION
  }
};

void start_pep741(const Api &api, const StartOptions &options) {
  const Pep741 c(api);
  struct Free {
    const Pep741 *c;
    void operator()(capi::PyInitConfig *config) const { c->PyInitConfig_Free(config); }
  };
  std::unique_ptr<capi::PyInitConfig, Free> config(c.PyInitConfig_Create(), Free{&c});
  if (!config) fail(Status::kNoMemory, "python: PyInitConfig_Create: no memory");
  auto failed = [&](const std::string &what) {
    const char *message = nullptr;
    c.PyInitConfig_GetError(config.get(), &message);
    int code = 0;
    if (c.PyInitConfig_GetExitCode(config.get(), &code) == 1) {
      fail(Status::kPython,
           "python: " + what + " failed: CPython asked to exit with code " + std::to_string(code));
    }
    fail(Status::kPython, "python: " + what + " failed" +
                              (message != nullptr ? std::string(": ") + message : std::string()));
  };
  // Values already isolated by default are set again: the host's safety must not depend on
  // a default a later version could change.
  const std::pair<const char *, int> ints[] = {
      {"isolated", 1},
      {"use_environment", 0},
      {"user_site_directory", 0},
      {"install_signal_handlers", 0},
      {"parse_argv", 0},
      {"configure_c_stdio", 0},
      {"configure_locale", 0},
      {"utf8_mode", 1},
      {"pathconfig_warnings", 0},
      {"site_import", 1},
  };
  for (const auto &[name, value] : ints) {
    if (c.PyInitConfig_SetInt(config.get(), name, value) < 0) {
      failed(std::string("setting the option ") + name);
    }
  }
  const std::pair<const char *, std::string> strings[] = {
      {"home", options.home.string()},
      {"program_name", options.executable.string()},
      {"executable", options.executable.string()},
  };
  for (const auto &[name, value] : strings) {
    if (c.PyInitConfig_SetStr(config.get(), name, value.c_str()) < 0) {
      failed(std::string("setting the option ") + name);
    }
  }
  if (c.Py_InitializeFromInitConfig(config.get()) < 0) failed("starting CPython");
}

// ---------------------------------------------------------------------------------------
// 3.9 to 3.13.

struct Pep587 {
#define PYENV_DECLARE_FUNCTION(name, result, params) capi::name##_fn name = nullptr;
  PYENV_CAPI_PEP587_FUNCTIONS(PYENV_DECLARE_FUNCTION)
#undef PYENV_DECLARE_FUNCTION
  explicit Pep587(const Api &api) {
#define PYENV_RESOLVE_FUNCTION(name, result, params) name = resolve<capi::name##_fn>(api, #name);
    PYENV_CAPI_PEP587_FUNCTIONS(PYENV_RESOLVE_FUNCTION)
#undef PYENV_RESOLVE_FUNCTION
  }
};

void check(const PyStatus &status, const std::string &what) {
  if (status.type == 0) return;
  std::string message = "python: " + what + " failed";
  if (status.type == 2) {
    message += ": CPython asked to exit with code " + std::to_string(status.exitcode);
  } else {
    if (status.func != nullptr) message += std::string(": ") + status.func;
    if (status.err_msg != nullptr) message += std::string(": ") + status.err_msg;
  }
  fail(Status::kPython, message);
}

constexpr unsigned char kUnwritten = 0xA5;

// An opaque buffer for a struct CPython fills in, with room to spare, aligned for anything.
template <size_t N>
struct alignas(64) Opaque {
  unsigned char bytes[N];
  Opaque() { std::memset(bytes, kUnwritten, N); }
  // Whether bytes [from, N) are as they were before CPython wrote the struct.
  bool untouched_from(size_t from) const {
    for (size_t i = from; i < N; ++i) {
      if (bytes[i] != kUnwritten) return false;
    }
    return true;
  }
  template <class T>
  T *as() {
    return reinterpret_cast<T *>(bytes);
  }
};

// PyPreConfig on Linux, 3.8 to 3.14: ten ints (see the top of this file).
enum PreConfigField : size_t {
  kConfigInit,
  kParseArgv,
  kIsolated,
  kUseEnvironment,
  kConfigureLocale,
  kCoerceCLocale,
  kCoerceCLocaleWarn,
  kUtf8Mode,
  kDevMode,
  kAllocator,
  kPreConfigFields
};
constexpr size_t kPreConfigSize = kPreConfigFields * sizeof(int);
constexpr int kConfigInitIsolated = 3;  // _PyConfig_INIT_ISOLATED, 3.8 to 3.14

int field(const Opaque<256> &pre, PreConfigField f) {
  int value = 0;
  std::memcpy(&value, pre.bytes + f * sizeof(int), sizeof value);
  return value;
}

void set_field(Opaque<256> &pre, PreConfigField f, int value) {
  std::memcpy(pre.bytes + f * sizeof(int), &value, sizeof value);
}

// The isolated pre-configuration with UTF-8 mode, or Error(kPython) when the library's
// PyPreConfig is not the one described above.
void preinitialize(const Api &api, const Pep587 &c) {
  Opaque<256> pre;
  c.PyPreConfig_InitIsolatedConfig(pre.as<capi::PyPreConfig>());
  const int expected[kPreConfigFields] = {kConfigInitIsolated, 0, 1, 0, 0, 0, 0, 0, 0, 0};
  bool known = pre.untouched_from(kPreConfigSize);
  for (size_t f = 0; f < kPreConfigFields; ++f) {
    known = known && field(pre, static_cast<PreConfigField>(f)) == expected[f];
  }
  if (!known) {
    fail(Status::kPython, "libpython " + api.path.string() +
                              ": its PyPreConfig is not laid out as in CPython 3.8 to 3.14, so "
                              "libpyenv cannot set UTF-8 mode safely; not starting it");
  }
  set_field(pre, kUtf8Mode, 1);
  check(c.Py_PreInitialize(pre.as<capi::PyPreConfig>()), "pre-initialising CPython");
}

// Decoded by CPython itself, after pre-initialisation (so in UTF-8 mode), as it decodes argv.
// Kept for the life of the process: 3.9 and 3.10 document the setters' arguments as static
// storage.
const wchar_t *kept_wide(const Pep587 &c, const std::string &text) {
  static std::mutex mutex;
  static std::vector<std::wstring> *kept = new std::vector<std::wstring>;
  wchar_t *decoded = c.Py_DecodeLocale(text.c_str(), nullptr);
  if (decoded == nullptr) fail(Status::kNoMemory, "python: cannot decode \"" + text + "\"");
  std::lock_guard<std::mutex> lock(mutex);
  kept->emplace_back(decoded);
  c.PyMem_RawFree(decoded);
  return kept->back().c_str();
}

void start_pep587(const Api &api, const StartOptions &options) {
  const Pep587 c(api);
  preinitialize(api, c);
  c.Py_SetPythonHome(kept_wide(c, options.home.string()));
  c.Py_SetProgramName(kept_wide(c, options.executable.string()));

  // PyConfig is a few hundred bytes in every version (3.13: about 500); 8 KiB spare are
  // checked untouched, so a version that outgrew the buffer is refused, never overrun
  // silently.
  auto config = std::make_unique<Opaque<16384>>();
  c.PyConfig_InitIsolatedConfig(config->as<capi::PyConfig>());
  int config_init = 0;
  std::memcpy(&config_init, config->bytes, sizeof config_init);
  if (config_init != kConfigInitIsolated || !config->untouched_from(8192)) {
    fail(Status::kPython, "libpython " + api.path.string() +
                              ": PyConfig_InitIsolatedConfig did not fill a PyConfig as "
                              "CPython 3.9 to 3.13 do; not starting it");
  }
  struct Clear {
    const Pep587 &c;
    Opaque<16384> &config;
    ~Clear() { c.PyConfig_Clear(config.as<capi::PyConfig>()); }
  } clear{c, *config};
  check(c.Py_InitializeFromConfig(config->as<capi::PyConfig>()), "starting CPython");
}

}  // namespace

void start_cpython(const Api &api, const StartOptions &options) {
  const auto [major, minor] = major_minor(options.version);
  if (major == 3 && minor >= 14) {
    start_pep741(api, options);
  } else {
    start_pep587(api, options);
  }
}

}  // namespace pyenv::python
