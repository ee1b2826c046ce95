// host.hpp - a header-only C++17 loader for libpyenv plugins, over Boost.DLL.
//
//   pyenv::host::Plugin plugin = pyenv::host::Plugin::load("/usr/lib/pyenv/libpyenv.so");
//   pyenv::host::Options options;
//   options.job_id = "job-1";
//   options.tmp_dirs = {"/tmp"};
//   options.config_file = "job.yaml";
//   pyenv::host::Manager manager = plugin.create(options);
//   manager.open();
//   pyenv::host::Environment env = manager.create_environment();
//   std::cout << env.to_json();
//
// Loading: RTLD_NOW | RTLD_LOCAL. pyenv_abi_version() is checked before any other symbol is
// touched: a plugin of another major, or of an older minor than the host asks for (by
// default this header's), is refused with a message naming both versions. Every symbol of
// the plugin's ABI is then resolved at once, so a plugin missing one is refused at load, not
// at first use. A host that accepts an older minor finds the later functions NULL in Api,
// and the methods using them throw, naming the version they need.
//
// Lifetime: Plugin, Manager and Environment share ownership of the loaded library, so the
// library is unloaded only after the last of them is destroyed; no handle can outlive it.
//
// Errors: every failure throws pyenv::host::Error, carrying the pyenv_status and the
// plugin's message.
//
// Threads: a Plugin may be shared by threads; a Manager is used by one thread at a time;
// an Environment is immutable and may be read from any thread.
#ifndef PYENV_HOST_HPP
#define PYENV_HOST_HPP

#include <pyenv/pyenv.h>

#include <boost/dll/shared_library.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace pyenv::host {

class Error : public std::runtime_error {
 public:
  Error(pyenv_status status, const std::string &message)
      : std::runtime_error(message), status_(status) {}
  pyenv_status status() const noexcept { return status_; }

 private:
  pyenv_status status_;
};

// The C functions of a loaded plugin, for hosts that want the raw ABI.
struct Api {
  uint32_t (*abi_version)(void);
  const char *(*version)(void);
  const char *(*last_error)(void);
  pyenv_status (*create)(pyenv_manager **, const pyenv_options *);
  pyenv_status (*open)(pyenv_manager *);
  pyenv_status (*create_environment)(pyenv_manager *, pyenv_environment **);
  pyenv_status (*close)(pyenv_manager **);
  int (*environment_exec_type)(const pyenv_environment *);
  const char *(*environment_python_exec)(const pyenv_environment *);
  const char *(*environment_python_home)(const pyenv_environment *);
  const char *(*environment_working_directory)(const pyenv_environment *);
  size_t (*environment_path_count)(const pyenv_environment *);
  const char *(*environment_path_at)(const pyenv_environment *, size_t);
  size_t (*environment_var_count)(const pyenv_environment *);
  pyenv_status (*environment_var_at)(const pyenv_environment *, size_t, const char **,
                                     const char **);
  const char *(*environment_getenv)(const pyenv_environment *, const char *);
  const char *(*environment_to_json)(const pyenv_environment *);
  void (*environment_free)(pyenv_environment **);
  pyenv_status (*environment_get_interpreter)(const pyenv_environment *, pyenv_interpreter **);
  pyenv_status (*interpreter_exec)(pyenv_interpreter *, const char *);
  pyenv_status (*interpreter_call_json)(pyenv_interpreter *, const char *, const char *, char **);
  pyenv_status (*interpreter_call_bytes)(pyenv_interpreter *, const char *, const void *, size_t,
                                         void **, size_t *);
  void (*free)(void *);
  void (*interpreter_close)(pyenv_interpreter **);
  // ABI 1.1; NULL when the plugin is 1.0 (loaded with required_minor 0).
  pyenv_status (*interpreter_info)(pyenv_interpreter *, char **);
  pyenv_status (*cache_list)(pyenv_manager *, char **);
  pyenv_status (*cache_warm)(pyenv_manager *);
  pyenv_status (*cache_prune)(pyenv_manager *, uint64_t, uint64_t, char **);
  pyenv_status (*cache_remove)(pyenv_manager *, const char *, char **);
  // ABI 1.2; NULL when the plugin is older.
  pyenv_status (*interpreter_call_batch)(pyenv_interpreter *, const char *, const pyenv_record *,
                                         size_t, pyenv_record **);
};

