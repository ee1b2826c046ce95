// The plugin as libpyenv_jni sees it: libpyenv.so loaded with dlopen (never linked), its ABI
// checked, its functions resolved once. One plugin per process, never unloaded.
#pragma once

#include <pyenv/pyenv.h>

#include <string>

namespace pyenv_jni {

// The ABI this library needs: the header's major, and 1.1 for pyenv_interpreter_info. What
// later minors added is resolved when the plugin has it and NULL otherwise; the calls that
// use it throw ERROR, naming the version they need (needs_minor()).
inline constexpr uint32_t kRequiredMinor = 1;

struct Api {
  std::string path;
  uint32_t abi = 0;
  uint32_t (*abi_version)(void) = nullptr;
  const char *(*version)(void) = nullptr;
  const char *(*last_error)(void) = nullptr;
  pyenv_status (*create)(pyenv_manager **, const pyenv_options *) = nullptr;
  pyenv_status (*open)(pyenv_manager *) = nullptr;
  pyenv_status (*create_environment)(pyenv_manager *, pyenv_environment **) = nullptr;
  pyenv_status (*close)(pyenv_manager **) = nullptr;
  int (*environment_exec_type)(const pyenv_environment *) = nullptr;
  const char *(*environment_python_exec)(const pyenv_environment *) = nullptr;
  const char *(*environment_python_home)(const pyenv_environment *) = nullptr;
  const char *(*environment_working_directory)(const pyenv_environment *) = nullptr;
  size_t (*environment_path_count)(const pyenv_environment *) = nullptr;
  const char *(*environment_path_at)(const pyenv_environment *, size_t) = nullptr;
  size_t (*environment_var_count)(const pyenv_environment *) = nullptr;
  pyenv_status (*environment_var_at)(const pyenv_environment *, size_t, const char **,
                                     const char **) = nullptr;
  const char *(*environment_to_json)(const pyenv_environment *) = nullptr;
  void (*environment_free)(pyenv_environment **) = nullptr;
  pyenv_status (*environment_get_interpreter)(const pyenv_environment *,
                                              pyenv_interpreter **) = nullptr;
  pyenv_status (*interpreter_exec)(pyenv_interpreter *, const char *) = nullptr;
  pyenv_status (*interpreter_call_json)(pyenv_interpreter *, const char *, const char *,
                                        char **) = nullptr;
  pyenv_status (*interpreter_call_bytes)(pyenv_interpreter *, const char *, const void *, size_t,
                                         void **, size_t *) = nullptr;
  void (*free)(void *) = nullptr;
  void (*interpreter_close)(pyenv_interpreter **) = nullptr;
  pyenv_status (*interpreter_info)(pyenv_interpreter *, char **) = nullptr;  // ABI 1.1
  // ABI 1.2; NULL when the plugin is 1.1.
  pyenv_status (*interpreter_call_batch)(pyenv_interpreter *, const char *, const pyenv_record *,
                                         size_t, pyenv_record **) = nullptr;
};

// The loaded plugin, or nullptr before load() succeeds.
const Api *api();

// Loads the plugin at `path` unless one is loaded. On failure returns false with `error`
// naming the path and what is wrong (not loadable, not a plugin, another ABI, a function
// missing), and leaves nothing loaded.
bool load(const std::string &path, std::string &error);

std::string version_text(uint32_t version);

// Why `name`, a function of ABI 1.`minor`, cannot be called: it needs a plugin of that minor,
// and the loaded one is older. The message names both versions and the plugin.
std::string needs_minor(const Api &api, const char *name, uint32_t minor);

}  // namespace pyenv_jni
