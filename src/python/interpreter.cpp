#include "python/interpreter.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "env/environment.hpp"
#include "error.hpp"
#include "python/libpython.hpp"
#include "python/locate.hpp"
#include "python/startup.hpp"
#include "util/shared_library.hpp"

namespace pyenv::python {
namespace {

using capi::Py_ssize_t;
using capi::PyObject;
using capi::PyThreadState;

// The table of the running CPython: set once, under the runtime's mutex, before any handle
// exists; never changed or freed afterwards.
const Api *g_api = nullptr;

// A strong reference, dropped through the table (Py_DECREF would reference _Py_Dealloc).
class Ref {
 public:
  Ref() = default;
  explicit Ref(PyObject *object) : object_(object) {}
  ~Ref() { reset(); }
  Ref(Ref &&other) noexcept : object_(other.release()) {}
  Ref &operator=(Ref &&other) noexcept {
    if (this != &other) {
      reset();
      object_ = other.release();
    }
    return *this;
  }
  Ref(const Ref &) = delete;
  Ref &operator=(const Ref &) = delete;

  static Ref borrowed(PyObject *object) {
    if (object != nullptr) g_api->Py_IncRef(object);
    return Ref(object);
  }
  PyObject *get() const { return object_; }
  explicit operator bool() const { return object_ != nullptr; }
  PyObject *release() {
    PyObject *object = object_;
    object_ = nullptr;
    return object;
  }
  void reset() {
    if (object_ != nullptr) g_api->Py_DecRef(object_);
    object_ = nullptr;
  }

 private:
  PyObject *object_ = nullptr;
};

// ---------------------------------------------------------------------------------------
// Per host thread: its Python thread state and its working directory.

struct ThreadState {
  bool gil_known = false;           // PyGILState already keeps a thread state for it
  PyThreadState *tstate = nullptr;  // made here, kept between calls, deleted at thread exit
  bool private_fs = false;          // unshare(CLONE_FS) done
  int own_cwd = -1;                 // the thread's own directory, returned to after each call
};

void on_thread_exit(void *pointer) {
  auto *state = static_cast<ThreadState *>(pointer);
  if (state->tstate != nullptr && g_api != nullptr) {
    // Directly, not through PyGILState: by now the C library may have cleared CPython's own
    // thread-specific slot for this thread (all slots are cleared before destructors run).
    // Cleared while attached, deleted once detached: the documented order, with functions
    // of the stable ABI only.
    g_api->PyEval_RestoreThread(state->tstate);
    g_api->PyThreadState_Clear(state->tstate);
    g_api->PyEval_SaveThread();
    g_api->PyThreadState_Delete(state->tstate);
  }
  if (state->own_cwd >= 0) ::close(state->own_cwd);
  delete state;
}

// Deleted when the plugin is unloaded, so that no thread exiting later runs unloaded code.
struct ThreadKey {
  pthread_key_t key{};
  ThreadKey() { ::pthread_key_create(&key, on_thread_exit); }
  ~ThreadKey() { ::pthread_key_delete(key); }
};

ThreadKey &thread_key() {
  static ThreadKey key;
  return key;
}

// Trivially destructible: a thread_local with a destructor would pin the plugin in memory.
thread_local ThreadState *t_state = nullptr;

ThreadState &thread_state() {
  if (t_state == nullptr) {
    t_state = new ThreadState;
    ::pthread_setspecific(thread_key().key, t_state);
  }
  return *t_state;
}

// Holds the GIL on the calling thread for its scope (a free-threaded build: the thread state
// attached, which other threads do not wait for).
class Gil {
 public:
  Gil() {
    ThreadState &thread = thread_state();
    if (thread.gil_known) {
      state_ = g_api->PyGILState_Ensure();
      return;
    }
    const bool had_tstate = g_api->PyGILState_GetThisThreadState() != nullptr;
    state_ = g_api->PyGILState_Ensure();
    if (!had_tstate) {
      // One more Ensure, released only at thread exit: otherwise every call's Release would
      // destroy the thread state and the next call would build a new one.
      g_api->PyGILState_Ensure();
      thread.tstate = g_api->PyGILState_GetThisThreadState();
    }
    thread.gil_known = true;
  }
  ~Gil() { g_api->PyGILState_Release(state_); }
  Gil(const Gil &) = delete;
  Gil &operator=(const Gil &) = delete;

