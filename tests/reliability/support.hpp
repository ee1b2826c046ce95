// What the reliability tests share: file systems mounted for a fault, child processes driven
// through pipes, the state a job leaves on disk, and the process's own resources.
#pragma once

#include <gmock/gmock.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <pyenv/host.hpp>
#include <string>
#include <vector>

#include "support/fixture.hpp"

namespace pyenv::test::reliability {

using std::chrono::milliseconds;

bool running_as_root();

// A tmpfs mounted on a fresh directory for the life of the object, unmounted (lazily, so a
// leftover descriptor cannot keep it) when it goes. Needs root with CAP_SYS_ADMIN.
class Tmpfs {
 public:
  // `options`: mount(8) data such as "size=2m"; `read_only` mounts it MS_RDONLY. Returns
  // null and sets `why` when it cannot be mounted.
  static std::unique_ptr<Tmpfs> mount(const std::string &options, bool read_only, std::string &why);
  ~Tmpfs();
  Tmpfs(const Tmpfs &) = delete;
  Tmpfs &operator=(const Tmpfs &) = delete;

  const fs::path &path() const { return dir_.path(); }
  fs::path operator/(const std::string &name) const { return dir_.path() / name; }
  // Changes the mount's options in place, contents kept. Returns "" or why it failed (EBUSY
  // going read-only while a file is open for writing, for one).
  std::string remount(const std::string &options, bool read_only);

 private:
  Tmpfs() = default;
  TempDir dir_;
  bool mounted_ = false;
};

// The status and message of a call through host.hpp.
struct Outcome {
  pyenv_status status = PYENV_OK;
  std::string message;
  bool ok() const { return status == PYENV_OK; }
};
Outcome outcome_of(const std::function<void()> &call);
const char *status_name(pyenv_status status);
std::ostream &operator<<(std::ostream &out, const Outcome &outcome);
// Prints the outcome under the running test's name: the test log then documents the status
// and message each fault gives.
void print_outcome(const Outcome &outcome);

// Log lines of one or more managers, thread-safe, with an optional hook that runs on the
// logging thread for each line (faults injected at an exact point of open()).
class LogLines {
 public:
  std::function<void(int, const char *)> sink();
  void set_hook(std::function<void(const std::string &)> hook);
  size_t count(const std::string &part) const;
  std::string dump() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
  std::function<void(const std::string &)> hook_;
};

// python-dist-* directories in `tmp`.
std::vector<fs::path> base_dirs_in(const fs::path &tmp);
// Names in a directory, sorted; empty when it does not exist.
std::vector<std::string> names_in(const fs::path &dir);
// What must hold of a cache after any open, failed or not: no staging, every lock file
// belongs to a published tree or to nobody, every published tree is sealed. Returns the
// problems found.
std::vector<std::string> cache_problems(const fs::path &cache);

// `count` regular files d<NNN>/f<NNNNN>.txt of about `size` bytes each, in name order (so
// a tar holds them in that order), 40 per directory. The bytes depend on `seed`.
std::vector<Entry> many_files(size_t count, size_t size, unsigned seed = 1);

// True once an extraction in progress under `root` (a cache's staging, a tmp dir) has
// written `marker`. Looks only into the few directories on the way, so that it can be polled
// every millisecond while thousands of files are written.
bool extraction_reached(const fs::path &root, const std::string &marker, int depth = 4);

// True once `pid` no longer runs; a zombie counts as gone (PID 1 of a container may never
// reap what it inherits).
bool process_gone(pid_t pid);
// Polls `done` every millisecond until it holds or `limit` passes.
bool wait_for(const std::function<bool()> &done, milliseconds limit);

// A child process whose stdin and stdout are pipes to us; stderr is ours. Killed with
// SIGKILL and reaped on destruction if still running.
class Child {
 public:
  Child(const std::vector<std::string> &argv, const std::vector<std::string> &extra_env = {});
  ~Child();
  Child(const Child &) = delete;
  Child &operator=(const Child &) = delete;

  pid_t pid() const { return pid_; }
  // The next line of its stdout without the '\n'; nullopt at EOF or after `limit`.
  std::optional<std::string> read_line(milliseconds limit);
  // Lines until one starts with `prefix` (returned); nullopt at EOF or after `limit`.
  std::optional<std::string> read_until(const std::string &prefix, milliseconds limit);
  void write_line(const std::string &line);
  // Closes its stdin: it reads EOF.
  void close_input();
  void kill(int signal);
  // Waits for it and returns the wait status.
  int wait();
  bool running() const { return !reaped_; }

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  std::string pending_;
  bool reaped_ = false;
  int status_ = 0;
};

// Entries of /proc/self/fd.
size_t open_fds();
// VmRSS of this process, in KiB.
size_t rss_kib();

// A stand-in python: the machine's /usr/bin/python3 for everything but "-m pip" while the
// file `hang` exists; then it writes "<its pid> <its child's pid>" to `pids` and waits for a
// child that sleeps, without end.
fs::path write_hanging_python(const fs::path &dir, const fs::path &hang, const fs::path &pids);
// The two pids the stand-in wrote, once it has.
std::optional<std::pair<pid_t, pid_t>> read_pids(const fs::path &pids);

// Options for a manager of `job_id` on `tmp_dirs` with `yaml`, logging into `log`.
pyenv::host::Options options_for(const std::string &job_id, const std::vector<fs::path> &tmp_dirs,
                                 const std::string &yaml, LogLines *log = nullptr);

// The helper executables, built beside the tests.
std::string crash_child_path();
std::string stress_worker_path();

}  // namespace pyenv::test::reliability
