// extern "C" shims: C arguments in, core calls, statuses out. No business logic here.
#include <pyenv/pyenv.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "env/manager.hpp"
#include "guard.hpp"
#include "env/interpreter.hpp"

#define PYENV_EXPORT extern "C" __attribute__((visibility("default")))

static_assert(PYENV_ERROR == static_cast<int>(pyenv::Status::kError));
static_assert(PYENV_EINVAL == static_cast<int>(pyenv::Status::kInvalid));
static_assert(PYENV_ECONFIG == static_cast<int>(pyenv::Status::kConfig));
static_assert(PYENV_EIO == static_cast<int>(pyenv::Status::kIo));
static_assert(PYENV_EARCHIVE == static_cast<int>(pyenv::Status::kArchive));
static_assert(PYENV_ESTATE == static_cast<int>(pyenv::Status::kState));
static_assert(PYENV_EPYTHON == static_cast<int>(pyenv::Status::kPython));
static_assert(PYENV_ENOMEM == static_cast<int>(pyenv::Status::kNoMemory));

struct pyenv_manager {
  std::unique_ptr<pyenv::EnvironmentManager> impl;
};

struct pyenv_interpreter {
  std::shared_ptr<pyenv::Interpreter> impl;
};

static_assert(sizeof(pyenv_record) == sizeof(pyenv::Record) &&
              offsetof(pyenv_record, data) == offsetof(pyenv::Record, data) &&
              offsetof(pyenv_record, size) == offsetof(pyenv::Record, size));

struct pyenv_environment {
  pyenv::Environment value;
  std::vector<std::pair<std::string, std::string>> variables;  // sorted by key
  std::string json;
};

namespace {

using pyenv::Status;
using pyenv::abi::guard;
using pyenv::abi::require;

const char *c_str_or_null(const std::optional<std::string> &s) { return s ? s->c_str() : nullptr; }

// A copy the host frees with pyenv_free.
char *malloc_copy(const std::string &text) {
  char *copy = static_cast<char *>(std::malloc(text.size() + 1));
  if (copy == nullptr) throw std::bad_alloc();
  std::memcpy(copy, text.c_str(), text.size() + 1);
  return copy;
}

// The options as the host compiled them, widened to ours: fields past struct_size are zero.
pyenv_options read_options(const pyenv_options *options) {
  constexpr uint32_t kMinimum = offsetof(pyenv_options, tmp_dirs_count) + sizeof(size_t);
  if (options->struct_size < kMinimum || options->struct_size > sizeof(pyenv_options)) {
    pyenv::fail(Status::kInvalid, "pyenv_create: options->struct_size is " +
                                      std::to_string(options->struct_size) + ", expected " +
                                      std::to_string(kMinimum) + " to " +
                                      std::to_string(sizeof(pyenv_options)));
  }
  pyenv_options out;
  std::memset(&out, 0, sizeof out);
  std::memcpy(&out, options, options->struct_size);
  return out;
}

// Without a host callback: warnings and errors on stderr.
void log_to_stderr(pyenv::LogLevel level, const std::string &message) {
  if (level >= pyenv::LogLevel::kWarn) std::fprintf(stderr, "pyenv: %s\n", message.c_str());
}

pyenv::Logger default_logger() { return pyenv::Logger(log_to_stderr, nullptr); }

pyenv::Logger make_logger(const pyenv_options &o) {
  pyenv::Logger::Sink sink = log_to_stderr;
  if (o.log != nullptr) {
    sink = [fn = o.log, user = o.log_user](pyenv::LogLevel level, const std::string &m) {
      fn(user, static_cast<int>(level), m.c_str());
    };
  }
  pyenv::Logger::ProgressSink progress;
  if (o.progress != nullptr) {
    progress = [fn = o.progress, user = o.progress_user](const char *phase, uint64_t done,
                                                         uint64_t total) {
      fn(user, phase, done, total);
    };
  }
  return pyenv::Logger(std::move(sink), std::move(progress));
}

pyenv::ManagerOptions translate(const pyenv_options &o) {
  pyenv::ManagerOptions out;
  if (o.job_id != nullptr) out.job_id = o.job_id;
  if (o.tmp_dirs_count > 0) require(o.tmp_dirs, "pyenv_create", "options->tmp_dirs");
  for (size_t i = 0; i < o.tmp_dirs_count; ++i) {
    if (o.tmp_dirs[i] == nullptr) {
      pyenv::fail(Status::kInvalid,
                  "pyenv_create: options->tmp_dirs[" + std::to_string(i) + "] is NULL");
    }
    out.tmp_dirs.emplace_back(o.tmp_dirs[i]);
  }
  if (o.config_file != nullptr) out.config.file = std::filesystem::path(o.config_file);
  if (o.config_yaml != nullptr) out.config.text = std::string(o.config_yaml);
  out.config.working_dir = std::filesystem::current_path();
  if (o.system_env_count > 0) require(o.system_env, "pyenv_create", "options->system_env");
  for (size_t i = 0; i < o.system_env_count; ++i) {
    const char *entry = o.system_env[i];
    const char *eq = entry ? std::strchr(entry, '=') : nullptr;
    if (eq == nullptr || eq == entry) {
      pyenv::fail(Status::kInvalid,
                  "pyenv_create: options->system_env[" + std::to_string(i) + "] is not KEY=VALUE");
    }
    out.system_env[std::string(entry, eq)] = std::string(eq + 1);
  }
  out.log = make_logger(o);
  return out;
}

}  // namespace