 private:
  capi::PyGILState_STATE state_;
};

// Where unshare(CLONE_FS) is refused, the process-wide fallback: the first working
// directory is entered once and kept.
std::atomic<bool> g_unshare_refused{false};
std::mutex g_fallback_mutex;
std::string g_fallback_directory;

void enter_process_wide(const std::string &directory, int err, const Logger &log) {
  std::lock_guard<std::mutex> lock(g_fallback_mutex);
  if (g_fallback_directory.empty()) {
    if (::chdir(directory.c_str()) != 0) {
      fail(Status::kPython, errno_message("cannot enter working directory " + directory, errno));
    }
    g_fallback_directory = directory;
    log.warn(errno_message("python: host threads cannot get a working directory of their own "
                           "(unshare(CLONE_FS))",
                           err) +
             "; the process's working directory is now " + directory);
  } else if (g_fallback_directory != directory) {
    log.warn("python: the process's working directory stays " + g_fallback_directory +
             "; relative paths of the environment with working directory " + directory +
             " resolve there");
  }
}

// Runs its scope in `directory` (an O_PATH descriptor) on this thread only.
class WorkingDirectory {
 public:
  WorkingDirectory(int directory_fd, const std::string &directory, const Logger &log) {
    if (directory_fd < 0) return;
    ThreadState &thread = thread_state();
    if (!thread.private_fs) {
      if (g_unshare_refused.load(std::memory_order_relaxed)) {
        enter_process_wide(directory, EPERM, log);
        return;
      }
      if (::unshare(CLONE_FS) != 0) {
        const int err = errno;
        g_unshare_refused = true;
        enter_process_wide(directory, err, log);
        return;
      }
      thread.private_fs = true;
      thread.own_cwd = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    if (::fchdir(directory_fd) != 0) {
      fail(Status::kPython, errno_message("cannot enter working directory " + directory, errno));
    }
    thread_ = &thread;
  }
  ~WorkingDirectory() {
    if (thread_ == nullptr) return;
    if (thread_->own_cwd < 0 || ::fchdir(thread_->own_cwd) != 0) {
      // Its own directory could not even be opened (removed under it): "/" is at least
      // somewhere that exists.
      (void)::chdir("/");
    }
  }
  WorkingDirectory(const WorkingDirectory &) = delete;
  WorkingDirectory &operator=(const WorkingDirectory &) = delete;

 private:
  ThreadState *thread_ = nullptr;
};

// ---------------------------------------------------------------------------------------
// The runtime: the one CPython, the environments using it and the paths they added.

// Python-side helpers, kept in a private dict.
constexpr const char *kHelpers = R"PY(
import sys

def add_paths(paths):
    # Paths already on sys.path (put there by someone else) are left alone and not owned.
    added = [p for p in paths if p not in sys.path]
    sys.path[0:0] = added
    return [p in added for p in paths]

def remove_paths(paths):
    for p in paths:
        try:
            sys.path.remove(p)
        except ValueError:
            pass
        sys.path_importer_cache.pop(p, None)
    try:
        import zipimport
        for p in paths:
            zipimport._zip_directory_cache.pop(p, None)
    except Exception:
        pass
    # Modules imported from the paths go too (unless still reachable through a path that
    # stays), so that the next job's module of the same name is imported afresh.
    gone = tuple(p.rstrip('/') + '/' for p in paths)
    kept = tuple(q.rstrip('/') + '/' for q in sys.path if isinstance(q, str) and q)
    for name, module in list(sys.modules.items()):
        try:
            location = getattr(module, '__file__', None)
            if not isinstance(location, str):
                location = next(iter(getattr(module, '__path__', None) or ()), None)
        except Exception:
            continue
        if (isinstance(location, str) and location.startswith(gone)
                and not location.startswith(kept)):
            sys.modules.pop(name, None)

def format_exception(t, v, tb):
    import traceback
    return ''.join(traceback.format_exception(t, v, tb))

def facts():
    # Asked once at start-up; sys.modules is kept to notice imports cheaply (its size).
    return [sys.prefix, sys.executable or '', sys.implementation.name,
            't' in getattr(sys, 'abiflags', ''), sys.modules,
            getattr(sys, '_is_gil_enabled', None)]
)PY";

struct PathCount {
  int environments = 0;
  bool owned = false;  // added by us, so removed by us
};

// Interpreters of equal environments share one group: its paths are counted once.
struct Group {
  std::string key;
  std::vector<std::string> paths;  // distinct, non-empty, absolute, in order
  std::string working_directory;   // empty: none
  int working_directory_fd = -1;
  int interpreters = 0;
};

struct JsonFunctions {
  PyObject *loads;
  PyObject *dumps;
};

// Shared by every host thread. With a free-threaded CPython there is no GIL to guard
// anything, and TSan cannot see CPython's own synchronisation either: what is written after
// start-up is guarded by `mutex` or atomic; the rest is written once, under `mutex`, before
// the first handle exists, and only read afterwards.
struct Runtime {
  std::mutex mutex;  // taken before the GIL, never while holding it
  std::unique_ptr<Api> api;
  std::optional<PythonLayout> layout;
  std::string broken;  // why CPython failed to start; it cannot be started again
  std::map<std::string, std::unique_ptr<Group>> groups;
  std::map<std::string, PathCount> paths;

  // Written at start-up.
  PyObject *helpers = nullptr;  // a dict, never changed after start-up
  RuntimeInfo facts;            // gil_enabled: as at start-up
  PyObject *sys_modules = nullptr;
  PyObject *is_gil_enabled = nullptr;  // sys._is_gil_enabled (3.13+), or nullptr

