// What pyenv-host's commands share: finding the plugin and the examples, the progress line,
// and the options a host passes to pyenv_create.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <pyenv/host.hpp>
#include <string>
#include <vector>

namespace pyenv_host {

namespace fs = std::filesystem;

// The directory of this program.
fs::path self_dir();

// libpyenv.so: `explicit_path`, else $PYENV_PLUGIN, else next to this program, else
// ../lib/pyenv/. Exits with status 2 and a message when none is found.
std::string find_plugin(const std::optional<std::string> &explicit_path);

// <bin>/../share/pyenv/examples.
fs::path examples_dir();

// On a terminal, one self-overwriting status line on stderr; otherwise nothing.
class ProgressLine {
 public:
  ProgressLine();
  ~ProgressLine() { clear(); }
  ProgressLine(const ProgressLine &) = delete;
  ProgressLine &operator=(const ProgressLine &) = delete;
  void update(const char *phase, uint64_t done, uint64_t total);
  void clear();

 private:
  bool enabled_;
  bool shown_ = false;
};

// Options of a manager: `tmp_dirs` (default: $TMPDIR or /tmp), this process's environment
// as the system environment, log lines on stderr (info and above when `verbose`, else
// warnings and errors) and progress on `progress`, which must outlive the manager.
pyenv::host::Options host_options(const std::string &job_id,
                                  const std::vector<std::string> &tmp_dirs, bool verbose,
                                  ProgressLine &progress);

// Exits with status 2 after `message` and `usage`.
[[noreturn]] void usage_error(const std::string &message, const char *usage);

}  // namespace pyenv_host
