// Running a program as a child process: no shell, a complete environment of our choosing,
// merged output delivered line by line, and a deadline that takes the whole process tree
// down with it.
#pragma once

#include <sys/types.h>

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

// The descriptor a spawned child finds its channel on (SpawnSpec::channel_fd).
constexpr int kChannelFd = 3;

// A long-lived child (a process-mode worker): started as run_process starts its children
// (argv[0] looked up on env's PATH, a complete environment, stdin /dev/null, a session of
// its own, default signal dispositions, every other descriptor closed), with stdout,
// stderr and a channel of the caller's choosing. The caller owns the child: it reaps it.
struct SpawnSpec {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::optional<std::filesystem::path> cwd;
  int stdout_fd = -1;   // required
  int stderr_fd = -1;   // required; may equal stdout_fd
  int channel_fd = -1;  // becomes descriptor kChannelFd in the child; -1 for none
};

// Starts `spec` and returns the child's pid once it has exec'd; the child's argv[0] is the
// path argv[0] was found at. PR_SET_PDEATHSIG (SIGKILL)
// binds the child to the calling thread: call this from a thread that lives as long as the
// child may. Throws as run_process does when the program cannot be started.
pid_t spawn_process(const SpawnSpec &spec);

// Where `name` would be run from with `path_value` as PATH: `name` itself when it holds a
// '/', else the first executable regular file of that name on the path. Relative entries
// (an empty one is ".", as for the shell) are taken relative to `relative_to` when it is
// given, the child's working directory. nullopt when there is none.
std::optional<std::filesystem::path> find_program(const std::string &name,
                                                  const std::string &path_value,
                                                  const std::filesystem::path &relative_to = {});

}  // namespace pyenv