namespace detail {

struct Library {
  boost::dll::shared_library library;
  Api api{};
  std::string path;
};
using LibraryPtr = std::shared_ptr<const Library>;

inline std::string version_text(uint32_t v) {
  return std::to_string(v >> 16) + "." + std::to_string(v & 0xffffu);
}

template <class Fn>
void resolve(const Library &lib, Fn *&slot, const char *name) {
  if (!lib.library.has(name)) {
    throw Error(PYENV_ERROR, "plugin " + lib.path + " does not export " + name + ", which ABI " +
                                 version_text(PYENV_ABI_VERSION) + " requires");
  }
  slot = &lib.library.get<Fn>(name);
}

inline std::string or_empty(const char *s) { return s ? s : ""; }

inline void check(const Library &lib, pyenv_status status) {
  if (status != PYENV_OK) throw Error(status, or_empty(lib.api.last_error()));
}

// A function of a later minor than the plugin has.
template <class Fn>
Fn *since(const Library &lib, Fn *fn, const char *name, uint32_t minor) {
  if (fn == nullptr) {
    throw Error(PYENV_ERROR, std::string(name) + " needs a plugin of ABI " +
                                 std::to_string(PYENV_ABI_VERSION_MAJOR) + "." +
                                 std::to_string(minor) + ", and " + lib.path + " has " +
                                 version_text(lib.api.abi_version()));
  }
  return fn;
}

// Takes a string the plugin allocated, freeing it (also when the copy throws).
inline std::string take_string(const Library &lib, char *text) {
  struct Freed {
    const Library &lib;
    char *text;
    ~Freed() { lib.api.free(text); }
  } freed{lib, text};
  return or_empty(text);
}

}  // namespace detail

// What a task passes to create. Callbacks are kept alive by the Manager.
struct Options {
  std::string job_id;
  std::vector<std::string> tmp_dirs;
  std::optional<std::string> config_file;
  std::optional<std::string> config_yaml;
  std::vector<std::string> system_env;                      // "KEY=VALUE"
  std::function<void(int level, const char *message)> log;  // empty: warnings to stderr
  std::function<void(const char *phase, uint64_t done, uint64_t total)> progress;
};

// A handle onto the environment's Python, with its own globals: the process's embedded
// CPython (thread mode) or a worker process of its own (process mode, ABI 1.2); the calls
// are the same. Any thread may call (process mode serialises calls on one handle); closing
// must not race with calls on the same handle.
class Interpreter {
 public:
  Interpreter(Interpreter &&) noexcept = default;
  Interpreter &operator=(Interpreter &&) noexcept = default;

  // Runs Python statements in this handle's globals.
  void exec(const std::string &code) {
    detail::check(*lib_, lib_->api.interpreter_exec(handle_.get(), code.c_str()));
  }
  // Calls "package.module:function" or a global name with a JSON array of arguments.
  std::string call_json(const std::string &callable, const std::string &args_json = "[]") {
    char *out = nullptr;
    detail::check(*lib_, lib_->api.interpreter_call_json(handle_.get(), callable.c_str(),
                                                         args_json.c_str(), &out));
    return detail::take_string(*lib_, out);
  }
  // The hot path: one bytes argument, bytes back.
  std::string call_bytes(const std::string &callable, const void *data, size_t size) {
    void *out = nullptr;
    size_t out_size = 0;
    detail::check(*lib_, lib_->api.interpreter_call_bytes(handle_.get(), callable.c_str(), data,
                                                          size, &out, &out_size));
    std::unique_ptr<char, Free> owned(static_cast<char *>(out), Free{lib_});
    return out ? std::string(static_cast<const char *>(out), out_size) : std::string();
  }
  // call_bytes of `callable` on each record, in one go (ABI 1.2): one round trip to a
  // worker, one GIL acquisition in thread mode. The first record that fails throws, its
  // index in the message.
  std::vector<std::string> call_batch(const std::string &callable,
                                      const std::vector<std::string> &records) {
    std::vector<pyenv_record> in(records.size());
    for (size_t i = 0; i < records.size(); ++i) in[i] = {records[i].data(), records[i].size()};
    return call_batch(callable, in.data(), in.size());
  }
  std::vector<std::string> call_batch(const std::string &callable, const pyenv_record *records,
                                      size_t count) {
    auto fn = detail::since(*lib_, lib_->api.interpreter_call_batch,
                            "pyenv_interpreter_call_batch", 2);
    pyenv_record *out = nullptr;
    detail::check(*lib_, fn(handle_.get(), callable.c_str(), records, count, &out));
    std::unique_ptr<char, Free> owned(reinterpret_cast<char *>(out), Free{lib_});
    std::vector<std::string> results;
    results.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      results.emplace_back(static_cast<const char *>(out[i].data), out[i].size);
    }
    return results;
  }
  // The Python behind the handle as JSON: version, implementation, free_threaded,
  // gil_enabled (now), prefix, executable, libpython (ABI 1.1), execution_mode, pid (1.2).
  std::string info() {
    char *out = nullptr;
    auto fn = detail::since(*lib_, lib_->api.interpreter_info, "pyenv_interpreter_info", 1);
    detail::check(*lib_, fn(handle_.get(), &out));
    return detail::take_string(*lib_, out);
  }
  pyenv_interpreter *get() const { return handle_.get(); }

 private:
  friend class Environment;
  struct Free {
    detail::LibraryPtr lib;
    void operator()(char *p) const { lib->api.free(p); }
  };
  struct Close {
    detail::LibraryPtr lib;
    void operator()(pyenv_interpreter *p) const { lib->api.interpreter_close(&p); }
  };
  Interpreter(detail::LibraryPtr lib, pyenv_interpreter *handle)
      : lib_(lib), handle_(handle, Close{lib}) {}

  detail::LibraryPtr lib_;
  std::unique_ptr<pyenv_interpreter, Close> handle_;
};