  // json.loads and json.dumps, imported by the first call_json (2 ms not spent at start-up
  // by jobs that never use it); published once.
  std::atomic<JsonFunctions *> json{nullptr};
  // Free-threaded builds: sys.modules' size when the GIL was last looked at, and whether
  // its re-enabling was reported.
  std::atomic<Py_ssize_t> modules_seen{-1};
  std::atomic<bool> gil_reported{false};
};

// Never destroyed: CPython is never finalised, and the handles' groups live here.
Runtime &runtime() {
  static Runtime *instance = new Runtime;
  return *instance;
}

std::string utf8(PyObject *text) {
  Py_ssize_t size = 0;
  const char *data = g_api->PyUnicode_AsUTF8AndSize(text, &size);
  if (data == nullptr) {
    g_api->PyErr_Clear();
    return "<not UTF-8>";
  }
  return std::string(data, static_cast<size_t>(size));
}

Ref fs_string(const std::string &path) {
  return Ref(g_api->PyUnicode_DecodeFSDefault(path.c_str()));
}

// The type's __name__: Py_TYPE(o)->tp_name would read the object header.
std::string type_name(PyObject *object) {
  Ref type(g_api->PyObject_Type(object));
  Ref name(type ? g_api->PyObject_GetAttrString(type.get(), "__name__") : nullptr);
  if (!name) {
    g_api->PyErr_Clear();
    return "object";
  }
  return utf8(name.get());
}

unsigned long type_flags(PyObject *object) {
  Ref type(g_api->PyObject_Type(object));
  return type ? g_api->PyType_GetFlags(reinterpret_cast<capi::PyTypeObject *>(type.get())) : 0;
}

// The pending exception as text, cleared: the traceback when `with_traceback`, else
// "Type: message".
std::string take_exception(bool with_traceback) {
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  g_api->PyErr_Fetch(&type, &value, &traceback);
  if (type == nullptr) return "unknown error (no Python exception set)";
  g_api->PyErr_NormalizeException(&type, &value, &traceback);
  Ref t(type), v(value), tb(traceback);
  Runtime &rt = runtime();
  if (with_traceback && rt.helpers != nullptr) {
    PyObject *format = g_api->PyDict_GetItemString(rt.helpers, "format_exception");
    Ref text(format != nullptr
                 ? g_api->PyObject_CallFunctionObjArgs(format, t.get(), v ? v.get() : g_api->none,
                                                       tb ? tb.get() : g_api->none, nullptr)
                 : nullptr);
    if (text) {
      std::string out = utf8(text.get());
      while (!out.empty() && out.back() == '\n') out.pop_back();
      return out;
    }
    g_api->PyErr_Clear();
  }
  Ref name(g_api->PyObject_GetAttrString(t.get(), "__name__"));
  std::string out = name ? utf8(name.get()) : "exception";
  if (!name) g_api->PyErr_Clear();
  if (v) {
    Ref message(g_api->PyObject_Str(v.get()));
    if (message) {
      const std::string text = utf8(message.get());
      if (!text.empty()) out += ": " + text;
    } else {
      g_api->PyErr_Clear();
    }
  }
  return out;
}

[[noreturn]] void fail_python(const std::string &what) {
  fail(Status::kPython, what + ":\n" + take_exception(true));
}

std::string quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

// Paths made absolute against the working directory (relative PYTHONPATH entries are
// relative to where Python runs), distinct and non-empty.
std::vector<std::string> group_paths(const Environment &env) {
  const fs::path base = relative_root(env);
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto &entry : env.paths) {
    if (entry.empty()) continue;
    fs::path path(entry);
    std::string absolute = path.is_absolute() ? entry : (base / path).lexically_normal().string();
    if (seen.insert(absolute).second) out.push_back(absolute);
  }
  return out;
}

std::string group_key(const Environment &env, const std::vector<std::string> &paths) {
  std::string key = env.python_exec + '\0' + env.python_home.value_or("") + '\0' +
                    env.working_directory.value_or("");
  for (const auto &p : paths) key += '\0' + p;
  return key;
}

// Counts `group`'s paths; returns those no other environment had (to be put on sys.path).
std::vector<std::string> claim_paths(Runtime &rt, const Group &group) {
  std::vector<std::string> fresh;
  for (const auto &p : group.paths) {
    if (rt.paths[p].environments++ == 0) fresh.push_back(p);
  }
  return fresh;
}

// Uncounts `group`'s paths; returns those we added and nobody uses any more.
std::vector<std::string> release_paths(Runtime &rt, const Group &group) {
  std::vector<std::string> gone;
  for (const auto &p : group.paths) {
    auto it = rt.paths.find(p);
    if (it == rt.paths.end()) continue;
    if (--it->second.environments == 0) {
      if (it->second.owned) gone.push_back(p);
      rt.paths.erase(it);
    }
  }
  return gone;
}

Ref string_list(const std::vector<std::string> &items) {
  Ref list(g_api->PyList_New(0));
  if (!list) return list;
  for (const auto &item : items) {
    Ref s = fs_string(item);
    if (!s || g_api->PyList_Append(list.get(), s.get()) != 0) return Ref();
  }
  return list;
}

// GIL held.
void call_helper(const char *name, const std::vector<std::string> &paths, Ref *result) {
  PyObject *helper = g_api->PyDict_GetItemString(runtime().helpers, name);
  Ref list = string_list(paths);
  if (helper == nullptr || !list) fail_python(std::string("python: ") + name);
  Ref out(g_api->PyObject_CallFunctionObjArgs(helper, list.get(), nullptr));
  if (!out) fail_python(std::string("python: ") + name);
  if (result != nullptr) *result = std::move(out);
}

// Once CPython runs, this library stays loaded until the process ends: CPython cannot be
// started a second time, so a host that dlclose()d and dlopen()ed the plugin again would
// otherwise get a fresh copy that can never run Python; and the running interpreter's
// state (thread states of live threads included) stays reachable rather than orphaned.
void pin_this_library(const Logger &log) {
  if (!keep_this_library_loaded()) {
    log.warn("python: cannot keep libpyenv loaded while CPython runs; do not unload it");
  }
}

// GIL held (attached). What the running CPython says of itself, and what the GIL watch
// needs. Throws with the traceback.
void read_facts(Runtime &rt, const PythonLayout &layout) {
  PyObject *facts = g_api->PyDict_GetItemString(rt.helpers, "facts");
  Ref list(facts != nullptr ? g_api->PyObject_CallFunctionObjArgs(facts, nullptr) : nullptr);
  if (!list) fail_python("python: asking CPython about itself");
  auto item = [&](Py_ssize_t i) { return g_api->PyList_GetItem(list.get(), i); };
  RuntimeInfo &info = rt.facts;
  info.version = rt.api->version.substr(0, rt.api->version.find(' '));
  info.prefix = utf8(item(0));
  info.executable = utf8(item(1));
  info.implementation = utf8(item(2));
  info.free_threaded = g_api->PyObject_IsTrue(item(3)) == 1;
  info.libpython = layout.libpython;
  info.home = layout.home;
  info.execution_mode = "thread";
  info.pid = ::getpid();
  rt.sys_modules = Ref::borrowed(item(4)).release();
  PyObject *is_gil_enabled = item(5);
  if (is_gil_enabled != g_api->none) rt.is_gil_enabled = Ref::borrowed(is_gil_enabled).release();
  info.gil_enabled = true;
  if (rt.is_gil_enabled != nullptr) {
    Ref now(g_api->PyObject_CallFunctionObjArgs(rt.is_gil_enabled, nullptr));
    if (!now) fail_python("python: sys._is_gil_enabled()");
    info.gil_enabled = g_api->PyObject_IsTrue(now.get()) == 1;
  }
  rt.modules_seen = g_api->PyDict_Size(rt.sys_modules);
}

// Starts the process's CPython for `layout`. Runtime mutex held.
void start_python(Runtime &rt, const PythonLayout &layout, Group &group, const Logger &log) {
  auto api = std::make_unique<Api>(load_libpython(layout.libpython, layout.flavour.version));
  if (api->Py_IsInitialized()) {
    fail(Status::kPython, "python: a CPython (" + layout.libpython.string() +
                              ") is already running in this process, started by someone else "
                              "(the host, or an earlier load of libpyenv); libpyenv only embeds "
                              "a CPython it starts itself");
  }
  // From here on CPython keeps state: the library stays loaded whatever happens, and so
  // does libpyenv, which holds the runtime that remembers it (a failed start included).
  g_api = api.get();
  rt.api = std::move(api);
  pin_this_library(log);
  {
    // site.py runs now: in the environment's directory already.
    WorkingDirectory cwd(group.working_directory_fd, group.working_directory, log);
    start_cpython(*g_api, StartOptions{layout.flavour.version, layout.home, layout.executable});
  }

  // This thread holds the GIL with the main thread state; the references go before it does.
  std::string failure;
  {
    Ref globals(g_api->PyDict_New());
    Ref code(g_api->Py_CompileString(kHelpers, "<pyenv>", capi::kFileInput));
    bool ok = globals && code &&
              g_api->PyDict_SetItemString(globals.get(), "__builtins__",
                                          g_api->PyEval_GetBuiltins()) == 0;
    Ref result(ok ? g_api->PyEval_EvalCode(code.get(), globals.get(), globals.get()) : nullptr);
    if (result) {
      rt.helpers = globals.release();
      try {
        read_facts(rt, layout);
      } catch (const Error &e) {
        failure = e.what();
      }
    } else {
      failure = take_exception(false);
    }
  }
  // Any host thread may now take the GIL; this one keeps its thread state for later calls.
  g_api->PyEval_SaveThread();
  if (!failure.empty()) {
    rt.broken = "python: CPython started, but libpyenv's helpers failed: " + failure;
    fail(Status::kPython, rt.broken);
  }

  rt.layout = layout;
  if (rt.facts.free_threaded != layout.flavour.free_threaded()) {
    log.warn("python: " + layout.libpython.string() + " is " +
             (rt.facts.free_threaded ? "" : "not ") +
             "a free-threaded build, unlike what its file names say");
  }
  log.info("python: started CPython " + rt.facts.version +
           (rt.facts.free_threaded ? " (free-threaded)" : "") + " (" + layout.describe() +
           ", executable " + layout.executable.string() + ")");
}

void start(Runtime &rt, const PythonLayout &layout, Group &group, const Logger &log) {
  try {
    start_python(rt, layout, group, log);
  } catch (const Error &e) {
    // Once the library is loaded and pre-initialisation has begun, CPython cannot be
    // started again in this process.
    if (rt.api && rt.broken.empty()) rt.broken = e.what();
    throw;
  }
}

// GIL held (attached). Free-threaded builds only: when CPython has re-enabled the GIL
// (3.13+ does so on importing an extension that does not declare free-threading support),
// warns once. Imports are noticed by sys.modules' size, so the usual call costs one
// PyDict_Size.
void watch_gil(const Logger &log) {
  Runtime &rt = runtime();
  if (!rt.facts.free_threaded || rt.is_gil_enabled == nullptr ||
      rt.gil_reported.load(std::memory_order_relaxed)) {
    return;
  }
  // Read, and written only on a change: host threads calling in parallel share the line.
  const Py_ssize_t modules = g_api->PyDict_Size(rt.sys_modules);
  if (rt.modules_seen.load(std::memory_order_relaxed) == modules) return;
  rt.modules_seen.store(modules, std::memory_order_relaxed);
  Ref now(g_api->PyObject_CallFunctionObjArgs(rt.is_gil_enabled, nullptr));
  if (!now) {
    g_api->PyErr_Clear();
    return;
  }
  if (g_api->PyObject_IsTrue(now.get()) == 1 && !rt.gil_reported.exchange(true)) {
    log.warn("python: CPython " + rt.facts.version +
             " (free-threaded) re-enabled the GIL: an imported extension module does not "
             "declare that it can run without it (CPython's RuntimeWarning names it). Python "
             "code now runs one host thread at a time; pyenv_interpreter_info reports "
             "\"gil_enabled\": true");
  }
}

// GIL held (attached).
bool gil_enabled_now() {
  Runtime &rt = runtime();
  if (!rt.facts.free_threaded || rt.is_gil_enabled == nullptr) return true;
  Ref now(g_api->PyObject_CallFunctionObjArgs(rt.is_gil_enabled, nullptr));
  if (!now) {
    g_api->PyErr_Clear();
    return rt.gil_reported.load();
  }
  return g_api->PyObject_IsTrue(now.get()) == 1;
}

}  // namespace