PYENV_EXPORT uint32_t pyenv_abi_version(void) { return PYENV_ABI_VERSION; }

PYENV_EXPORT const char *pyenv_version(void) { return PYENV_VERSION_STRING; }

PYENV_EXPORT const char *pyenv_last_error(void) { return pyenv::abi::last_error(); }

PYENV_EXPORT pyenv_status pyenv_create(pyenv_manager **out, const pyenv_options *options) {
  return guard([&] {
    require(out, "pyenv_create", "out");
    *out = nullptr;
    require(options, "pyenv_create", "options");
    pyenv::ManagerOptions translated = translate(read_options(options));
    auto manager = std::make_unique<pyenv_manager>();
    manager->impl = std::make_unique<pyenv::EnvironmentManager>(std::move(translated));
    *out = manager.release();
  });
}

PYENV_EXPORT pyenv_status pyenv_open(pyenv_manager *manager) {
  return guard([&] {
    require(manager, "pyenv_open", "manager");
    manager->impl->open();
  });
}

PYENV_EXPORT pyenv_status pyenv_create_environment(pyenv_manager *manager,
                                                   pyenv_environment **out) {
  return guard([&] {
    require(out, "pyenv_create_environment", "out");
    *out = nullptr;
    require(manager, "pyenv_create_environment", "manager");
    auto env = std::make_unique<pyenv_environment>();
    env->value = manager->impl->create_environment();
    env->variables.assign(env->value.variables.begin(), env->value.variables.end());
    env->json = env->value.to_json();
    *out = env.release();
  });
}

PYENV_EXPORT pyenv_status pyenv_close(pyenv_manager **manager) {
  return guard([&] {
    if (manager == nullptr || *manager == nullptr) return;
    std::unique_ptr<pyenv_manager> owned(*manager);
    *manager = nullptr;
    owned->impl->close();
  });
}

PYENV_EXPORT int pyenv_environment_exec_type(const pyenv_environment *env) {
  return env && env->value.process_mode() ? PYENV_EXEC_PROCESS : PYENV_EXEC_MULTI_THREAD;
}

PYENV_EXPORT const char *pyenv_environment_python_exec(const pyenv_environment *env) {
  return env ? env->value.python_exec.c_str() : nullptr;
}

PYENV_EXPORT const char *pyenv_environment_python_home(const pyenv_environment *env) {
  return env ? c_str_or_null(env->value.python_home) : nullptr;
}

