// The one interpreter interface plugin/ calls (DESIGN.md sections 6 and 10): a handle onto
// the Python of an environment, either embedded in this process (python/, thread mode, the
// default) or served by a worker process of its own (worker/, process mode). The
// environment's exec type decides which; callers never know.
//
// Both give the same results, statuses and tracebacks for the same calls. Calls on one
// handle from several threads are allowed: thread mode runs them at once (each takes the
// GIL, or runs in parallel on a free-threaded build); process mode serialises them, since
// its worker runs one call at a time. Destroying a handle must not race with calls on it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "env/environment.hpp"
#include "util/log.hpp"

namespace pyenv {

// Bytes from std::malloc; release() hands them to C callers, who free them with std::free.
class Buffer {
 public:
  Buffer() = default;
  Buffer(char *data, size_t size) : data_(data), size_(size) {}
  const char *data() const { return data_.get(); }
  char *data() { return data_.get(); }
  size_t size() const { return size_; }
  std::string_view view() const { return {data_.get(), size_}; }
  // size() still tells how many bytes were handed over.
  void *release() { return data_.release(); }

  // `size` bytes (one at least: malloc(0) may return NULL, which reads as failure to C
  // callers). Throws Error(kNoMemory) naming `what`.
  static Buffer allocate(size_t size, const char *what);

 private:
  struct Free {
    void operator()(char *p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> data_;
  size_t size_ = 0;
};

// One record of a batch; the layout of pyenv_record (plugin/ asserts it).
struct Record {
  const void *data;
  size_t size;
};

// The results of a batch, gathered one by one and handed out as one allocation: `count`
// Records, then the bytes they point to (pyenv_interpreter_call_batch).
class BatchResults {
 public:
  explicit BatchResults(size_t count);
  // Room for the next result's `size` bytes, which the caller fills.
  char *add(size_t size);
  void add(const void *data, size_t size);
  Buffer finish();

 private:
  size_t count_;
  std::string bytes_;
  std::vector<size_t> ends_;
};

// The Python behind a handle (pyenv_interpreter_info).
struct RuntimeInfo {
  std::string version;         // "3.13.1": Py_GetVersion() up to its first space
  std::string implementation;  // sys.implementation.name: "cpython"
  bool free_threaded = false;  // a free-threaded build (sys.abiflags has "t")
  bool gil_enabled = true;     // the GIL is enabled (always, but in free-threaded builds)
  std::string prefix;          // sys.prefix (a venv's directory for a venv)
  std::string executable;      // sys.executable
  std::filesystem::path libpython;  // empty: none (a worker's statically linked Python)
  std::filesystem::path home;       // thread mode: the home it was started with
  std::string execution_mode = "thread";  // "thread" or "process"
  pid_t pid = 0;                          // the process that runs it
};

// {"version": ..., "implementation": ..., "free_threaded": ..., "gil_enabled": ...,
// "prefix": ..., "executable": ..., "libpython": ... | null, "execution_mode": ...,
// "pid": ...}
std::string to_json(const RuntimeInfo &info);

class Interpreter {
 public:
  virtual ~Interpreter() = default;

  // Runs `code` (statements) in this handle's globals, as `python -c` would (__name__ is
  // "__main__"). Throws Error(kPython) with the formatted traceback.
  virtual void exec(const std::string &code) = 0;

  // `callable`: "package.module:function" (the module imported, the function looked up once
  // and kept; "module:Class.method" works too) or a name bound in this handle's globals (or
  // a builtin), looked up on every call so that rebinding it takes effect.
  // `args_json`: a JSON array of positional arguments (empty means none). Returns the result
  // as JSON text (json.dumps). Throws Error(kInvalid) for a malformed callable or arguments
  // that are not a JSON array, Error(kPython) with the traceback when the call raises or the
  // result is not JSON-serialisable.
  virtual std::string call_json(std::string_view callable, const std::string &args_json) = 0;

  // The hot path: one bytes argument; the result must be bytes, bytearray, another
  // buffer, or str (returned as UTF-8). Errors as call_json.
  virtual Buffer call_bytes(std::string_view callable, const void *data, size_t size) = 0;

  // call_bytes of `callable` on each of `count` records, in order, stopping at the first
  // that fails: Error(kPython) naming its index. Results as BatchResults::finish().
  virtual Buffer call_batch(std::string_view callable, const Record *records, size_t count) = 0;

  virtual RuntimeInfo info() = 0;
};

// A handle for `env`: embedded for exec type MULTI_THREAD, a worker process for PROCESS.
// A worker's output and warnings go to the environment's log relay (its manager's log
// while that is open), else to `fallback`; thread mode logs to `fallback`.
std::shared_ptr<Interpreter> open_interpreter(const Environment &env, const Logger &fallback);

}  // namespace pyenv