// ---------------------------------------------------------------------------------------

struct Interpreter::Impl {
  Group *group = nullptr;
  Logger log;
  PyObject *globals = nullptr;
  // "module:function" -> the function; "name" -> the name as a str, looked up per call.
  struct Callable {
    PyObject *object = nullptr;
    PyObject *name = nullptr;
  };
  using Callables = std::map<std::string, Callable, std::less<>>;
  // Host threads look callables up on every call, at once and without a GIL in free-threaded
  // builds: they read an immutable snapshot, published atomically. A new name copies the
  // snapshot under `callables_mutex`, which is never held while Python runs (Python code
  // may call back into this handle, and in GIL builds another thread holding the GIL may be
  // waiting for it). Old snapshots are kept until the handle closes: a reader may still be
  // looking at one.
  std::atomic<const Callables *> callables{nullptr};
  std::mutex callables_mutex;
  std::vector<std::unique_ptr<const Callables>> snapshots;  // guarded by callables_mutex

  Impl() {
    snapshots.push_back(std::make_unique<Callables>());
    callables = snapshots.back().get();
  }

  // GIL held. The callable named `name`: borrowed from the cache, which keeps it until the
  // handle closes (calls never race with that), so that threads calling in parallel do not
  // all write its reference count; or a name's current binding, a new reference in `owned`.
  PyObject *resolve(std::string_view name, Ref &owned);
  Callable make_callable(std::string_view name);
  Callable cached(std::string_view name);
};