PYENV_EXPORT const char *pyenv_environment_working_directory(const pyenv_environment *env) {
  return env ? c_str_or_null(env->value.working_directory) : nullptr;
}

PYENV_EXPORT size_t pyenv_environment_path_count(const pyenv_environment *env) {
  return env ? env->value.paths.size() : 0;
}

PYENV_EXPORT const char *pyenv_environment_path_at(const pyenv_environment *env, size_t i) {
  return env && i < env->value.paths.size() ? env->value.paths[i].c_str() : nullptr;
}

PYENV_EXPORT size_t pyenv_environment_var_count(const pyenv_environment *env) {
  return env ? env->variables.size() : 0;
}

PYENV_EXPORT pyenv_status pyenv_environment_var_at(const pyenv_environment *env, size_t i,
                                                   const char **key, const char **value) {
  return guard([&] {
    if (key) *key = nullptr;
    if (value) *value = nullptr;
    require(env, "pyenv_environment_var_at", "env");
    require(key, "pyenv_environment_var_at", "key");
    require(value, "pyenv_environment_var_at", "value");
    if (i >= env->variables.size()) {
      pyenv::fail(Status::kInvalid, "pyenv_environment_var_at: index " + std::to_string(i) +
                                        " is past the " + std::to_string(env->variables.size()) +
                                        " variables");
    }
    *key = env->variables[i].first.c_str();
    *value = env->variables[i].second.c_str();
  });
}

PYENV_EXPORT const char *pyenv_environment_getenv(const pyenv_environment *env, const char *key) {
  if (env == nullptr || key == nullptr) return nullptr;
  auto it = env->value.variables.find(key);
  return it == env->value.variables.end() ? nullptr : it->second.c_str();
}

PYENV_EXPORT const char *pyenv_environment_to_json(const pyenv_environment *env) {
  return env ? env->json.c_str() : nullptr;
}

PYENV_EXPORT void pyenv_environment_free(pyenv_environment **env) {
  if (env == nullptr) return;
  delete *env;
  *env = nullptr;
}

PYENV_EXPORT pyenv_status pyenv_environment_get_interpreter(const pyenv_environment *env,
                                                            pyenv_interpreter **out) {
  return guard([&] {
    require(out, "pyenv_environment_get_interpreter", "out");
    *out = nullptr;
    require(env, "pyenv_environment_get_interpreter", "env");
    // The environment may outlive its manager and the host's log callback with it: thread
    // mode logs the default way; process mode through the manager's relay while it is open.
    auto interp = std::make_unique<pyenv_interpreter>();
    interp->impl = pyenv::open_interpreter(env->value, default_logger());
    *out = interp.release();
  });
}

PYENV_EXPORT pyenv_status pyenv_interpreter_exec(pyenv_interpreter *interp, const char *code) {
  return guard([&] {
    require(interp, "pyenv_interpreter_exec", "interp");
    require(code, "pyenv_interpreter_exec", "code");
    interp->impl->exec(code);
  });
}

PYENV_EXPORT pyenv_status pyenv_interpreter_call_json(pyenv_interpreter *interp,
                                                      const char *callable, const char *args_json,
                                                      char **out_json) {
  return guard([&] {
    require(out_json, "pyenv_interpreter_call_json", "out_json");
    *out_json = nullptr;
    require(interp, "pyenv_interpreter_call_json", "interp");
    require(callable, "pyenv_interpreter_call_json", "callable");
    *out_json = malloc_copy(interp->impl->call_json(callable, args_json ? args_json : ""));
  });
}

