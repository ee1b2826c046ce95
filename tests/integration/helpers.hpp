// What the integration tests share: watching processes die, and collecting log lines.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "util/log.hpp"

namespace pyenv::test {

// True once `pid` no longer runs. A zombie counts as gone: whether its new parent reaps it
// is up to PID 1 of the container, which may never do so.
bool process_gone(pid_t pid);
// Waits up to `limit` for process_gone(pid).
bool wait_gone(pid_t pid, std::chrono::milliseconds limit = std::chrono::seconds(3));

// What a pyenv-host run printed, and how it exited.
struct Ran {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs the built pyenv-host with `args` (shell words) and `stdin_text` on its input, stdout
// and stderr captured apart through files in `dir`.
Ran run_host(const std::string &args, const std::filesystem::path &dir,
             const std::string &stdin_text = "");

// A Logger whose lines and progress reports are kept for inspection.
class LogRecorder {
 public:
  struct Line {
    LogLevel level;
    std::string text;
  };
  struct Progress {
    std::string phase;
    uint64_t done;
    uint64_t total;
  };

  Logger logger();
  std::vector<Line> lines() const;
  std::vector<Progress> progress() const;
  // Lines that start with `prefix`, in order, at `level` or at any level when unset.
  std::vector<std::string> starting_with(const std::string &prefix) const;
  size_t count(LogLevel level) const;
  std::string dump() const;  // everything, for failure messages

 private:
  mutable std::mutex mutex_;
  std::vector<Line> lines_;
  std::vector<Progress> progress_;
};

}  // namespace pyenv::test