// A prepared environment: an immutable value.
class Environment {
 public:
  Environment(Environment &&) noexcept = default;
  Environment &operator=(Environment &&) noexcept = default;

  int exec_type() const { return api().environment_exec_type(handle_.get()); }
  std::string python_exec() const {
    return detail::or_empty(api().environment_python_exec(handle_.get()));
  }
  std::optional<std::string> python_home() const {
    return optional(api().environment_python_home(handle_.get()));
  }
  std::optional<std::string> working_directory() const {
    return optional(api().environment_working_directory(handle_.get()));
  }
  std::vector<std::string> paths() const {
    std::vector<std::string> out;
    for (size_t i = 0, n = api().environment_path_count(handle_.get()); i < n; ++i) {
      out.push_back(detail::or_empty(api().environment_path_at(handle_.get(), i)));
    }
    return out;
  }
  std::map<std::string, std::string> variables() const {
    std::map<std::string, std::string> out;
    for (size_t i = 0, n = api().environment_var_count(handle_.get()); i < n; ++i) {
      const char *key = nullptr;
      const char *value = nullptr;
      detail::check(*lib_, api().environment_var_at(handle_.get(), i, &key, &value));
      out.emplace(detail::or_empty(key), detail::or_empty(value));
    }
    return out;
  }
  std::optional<std::string> getenv(const std::string &key) const {
    return optional(api().environment_getenv(handle_.get(), key.c_str()));
  }
  std::string to_json() const { return detail::or_empty(api().environment_to_json(handle_.get())); }
  const pyenv_environment *get() const { return handle_.get(); }

  // An interpreter handle for this environment: onto the process's CPython (started on first
  // use) in thread mode, a new worker process in process mode.
  Interpreter interpreter() const {
    pyenv_interpreter *interp = nullptr;
    detail::check(*lib_, api().environment_get_interpreter(handle_.get(), &interp));
    return Interpreter(lib_, interp);
  }

 private:
  friend class Manager;
  struct Free {
    detail::LibraryPtr lib;
    void operator()(pyenv_environment *env) const { lib->api.environment_free(&env); }
  };
  Environment(detail::LibraryPtr lib, pyenv_environment *handle)
      : lib_(lib), handle_(handle, Free{lib}) {}
  const Api &api() const { return lib_->api; }
  static std::optional<std::string> optional(const char *s) {
    return s ? std::optional<std::string>(s) : std::nullopt;
  }

  detail::LibraryPtr lib_;
  std::unique_ptr<pyenv_environment, Free> handle_;
};