Interpreter::Impl::Callable Interpreter::Impl::make_callable(std::string_view name) {
  const auto colon = name.find(':');
  if (colon == std::string_view::npos) {
    if (name.empty()) fail(Status::kInvalid, "python: empty callable name");
    Ref key(g_api->PyUnicode_FromStringAndSize(name.data(), static_cast<Py_ssize_t>(name.size())));
    if (!key) fail_python("python: callable " + quote(name));
    return Callable{nullptr, key.release()};
  }
  const std::string module(name.substr(0, colon));
  const std::string attributes(name.substr(colon + 1));
  if (module.empty() || attributes.empty() || attributes.front() == '.' ||
      attributes.back() == '.' || attributes.find("..") != std::string::npos) {
    fail(Status::kInvalid, "python: callable " + quote(name) +
                               ": expected \"package.module:function\" or a name in the "
                               "interpreter's globals");
  }
  Ref object(g_api->PyImport_ImportModule(module.c_str()));
  if (!object) fail_python("python: " + quote(name) + ": cannot import " + module);
  size_t start = 0;
  while (start <= attributes.size()) {
    size_t dot = attributes.find('.', start);
    if (dot == std::string::npos) dot = attributes.size();
    const std::string attribute = attributes.substr(start, dot - start);
    object = Ref(g_api->PyObject_GetAttrString(object.get(), attribute.c_str()));
    if (!object) fail_python("python: " + quote(name));
    start = dot + 1;
  }
  if (!g_api->PyCallable_Check(object.get())) {
    fail(Status::kPython,
         "python: " + quote(name) + " is not callable (it is a " + type_name(object.get()) + ")");
  }
  return Callable{object.release(), nullptr};
}

