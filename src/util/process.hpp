// Running a program as a child process: no shell, a complete environment of our choosing,
// merged output delivered line by line, and a deadline that takes the whole process tree
// down with it.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pyenv {

struct ProcessSpec {
  // argv[0] is looked up on env's PATH (not the caller's) when it has no '/'.
  std::vector<std::string> argv;
  // The complete environment of the child; nothing of the caller's is inherited.
  std::map<std::string, std::string> env;
  std::optional<std::filesystem::path> cwd;
  // Measured from the start. When it passes, the child and everything in its session (its
  // own, from setsid) get SIGKILL, and the call returns without waiting for the
  // output to reach EOF.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  // Each line of merged stdout+stderr, without its '\n' (nor a trailing '\r'), as it comes.
  // An exception from it kills the child's tree, reaps the child and propagates.
  std::function<void(const std::string &line)> on_line;
};

struct ProcessResult {
  int exit_code = -1;  // when it exited normally
  int signal = 0;      // when killed by a signal (SIGKILL after a timeout)
  bool timed_out = false;
  std::vector<std::string> last_lines;  // the last kLastLines lines of output, oldest first

  static constexpr size_t kLastLines = 30;
  bool succeeded() const { return !timed_out && signal == 0 && exit_code == 0; }
  // "exit code 1", "killed by signal 9 (Killed)", "timed out after 0.5 s".
  std::string describe(std::chrono::milliseconds timeout) const;
};

// Runs `spec` to completion. The child reads /dev/null as stdin, gets only the output pipe
// besides (every other descriptor is closed), default signal dispositions and an empty
// signal mask. The child is always reaped before this returns or throws. Descendants that
// still hold the output open after the child has exited are killed as well, so that the
// call cannot hang on them. Safe to call from several threads at once.
//
// The child gets SIGKILL when the calling thread dies (PR_SET_PDEATHSIG): a host killed
// while it runs does not leave it running on. Its descendants are not covered by that; one
// that writes output then fails on the broken pipe, a silent one lives on.
//
// Throws Error(kInvalid) for an empty argv, Error(kIo) when the program cannot be started,
// naming argv[0] and the reason (e.g. "python3.99: not found on PATH (/usr/bin:/bin)").
ProcessResult run_process(const ProcessSpec &spec);

// Where `name` would be run from with `path_value` as PATH: `name` itself when it holds a
// '/', else the first executable regular file of that name on the path. Relative entries
// (an empty one is ".", as for the shell) are taken relative to `relative_to` when it is
// given, the child's working directory. nullopt when there is none.
std::optional<std::filesystem::path> find_program(const std::string &name,
                                                  const std::string &path_value,
                                                  const std::filesystem::path &relative_to = {});

}  // namespace pyenv