// One task's manager. Closed (quietly) on destruction if not closed before.
class Manager {
 public:
  Manager(Manager &&other) noexcept
      : lib_(std::move(other.lib_)),
        callbacks_(std::move(other.callbacks_)),
        handle_(std::exchange(other.handle_, nullptr)) {}
  Manager &operator=(Manager &&other) noexcept {
    if (this != &other) {
      release();
      lib_ = std::move(other.lib_);
      callbacks_ = std::move(other.callbacks_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Manager(const Manager &) = delete;
  Manager &operator=(const Manager &) = delete;
  ~Manager() { release(); }

  void open() { detail::check(*lib_, lib_->api.open(live())); }

  Environment create_environment() {
    pyenv_environment *env = nullptr;
    detail::check(*lib_, lib_->api.create_environment(live(), &env));
    return Environment(lib_, env);
  }

  // Releases the manager; the last of its job removes the base directory. Throws
  // Error(PYENV_EIO) when something could not be removed (the manager is closed anyway).
  void close() {
    if (handle_ != nullptr) detail::check(*lib_, lib_->api.close(&handle_));
  }

  pyenv_manager *get() const { return handle_; }

  // ABI 1.1: the calling user's cache, as this manager's configuration places it (pyenv.h).
  // The manager need not be open. Each returns the plugin's JSON.
  std::string cache_list() {
    char *json = nullptr;
    auto fn = detail::since(*lib_, lib_->api.cache_list, "pyenv_cache_list", 1);
    detail::check(*lib_, fn(live(), &json));
    return detail::take_string(*lib_, json);
  }
  void cache_warm() {
    auto fn = detail::since(*lib_, lib_->api.cache_warm, "pyenv_cache_warm", 1);
    detail::check(*lib_, fn(live()));
  }
  std::string cache_prune(uint64_t max_bytes = PYENV_CACHE_UNSET,
                          uint64_t older_than_ms = PYENV_CACHE_UNSET) {
    char *json = nullptr;
    auto fn = detail::since(*lib_, lib_->api.cache_prune, "pyenv_cache_prune", 1);
    detail::check(*lib_, fn(live(), max_bytes, older_than_ms, &json));
    return detail::take_string(*lib_, json);
  }
  std::string cache_remove(const std::string &key_prefix) {
    char *json = nullptr;
    auto fn = detail::since(*lib_, lib_->api.cache_remove, "pyenv_cache_remove", 1);
    detail::check(*lib_, fn(live(), key_prefix.c_str(), &json));
    return detail::take_string(*lib_, json);
  }

 private:
  friend class Plugin;
  struct Callbacks {
    std::function<void(int, const char *)> log;
    std::function<void(const char *, uint64_t, uint64_t)> progress;
  };
  Manager(detail::LibraryPtr lib, std::unique_ptr<Callbacks> callbacks)
      : lib_(std::move(lib)), callbacks_(std::move(callbacks)) {}
  pyenv_manager *live() const {
    if (handle_ == nullptr) throw Error(PYENV_ESTATE, "the manager is closed");
    return handle_;
  }
  void release() noexcept {
    if (handle_ != nullptr && lib_) lib_->api.close(&handle_);
  }

  detail::LibraryPtr lib_;
  std::unique_ptr<Callbacks> callbacks_;  // the plugin holds pointers into this
  pyenv_manager *handle_ = nullptr;
};

// A loaded plugin. Copies share the library.
class Plugin {
 public:
  // Loads the plugin at `path` and checks its ABI: the same major as this header and a
  // minor of at least `required_minor`. Throws Error(PYENV_ERROR) when it cannot be loaded,
  // has another ABI, or lacks a function.
  static Plugin load(const std::string &path, uint32_t required_minor = PYENV_ABI_VERSION_MINOR) {
    auto lib = std::make_shared<detail::Library>();
    lib->path = path;
    try {
      lib->library.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    } catch (const std::exception &e) {
      throw Error(PYENV_ERROR, "cannot load plugin " + path + ": " + e.what());
    }
    if (!lib->library.has("pyenv_abi_version")) {
      throw Error(PYENV_ERROR,
                  "plugin " + path + " does not export pyenv_abi_version: not a libpyenv plugin");
    }
    const uint32_t needed = (uint32_t{PYENV_ABI_VERSION_MAJOR} << 16) | required_minor;
    const uint32_t found = lib->library.get<uint32_t()>("pyenv_abi_version")();
    if ((found >> 16) != PYENV_ABI_VERSION_MAJOR || (found & 0xffffu) < required_minor) {
      throw Error(PYENV_ERROR, "plugin " + path + " has ABI " + detail::version_text(found) +
                                   ", but this host needs ABI " + detail::version_text(needed) +
                                   " (same major, minor at least " +
                                   std::to_string(required_minor) + ")");
    }
    Api &a = lib->api;
    detail::resolve(*lib, a.abi_version, "pyenv_abi_version");
    detail::resolve(*lib, a.version, "pyenv_version");
    detail::resolve(*lib, a.last_error, "pyenv_last_error");
    detail::resolve(*lib, a.create, "pyenv_create");
    detail::resolve(*lib, a.open, "pyenv_open");
    detail::resolve(*lib, a.create_environment, "pyenv_create_environment");
    detail::resolve(*lib, a.close, "pyenv_close");
    detail::resolve(*lib, a.environment_exec_type, "pyenv_environment_exec_type");
    detail::resolve(*lib, a.environment_python_exec, "pyenv_environment_python_exec");
    detail::resolve(*lib, a.environment_python_home, "pyenv_environment_python_home");
    detail::resolve(*lib, a.environment_working_directory, "pyenv_environment_working_directory");
    detail::resolve(*lib, a.environment_path_count, "pyenv_environment_path_count");
    detail::resolve(*lib, a.environment_path_at, "pyenv_environment_path_at");
    detail::resolve(*lib, a.environment_var_count, "pyenv_environment_var_count");
    detail::resolve(*lib, a.environment_var_at, "pyenv_environment_var_at");
    detail::resolve(*lib, a.environment_getenv, "pyenv_environment_getenv");
    detail::resolve(*lib, a.environment_to_json, "pyenv_environment_to_json");
    detail::resolve(*lib, a.environment_free, "pyenv_environment_free");
    detail::resolve(*lib, a.environment_get_interpreter, "pyenv_environment_get_interpreter");
    detail::resolve(*lib, a.interpreter_exec, "pyenv_interpreter_exec");
    detail::resolve(*lib, a.interpreter_call_json, "pyenv_interpreter_call_json");
    detail::resolve(*lib, a.interpreter_call_bytes, "pyenv_interpreter_call_bytes");
    detail::resolve(*lib, a.free, "pyenv_free");
    detail::resolve(*lib, a.interpreter_close, "pyenv_interpreter_close");
    if ((found & 0xffffu) >= 1) {
      detail::resolve(*lib, a.interpreter_info, "pyenv_interpreter_info");
      detail::resolve(*lib, a.cache_list, "pyenv_cache_list");
      detail::resolve(*lib, a.cache_warm, "pyenv_cache_warm");
      detail::resolve(*lib, a.cache_prune, "pyenv_cache_prune");
      detail::resolve(*lib, a.cache_remove, "pyenv_cache_remove");
    }
    if ((found & 0xffffu) >= 2) {
      detail::resolve(*lib, a.interpreter_call_batch, "pyenv_interpreter_call_batch");
    }
    return Plugin(std::move(lib));
  }

  const Api &api() const { return lib_->api; }
  const std::string &path() const { return lib_->path; }
  uint32_t abi_version() const { return lib_->api.abi_version(); }
  std::string version() const { return detail::or_empty(lib_->api.version()); }

  Manager create(const Options &options) const {
    auto callbacks = std::make_unique<Manager::Callbacks>();
    callbacks->log = options.log;
    callbacks->progress = options.progress;
    std::vector<const char *> tmp_dirs;
    for (const std::string &d : options.tmp_dirs) tmp_dirs.push_back(d.c_str());
    std::vector<const char *> system_env;
    for (const std::string &e : options.system_env) system_env.push_back(e.c_str());

    pyenv_options o{};
    o.struct_size = sizeof o;
    o.job_id = options.job_id.c_str();
    o.tmp_dirs = tmp_dirs.data();
    o.tmp_dirs_count = tmp_dirs.size();
    o.config_file = options.config_file ? options.config_file->c_str() : nullptr;
    o.config_yaml = options.config_yaml ? options.config_yaml->c_str() : nullptr;
    o.system_env = system_env.data();
    o.system_env_count = system_env.size();
    if (callbacks->log) {
      o.log = [](void *user, int level, const char *message) {
        try {  // nothing may unwind into the plugin
          static_cast<Manager::Callbacks *>(user)->log(level, message);
        } catch (...) {
        }
      };
      o.log_user = callbacks.get();
    }
    if (callbacks->progress) {
      o.progress = [](void *user, const char *phase, uint64_t done, uint64_t total) {
        try {
          static_cast<Manager::Callbacks *>(user)->progress(phase, done, total);
        } catch (...) {
        }
      };
      o.progress_user = callbacks.get();
    }
    Manager manager(lib_, std::move(callbacks));
    detail::check(*lib_, lib_->api.create(&manager.handle_, &o));
    return manager;
  }

 private:
  explicit Plugin(detail::LibraryPtr lib) : lib_(std::move(lib)) {}
  detail::LibraryPtr lib_;
};

}  // namespace pyenv::host

#endif  // PYENV_HOST_HPP
