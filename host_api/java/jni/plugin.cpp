#include "plugin.hpp"

#include <dlfcn.h>

#include <atomic>
#include <memory>
#include <mutex>

namespace pyenv_jni {
namespace {

std::atomic<const Api *> g_api{nullptr};
std::mutex g_load_mutex;

template <class Fn>
Fn symbol(void *library, const char *name) {
  return reinterpret_cast<Fn>(::dlsym(library, name));
}

// Resolves a function the plugin's ABI has; false (and `error`) when it is missing. A plugin
// that claims a minor exports all that minor has, so it is refused, naming the version.
template <class Fn>
bool require(void *library, Fn &slot, const char *name, const Api &api, std::string &error) {
  slot = symbol<Fn>(library, name);
  if (slot != nullptr) return true;
  error = "plugin " + api.path + " does not export " + name + ", which its ABI " +
          version_text(api.abi) + " requires";
  return false;
}

bool resolve_all(void *lib, Api &a, std::string &error) {
  return require(lib, a.abi_version, "pyenv_abi_version", a, error) &&
         require(lib, a.version, "pyenv_version", a, error) &&
         require(lib, a.last_error, "pyenv_last_error", a, error) &&
         require(lib, a.create, "pyenv_create", a, error) &&
         require(lib, a.open, "pyenv_open", a, error) &&
         require(lib, a.create_environment, "pyenv_create_environment", a, error) &&
         require(lib, a.close, "pyenv_close", a, error) &&
         require(lib, a.environment_exec_type, "pyenv_environment_exec_type", a, error) &&
         require(lib, a.environment_python_exec, "pyenv_environment_python_exec", a, error) &&
         require(lib, a.environment_python_home, "pyenv_environment_python_home", a, error) &&
         require(lib, a.environment_working_directory, "pyenv_environment_working_directory", a,
                 error) &&
         require(lib, a.environment_path_count, "pyenv_environment_path_count", a, error) &&
         require(lib, a.environment_path_at, "pyenv_environment_path_at", a, error) &&
         require(lib, a.environment_var_count, "pyenv_environment_var_count", a, error) &&
         require(lib, a.environment_var_at, "pyenv_environment_var_at", a, error) &&
         require(lib, a.environment_to_json, "pyenv_environment_to_json", a, error) &&
         require(lib, a.environment_free, "pyenv_environment_free", a, error) &&
         require(lib, a.environment_get_interpreter, "pyenv_environment_get_interpreter", a,
                 error) &&
         require(lib, a.interpreter_exec, "pyenv_interpreter_exec", a, error) &&
         require(lib, a.interpreter_call_json, "pyenv_interpreter_call_json", a, error) &&
         require(lib, a.interpreter_call_bytes, "pyenv_interpreter_call_bytes", a, error) &&
         require(lib, a.free, "pyenv_free", a, error) &&
         require(lib, a.interpreter_close, "pyenv_interpreter_close", a, error) &&
         require(lib, a.interpreter_info, "pyenv_interpreter_info", a, error) &&
         ((a.abi & 0xffffu) < 2 ||
          require(lib, a.interpreter_call_batch, "pyenv_interpreter_call_batch", a, error));
}

}  // namespace

std::string version_text(uint32_t version) {
  return std::to_string(version >> 16) + "." + std::to_string(version & 0xffffu);
}

std::string needs_minor(const Api &api, const char *name, uint32_t minor) {
  return std::string(name) + " needs a plugin of ABI " +
         version_text((uint32_t{PYENV_ABI_VERSION_MAJOR} << 16) | minor) + ", and " + api.path +
         " has " + version_text(api.abi);
}

const Api *api() { return g_api.load(std::memory_order_acquire); }

bool load(const std::string &path, std::string &error) {
  std::lock_guard<std::mutex> lock(g_load_mutex);
  if (api() != nullptr) return true;
  auto a = std::make_unique<Api>();
  a->path = path;
  void *lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char *why = ::dlerror();
    error = "cannot load plugin " + path + ": " + (why ? why : "dlopen failed");
    return false;
  }
  // The version first: a plugin of another major may have other signatures under these names.
  auto abi_version = symbol<uint32_t (*)(void)>(lib, "pyenv_abi_version");
  if (abi_version == nullptr) {
    error = "plugin " + path + " does not export pyenv_abi_version: not a libpyenv plugin";
    ::dlclose(lib);
    return false;
  }
  a->abi = abi_version();
  const uint32_t needed = (uint32_t{PYENV_ABI_VERSION_MAJOR} << 16) | kRequiredMinor;
  if ((a->abi >> 16) != PYENV_ABI_VERSION_MAJOR || (a->abi & 0xffffu) < kRequiredMinor) {
    error = "plugin " + path + " has ABI " + version_text(a->abi) +
            ", but libpyenv_jni needs ABI " + version_text(needed) +
            " (same major, minor at least " + std::to_string(kRequiredMinor) + ")";
    ::dlclose(lib);
    return false;
  }
  if (!resolve_all(lib, *a, error)) {
    ::dlclose(lib);
    return false;
  }
  // Never dlclose()d: handles may live until the JVM exits, and a running CPython pins the
  // plugin anyway.
  g_api.store(a.release(), std::memory_order_release);
  return true;
}

}  // namespace pyenv_jni