PYENV_EXPORT pyenv_status pyenv_interpreter_call_bytes(pyenv_interpreter *interp,
                                                       const char *callable, const void *data,
                                                       size_t size, void **out, size_t *out_size) {
  return guard([&] {
    require(out, "pyenv_interpreter_call_bytes", "out");
    require(out_size, "pyenv_interpreter_call_bytes", "out_size");
    *out = nullptr;
    *out_size = 0;
    require(interp, "pyenv_interpreter_call_bytes", "interp");
    require(callable, "pyenv_interpreter_call_bytes", "callable");
    if (size > 0) require(data, "pyenv_interpreter_call_bytes", "data");
    pyenv::Buffer result = interp->impl->call_bytes(callable, data, size);
    *out_size = result.size();
    *out = result.release();
  });
}

PYENV_EXPORT void pyenv_free(void *p) { std::free(p); }

// ABI 1.1: the calling user's cache.

PYENV_EXPORT pyenv_status pyenv_cache_list(pyenv_manager *manager, char **out_json) {
  return guard([&] {
    require(out_json, "pyenv_cache_list", "out_json");
    *out_json = nullptr;
    require(manager, "pyenv_cache_list", "manager");
    *out_json = malloc_copy(manager->impl->cache_list_json());
  });
}

PYENV_EXPORT pyenv_status pyenv_cache_warm(pyenv_manager *manager) {
  return guard([&] {
    require(manager, "pyenv_cache_warm", "manager");
    manager->impl->warm_cache();
  });
}

PYENV_EXPORT pyenv_status pyenv_cache_prune(pyenv_manager *manager, uint64_t max_bytes,
                                            uint64_t older_than_ms, char **out_json) {
  return guard([&] {
    require(out_json, "pyenv_cache_prune", "out_json");
    *out_json = nullptr;
    require(manager, "pyenv_cache_prune", "manager");
    std::optional<uint64_t> budget;
    if (max_bytes != PYENV_CACHE_UNSET) budget = max_bytes;
    std::optional<std::chrono::milliseconds> age;
    if (older_than_ms != PYENV_CACHE_UNSET) {
      age = std::chrono::milliseconds(
          std::min<uint64_t>(older_than_ms, std::chrono::milliseconds::max().count()));
    }
    *out_json = malloc_copy(manager->impl->cache_prune_json(budget, age));
  });
}

PYENV_EXPORT pyenv_status pyenv_cache_remove(pyenv_manager *manager, const char *key_prefix,
                                             char **out_json) {
  return guard([&] {
    require(out_json, "pyenv_cache_remove", "out_json");
    *out_json = nullptr;
    require(manager, "pyenv_cache_remove", "manager");
    require(key_prefix, "pyenv_cache_remove", "key_prefix");
    *out_json = malloc_copy(manager->impl->cache_remove_json(key_prefix));
  });
}

PYENV_EXPORT void pyenv_interpreter_close(pyenv_interpreter **interp) {
  if (interp == nullptr) return;
  delete *interp;
  *interp = nullptr;
}

PYENV_EXPORT pyenv_status pyenv_interpreter_info(pyenv_interpreter *interp, char **out_json) {
  return guard([&] {
    require(out_json, "pyenv_interpreter_info", "out_json");
    *out_json = nullptr;
    require(interp, "pyenv_interpreter_info", "interp");
    *out_json = malloc_copy(pyenv::to_json(interp->impl->info()));
  });
}

// ABI 1.2: batches.

PYENV_EXPORT pyenv_status pyenv_interpreter_call_batch(pyenv_interpreter *interp,
                                                       const char *callable,
                                                       const pyenv_record *records, size_t count,
                                                       pyenv_record **out_results) {
  return guard([&] {
    require(out_results, "pyenv_interpreter_call_batch", "out_results");
    *out_results = nullptr;
    require(interp, "pyenv_interpreter_call_batch", "interp");
    require(callable, "pyenv_interpreter_call_batch", "callable");
    if (count > 0) require(records, "pyenv_interpreter_call_batch", "records");
    pyenv::Buffer results = interp->impl->call_batch(
        callable, reinterpret_cast<const pyenv::Record *>(records), count);
    *out_results = static_cast<pyenv_record *>(results.release());
  });
}