Interpreter::Impl::Callable Interpreter::Impl::cached(std::string_view name) {
  const Callables &now = *callables.load(std::memory_order_acquire);
  auto it = now.find(name);
  if (it != now.end()) return it->second;
  // The import may run other threads' Python meanwhile; the first to publish wins.
  Callable made = make_callable(name);
  Callable kept;
  {
    std::lock_guard<std::mutex> lock(callables_mutex);
    const Callables &latest = *callables.load(std::memory_order_relaxed);
    auto found = latest.find(name);
    if (found == latest.end()) {
      auto next = std::make_unique<Callables>(latest);
      next->emplace(std::string(name), made);
      callables.store(next.get(), std::memory_order_release);
      snapshots.push_back(std::move(next));
      return made;
    }
    kept = found->second;
  }
  // Dropped outside the lock: a destructor may run Python code.
  if (made.object != nullptr) g_api->Py_DecRef(made.object);
  if (made.name != nullptr) g_api->Py_DecRef(made.name);
  return kept;
}

PyObject *Interpreter::Impl::resolve(std::string_view name, Ref &owned) {
  const Callable callable = cached(name);
  if (callable.object != nullptr) return callable.object;
  // Looked up on each call: code exec'd later may rebind the name. A strong reference where
  // the library has PyDict_GetItemRef (3.13+, every free-threaded build): another thread may
  // rebind the name meanwhile.
  auto lookup = [&](PyObject *dict) -> Ref {
    if (g_api->PyDict_GetItemRef != nullptr) {
      PyObject *found = nullptr;
      if (g_api->PyDict_GetItemRef(dict, callable.name, &found) < 0) {
        fail_python("python: " + quote(name));
      }
      return Ref(found);
    }
    PyObject *found = g_api->PyDict_GetItemWithError(dict, callable.name);
    if (found == nullptr && g_api->PyErr_Occurred() != nullptr) {
      fail_python("python: " + quote(name));
    }
    return Ref::borrowed(found);
  };
  owned = lookup(globals);
  if (!owned) owned = lookup(g_api->PyEval_GetBuiltins());
  if (!owned) {
    fail(Status::kPython, "python: name " + quote(name) +
                              " is not defined in this interpreter's globals (nor a builtin)");
  }
  return owned.get();
}

