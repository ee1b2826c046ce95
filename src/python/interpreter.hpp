// The embedded interpreter (DESIGN.md section 6): the one CPython of the process, started
// from the first environment that asks for it, and handles onto it that the host calls from
// any of its threads.
//
// One CPython per process. Its libpython is found from the environment (python/locate.hpp)
// and loaded with dlopen; it is initialised once, isolated from the host's own environment
// variables (PYTHONPATH, PYTHONHOME... of the host process are ignored, no user
// site-packages, no signal handlers, the host's locale untouched, UTF-8 mode), with home
// and executable set before initialisation. It is
// never finalised: host threads may still call it, and CPython cannot be started twice in
// one process. An environment that needs another home, venv or version than the running
// one is refused with Error(kPython) naming both.
//
// Any CPython from 3.9 to 3.15, GIL or free-threaded: the version and flavour are read from
// the environment before anything is loaded (locate.hpp), start-up takes that version's
// path (startup.hpp), and everything after start-up calls functions every supported
// version exports, declared by libpyenv itself (capi.hpp). With a free-threaded build, host
// threads run Python in parallel: libpyenv takes no lock of its own around calls, and its
// own shared state is guarded by its own mutexes and atomics, never by the GIL.
//
// sys.path: the environment's paths come first (put there right after start-up), then the
// standard library of its home; a venv's or an archive's site-packages come from site.py. A later
// environment with the same Python adds its own paths in front. Each path is counted per
// environment that added it; when the last interpreter of an environment closes, the paths only it
// added leave sys.path again, and so do the modules imported from them (from sys.modules), so that
// jobs coming and going neither accumulate paths nor see each other's stale modules.
//
// Working directory. When the environment has one, every call runs with it as the current
// directory (os.getcwd(), relative paths into archives). A process-wide chdir would move the
// host and every other environment with it, so the directory is per thread instead: the
// first call from a host thread gives that thread its own file-system context
// (unshare(CLONE_FS)), and each call enters the environment's directory and returns to the
// thread's own one afterwards (two fchdir). From its first such call on, the thread no longer
// follows chdir() made by other threads, and between calls it is back in the directory it
// was in at that first call. Python threads started by Python code share the directory of
// the host thread that started them. Where the kernel refuses unshare (some seccomp
// profiles), the process changes directory once, to the first environment's directory, and
// says so in the log.
//
// Closing the manager while interpreters are open is safe: nothing here points into the
// manager. Its last close removes the base directory, so afterwards modules not yet imported
// from it cannot be imported and files under the working directory are gone (Python
// exceptions, never crashes); what was imported keeps working. The running CPython (home,
// libpython) stays valid as long as its tree exists: with the archive cache that is the
// cached tree, which can be evicted once no manager holds it, so a host keeps a manager of
// the job open while the job's interpreters run.
//
// The environment's variables are not put into the process environment (nor os.environ):
// setenv would change them for the host and every other job.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "env/environment.hpp"
#include "env/interpreter.hpp"
#include "util/log.hpp"

namespace pyenv::python {

// The interface's types, by the names the embedded interpreter's users know them.
using pyenv::Buffer;
using pyenv::Record;
using pyenv::RuntimeInfo;
using pyenv::to_json;

// One handle onto the process's CPython, with its own globals. Thread-safe: any thread may
// call; the GIL is taken for each call (a free-threaded build: the thread state attached)
// and released before it returns, never held between calls. Closing a handle (destroying it) must
// not race with calls on that same handle.
class Interpreter final : public pyenv::Interpreter {
 public:
  // Starts the process's CPython for `env` on first use, or joins the running one.
  // Throws Error(kPython): no usable libpython (naming where it looked), another home, venv
  // or version than the running CPython (naming both), CPython failing to start.
  static std::shared_ptr<Interpreter> open(const Environment &env, const Logger &log);

  // The running CPython; nullopt before the first open. gil_enabled: as last seen.
  static std::optional<RuntimeInfo> running();

  // The running CPython, with whether the GIL is enabled now (a free-threaded build enables
  // it when an extension without free-threading support is imported; that is also logged
  // once, as a warning).
  RuntimeInfo info() override;

  ~Interpreter() override;
  Interpreter(const Interpreter &) = delete;
  Interpreter &operator=(const Interpreter &) = delete;

  // The interface's calls (env/interpreter.hpp), on the process's CPython.
  void exec(const std::string &code) override;
  std::string call_json(std::string_view callable, const std::string &args_json) override;
  Buffer call_bytes(std::string_view callable, const void *data, size_t size) override;
  // One GIL acquisition for the whole batch.
  Buffer call_batch(std::string_view callable, const Record *records, size_t count) override;

  struct Impl;

 private:
  explicit Interpreter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pyenv::python