Interpreter::Interpreter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::shared_ptr<Interpreter> Interpreter::open(const Environment &env, const Logger &log) {
  PythonLayout layout = locate_python(env, log);
  Runtime &rt = runtime();
  std::lock_guard<std::mutex> lock(rt.mutex);
  if (!rt.broken.empty()) {
    fail(Status::kPython,
         "python: CPython failed to start earlier in this process and cannot "
         "be started again: " +
             rt.broken);
  }
  if (rt.layout && !rt.layout->same_python(layout)) {
    fail(Status::kPython,
         "python: the environment needs Python " + layout.flavour.describe() + " with " +
             layout.describe() + ", but this process already runs CPython " + rt.facts.version +
             (rt.facts.free_threaded ? " (free-threaded)" : "") + " with " + rt.layout->describe() +
             "; there is one embedded CPython per process: run jobs that need another Python with "
             "python.execution-mode: process, which gives each interpreter a worker process "
             "of its own");
  }

  const std::vector<std::string> paths = group_paths(env);
  const std::string key = group_key(env, paths);
  auto found = rt.groups.find(key);
  const bool fresh_group = found == rt.groups.end();
  std::unique_ptr<Group> made;
  Group *group = nullptr;
  if (fresh_group) {
    made = std::make_unique<Group>();
    made->key = key;
    made->paths = paths;
    if (env.working_directory) {
      made->working_directory = *env.working_directory;
      made->working_directory_fd =
          ::open(env.working_directory->c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (made->working_directory_fd < 0) {
        fail(Status::kIo,
             errno_message("python: working directory " + *env.working_directory, errno));
      }
    }
    group = made.get();
  } else {
    group = found->second.get();
  }
  struct CloseFd {
    Group *group;
    bool armed;
    ~CloseFd() {
      if (armed && group->working_directory_fd >= 0) ::close(group->working_directory_fd);
    }
  } close_fd{group, fresh_group};

  if (!rt.api) start(rt, layout, *group, log);

  auto impl = std::make_unique<Impl>();
  impl->group = group;
  impl->log = log;
  {
    Gil gil;
    Ref globals(g_api->PyDict_New());
    Ref main_name(g_api->PyUnicode_FromStringAndSize("__main__", 8));
    if (!globals || !main_name ||
        g_api->PyDict_SetItemString(globals.get(), "__builtins__", g_api->PyEval_GetBuiltins()) !=
            0 ||
        g_api->PyDict_SetItemString(globals.get(), "__name__", main_name.get()) != 0) {
      fail_python("python: creating an interpreter's globals");
    }
    if (fresh_group) {
      const std::vector<std::string> added = claim_paths(rt, *group);
      if (!added.empty()) {
        Ref owned;
        try {
          call_helper("add_paths", added, &owned);
        } catch (...) {
          release_paths(rt, *group);
          throw;
        }
        for (size_t i = 0; i < added.size(); ++i) {
          PyObject *flag = g_api->PyList_GetItem(owned.get(), static_cast<Py_ssize_t>(i));
          rt.paths[added[i]].owned = flag != nullptr && g_api->PyObject_IsTrue(flag) == 1;
        }
      }
    }
    watch_gil(log);  // site.py and .pth files may have imported extensions
    impl->globals = globals.release();
  }
  if (fresh_group) rt.groups.emplace(key, std::move(made));
  close_fd.armed = false;
  ++group->interpreters;
  return std::shared_ptr<Interpreter>(new Interpreter(std::move(impl)));
}

Interpreter::~Interpreter() {
  Impl &d = *impl_;
  Runtime &rt = runtime();
  std::lock_guard<std::mutex> lock(rt.mutex);
  Group *group = d.group;
  const bool last = --group->interpreters == 0;
  try {
    Gil gil;
    for (auto &[name, callable] : *d.callables.load()) {
      if (callable.object != nullptr) g_api->Py_DecRef(callable.object);
      if (callable.name != nullptr) g_api->Py_DecRef(callable.name);
    }
    // Functions defined by exec() refer back to the globals: clear them to break the cycle
    // now rather than at the next garbage collection.
    g_api->PyDict_Clear(d.globals);
    g_api->Py_DecRef(d.globals);
    if (last) {
      const std::vector<std::string> gone = release_paths(rt, *group);
      if (!gone.empty()) call_helper("remove_paths", gone, nullptr);
    }
  } catch (const std::exception &e) {
    d.log.warn(std::string("python: closing an interpreter: ") + e.what());
  }
  if (last) {
    if (group->working_directory_fd >= 0) ::close(group->working_directory_fd);
    rt.groups.erase(group->key);
  }
}

std::optional<RuntimeInfo> Interpreter::running() {
  Runtime &rt = runtime();
  std::lock_guard<std::mutex> lock(rt.mutex);
  if (!rt.layout) return std::nullopt;
  RuntimeInfo info = rt.facts;
  info.gil_enabled = info.gil_enabled || rt.gil_reported.load();
  return info;
}

RuntimeInfo Interpreter::info() {
  Gil gil;
  watch_gil(impl_->log);
  RuntimeInfo info = runtime().facts;
  info.gil_enabled = gil_enabled_now();
  return info;
}

void Interpreter::exec(const std::string &code) {
  Impl &d = *impl_;
  WorkingDirectory cwd(d.group->working_directory_fd, d.group->working_directory, d.log);
  Gil gil;
  Ref compiled(g_api->Py_CompileString(code.c_str(), "<exec>", capi::kFileInput));
  if (!compiled) fail_python("python: exec: the code does not compile");
  Ref result(g_api->PyEval_EvalCode(compiled.get(), d.globals, d.globals));
  watch_gil(d.log);
  if (!result) fail_python("python: exec raised an exception");
}

namespace {

// GIL held. json.loads and json.dumps, imported on first use. Threads racing here each
// import (imports are thread-safe in CPython); the first to publish wins.
const JsonFunctions &json_functions(Runtime &rt) {
  if (const JsonFunctions *json = rt.json.load(std::memory_order_acquire)) return *json;
  Ref json(g_api->PyImport_ImportModule("json"));
  if (!json) fail_python("python: cannot import json");
  Ref loads(g_api->PyObject_GetAttrString(json.get(), "loads"));
  Ref dumps(g_api->PyObject_GetAttrString(json.get(), "dumps"));
  if (!loads || !dumps) fail_python("python: json");
  auto made = std::make_unique<JsonFunctions>(JsonFunctions{loads.get(), dumps.get()});
  JsonFunctions *expected = nullptr;
  if (!rt.json.compare_exchange_strong(expected, made.get(), std::memory_order_acq_rel)) {
    return *expected;
  }
  loads.release();
  dumps.release();
  return *made.release();
}

Ref call_one(PyObject *function, PyObject *argument) {
  return Ref(g_api->PyObject_CallFunctionObjArgs(function, argument, nullptr));
}

Buffer copy_out(const char *data, size_t size) {
  Buffer out = Buffer::allocate(size, "a result");
  if (size > 0) std::memcpy(out.data(), data, size);
  return out;
}

// GIL held. The bytes of `result`, a call_bytes result (bytes, str as UTF-8, or another
// buffer), handed to `take(data, size)`.
template <class Take>
void result_bytes(std::string_view callable, PyObject *r, Take &&take) {
  const unsigned long flags = type_flags(r);
  if ((flags & capi::kBytesSubclass) != 0) {
    char *bytes = nullptr;
    Py_ssize_t length = 0;
    if (g_api->PyBytes_AsStringAndSize(r, &bytes, &length) != 0) fail_python("python: bytes");
    take(bytes, static_cast<size_t>(length));
    return;
  }
  if ((flags & capi::kUnicodeSubclass) != 0) {
    Py_ssize_t length = 0;
    const char *text = g_api->PyUnicode_AsUTF8AndSize(r, &length);
    if (text == nullptr) {
      fail_python("python: the str returned by " + quote(callable) + " is not valid UTF-8");
    }
    take(text, static_cast<size_t>(length));
    return;
  }
  capi::Py_buffer view;
  if (g_api->PyObject_GetBuffer(r, &view, capi::kBufSimple) == 0) {
    struct Release {
      capi::Py_buffer *view;
      ~Release() { g_api->PyBuffer_Release(view); }
    } release{&view};
    take(static_cast<const char *>(view.buf), static_cast<size_t>(view.len));
    return;
  }
  g_api->PyErr_Clear();
  fail(Status::kPython,
       "python: " + quote(callable) + " returned " + type_name(r) + ", expected bytes or str");
}

}  // namespace

std::string Interpreter::call_json(std::string_view callable, const std::string &args_json) {
  Impl &d = *impl_;
  Runtime &rt = runtime();
  WorkingDirectory cwd(d.group->working_directory_fd, d.group->working_directory, d.log);
  Gil gil;
  const JsonFunctions &json = json_functions(rt);
  Ref owned;
  PyObject *function = d.resolve(callable, owned);
  Ref args;
  if (args_json.empty()) {
    args = Ref(g_api->PyTuple_New(0));
  } else {
    Ref text(g_api->PyUnicode_FromStringAndSize(args_json.data(),
                                                static_cast<Py_ssize_t>(args_json.size())));
    if (!text) {
      fail(Status::kInvalid, "python: " + quote(callable) + ": arguments are not UTF-8 (" +
                                 take_exception(false) + ")");
    }
    Ref parsed = call_one(json.loads, text.get());
    if (!parsed) {
      fail(Status::kInvalid, "python: " + quote(callable) + ": arguments are not valid JSON (" +
                                 take_exception(false) + ")");
    }
    if ((type_flags(parsed.get()) & capi::kListSubclass) == 0) {
      fail(Status::kInvalid, "python: " + quote(callable) +
                                 ": arguments must be a JSON array, not a JSON " +
                                 type_name(parsed.get()));
    }
    args = Ref(g_api->PyList_AsTuple(parsed.get()));
  }
  if (!args) fail_python("python: " + quote(callable));
  Ref result(g_api->PyObject_Call(function, args.get(), nullptr));
  watch_gil(d.log);
  if (!result) fail_python("python: " + quote(callable) + " raised an exception");
  Ref text = call_one(json.dumps, result.get());
  if (!text) fail_python("python: the result of " + quote(callable) + " is not JSON-serialisable");
  return utf8(text.get());
}

Buffer Interpreter::call_bytes(std::string_view callable, const void *data, size_t size) {
  if (data == nullptr && size > 0) fail(Status::kInvalid, "python: call_bytes: NULL data");
  Impl &d = *impl_;
  WorkingDirectory cwd(d.group->working_directory_fd, d.group->working_directory, d.log);
  Gil gil;
  Ref owned;
  PyObject *function = d.resolve(callable, owned);
  Ref argument(g_api->PyBytes_FromStringAndSize(static_cast<const char *>(data),
                                                static_cast<Py_ssize_t>(size)));
  if (!argument) fail_python("python: " + quote(callable));
  Ref result = call_one(function, argument.get());
  watch_gil(d.log);
  if (!result) fail_python("python: " + quote(callable) + " raised an exception");
  Buffer out;
  result_bytes(callable, result.get(),
               [&](const char *bytes, size_t length) { out = copy_out(bytes, length); });
  return out;
}

Buffer Interpreter::call_batch(std::string_view callable, const Record *records, size_t count) {
  if (records == nullptr && count > 0) fail(Status::kInvalid, "python: call_batch: NULL records");
  Impl &d = *impl_;
  WorkingDirectory cwd(d.group->working_directory_fd, d.group->working_directory, d.log);
  BatchResults results(count);
  Gil gil;
  Ref owned;
  PyObject *function = d.resolve(callable, owned);
  for (size_t i = 0; i < count; ++i) {
    const Record &record = records[i];
    if (record.data == nullptr && record.size > 0) {
      fail(Status::kInvalid, "python: call_batch: record " + std::to_string(i) + " has NULL data");
    }
    Ref argument(g_api->PyBytes_FromStringAndSize(static_cast<const char *>(record.data),
                                                  static_cast<Py_ssize_t>(record.size)));
    if (!argument) fail_python("python: " + quote(callable));
    Ref result = call_one(function, argument.get());
    if (!result) {
      watch_gil(d.log);
      fail_python("python: " + quote(callable) + " raised an exception on record " +
                  std::to_string(i) + " of " + std::to_string(count));
    }
    result_bytes(callable, result.get(),
                 [&](const char *bytes, size_t length) { results.add(bytes, length); });
  }
  watch_gil(d.log);
  return results.finish();
}

}  // namespace pyenv::python
