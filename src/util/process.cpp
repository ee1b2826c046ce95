#include "util/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>

#include "error.hpp"
#include "util/unique_fd.hpp"

namespace pyenv {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long output may still arrive after the child has exited, from descendants it left
// behind holding the pipe, before those are killed.
constexpr milliseconds kLingerAfterExit{1000};
// How often the child is checked for having exited, on kernels without pidfd_open (< 5.3),
// where its exit cannot be polled for.
constexpr milliseconds kReapTick{50};
// With a pidfd every wake-up has a reason; this only keeps poll's int in range.
constexpr milliseconds kLongWait = std::chrono::hours(1);
// Output still read after the tree was killed: a descendant that left the session cannot be
// killed with it and might write forever.
constexpr size_t kMaxDrain = 4 << 20;
// A "line" longer than this is delivered in pieces, so that output without newlines
// cannot grow the buffer without bound.
constexpr size_t kMaxLine = 1 << 20;

// What the child does between vfork and execve. Until then it runs on the suspended
// parent thread's stack and memory, so it only makes system calls: no allocation, no lock,
// no C++ object, nothing that could touch the parent's state. A failing step writes
// {step, errno} to the close-on-exec report pipe and exits; a successful execve closes the
// pipe, which the parent reads as EOF.
struct ChildSetup {
  const char *path;
  char *const *argv;
  char *const *envp;
  const char *cwd;  // nullptr: the caller's
  int stdout_fd;    // to become stdout
  int stderr_fd;    // to become stderr (may equal stdout_fd)
  int channel_fd;   // to become descriptor 3, or -1 for none
  int report_fd;    // close-on-exec
  pid_t parent;     // the caller's pid, to notice that it died before PR_SET_PDEATHSIG
};

enum ChildStep : int {
  kStepDescriptors = 1,
  kStepSession,
  kStepDeathSignal,
  kStepParentGone,
  kStepStdin,
  kStepOutput,
  kStepWorkingDirectory,
  kStepExec,
};

const char *child_step_name(int step) {
  switch (step) {
    case kStepDescriptors:
      return "moving descriptors";
    case kStepSession:
      return "setsid";
    case kStepDeathSignal:
      return "PR_SET_PDEATHSIG";
    case kStepParentGone:
      return "its parent exited";
    case kStepStdin:
      return "stdin";
    case kStepOutput:
      return "stdout and stderr";
    case kStepWorkingDirectory:
      return "working directory";
    default:
      return "execve";
  }
}

struct ChildReport {
  int step;
  int error;
};

[[noreturn]] void child_failed(int report_fd, int step) {
  const ChildReport report{step, errno};
  // Nothing to do if the report cannot be written: the parent then sees exit code 127.
  [[maybe_unused]] ssize_t n = ::write(report_fd, &report, sizeof report);
  ::_exit(127);
}

// Closes every descriptor from `from` up, but `keep`.
void close_from(int from, int keep) {
  auto close_range_of = [](unsigned first, unsigned last) {
    if (first > last) return;
#ifdef SYS_close_range
    if (::syscall(SYS_close_range, first, last, 0) == 0) return;
#endif
    // Kernels before 5.9: one by one, up to the descriptor limit.
    const long limit = std::min(::sysconf(_SC_OPEN_MAX), 1L << 20);
    for (long fd = first; fd < limit && fd <= static_cast<long>(last); ++fd) {
      ::close(static_cast<int>(fd));
    }
  };
  close_range_of(static_cast<unsigned>(from), static_cast<unsigned>(keep) - 1);
  close_range_of(static_cast<unsigned>(keep) + 1, ~0u);
}

// The child's descriptors 0 to 3 are made from these; each is first moved above them, so
// that none is overwritten by another's dup2 (a host may have closed its own 0, 1 or 2).
constexpr int kFirstFreeFd = 10;

// `fd` moved to kFirstFreeFd or above (close-on-exec), or itself when it is there already.
int above_standard(int fd) {
  return fd < kFirstFreeFd ? ::fcntl(fd, F_DUPFD_CLOEXEC, kFirstFreeFd) : fd;
}

[[noreturn]] void child_after_vfork(ChildSetup s) {
  // The parent blocked every signal before vfork, so no handler of the host's runs here on
  // its stack. Every disposition goes back to the default (the host's SIGPIPE ignored, say,
  // must not be inherited); SIGKILL and SIGSTOP just fail.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &default_action, nullptr);

  s.report_fd = above_standard(s.report_fd);
  if (s.report_fd < 0) ::_exit(127);
  const bool same_output = s.stderr_fd == s.stdout_fd;
  s.stdout_fd = above_standard(s.stdout_fd);
  s.stderr_fd = same_output ? s.stdout_fd : above_standard(s.stderr_fd);
  const bool has_channel = s.channel_fd >= 0;
  if (has_channel) s.channel_fd = above_standard(s.channel_fd);
  if (s.stdout_fd < 0 || s.stderr_fd < 0 || (has_channel && s.channel_fd < 0)) {
    child_failed(s.report_fd, kStepDescriptors);
  }

  // A session of its own makes the whole tree killable as one group and detaches it from
  // the host's terminal.
  if (::setsid() < 0) child_failed(s.report_fd, kStepSession);
  // The child dies with the thread that started it, which waits for it in run_process: a
  // host killed with SIGKILL does not leave a pip running on. After the prctl, so that a
  // parent that died just before is noticed too.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_failed(s.report_fd, kStepDeathSignal);
  if (::getppid() != s.parent) child_failed(s.report_fd, kStepParentGone);

  // Without close-on-exec, in case it is 0 already (a host that closed its stdin); any
  // other number is closed below.
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd < 0 || ::dup2(null_fd, STDIN_FILENO) < 0) child_failed(s.report_fd, kStepStdin);
  // dup2 gives copies without close-on-exec.
  if (::dup2(s.stdout_fd, STDOUT_FILENO) < 0 || ::dup2(s.stderr_fd, STDERR_FILENO) < 0) {
    child_failed(s.report_fd, kStepOutput);
  }
  if (has_channel && ::dup2(s.channel_fd, kChannelFd) < 0) {
    child_failed(s.report_fd, kStepDescriptors);
  }
  if (s.cwd != nullptr && ::chdir(s.cwd) != 0) child_failed(s.report_fd, kStepWorkingDirectory);
  // Descriptors the host opened without close-on-exec do not leak into the child either.
  close_from(has_channel ? kChannelFd + 1 : STDERR_FILENO + 1, s.report_fd);

  sigset_t no_signals;
  sigemptyset(&no_signals);
  ::sigprocmask(SIG_SETMASK, &no_signals, nullptr);
  ::execve(s.path, s.argv, s.envp);
  child_failed(s.report_fd, kStepExec);
}

// Starts the child with vfork: unlike fork it copies nothing of a possibly huge host (a
// JVM), and unlike posix_spawn it can ask for PR_SET_PDEATHSIG. (Under ThreadSanitizer,
// vfork is a fork; the report pipe works the same way.) Returns its pid.
pid_t start_child(const ChildSetup &setup, const std::string &program,
                  const std::string &executable) {
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    fail(Status::kIo, errno_message(program + ": cannot prepare to start it (pipe)", errno));
  }
  UniqueFd report_read(report[0]);
  UniqueFd report_write(report[1]);
  ChildSetup s = setup;
  s.report_fd = report_write.get();

  sigset_t all_signals;
  sigset_t previous;
  sigfillset(&all_signals);
  ::pthread_sigmask(SIG_SETMASK, &all_signals, &previous);
  const pid_t pid = ::vfork();
  if (pid == 0) child_after_vfork(s);
  const int vfork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  report_write.reset();
  if (pid < 0) {
    fail(Status::kIo, errno_message(program + ": cannot start it (vfork)", vfork_errno));
  }

  ChildReport r{};
  ssize_t n;
  do {
    n = ::read(report_read.get(), &r, sizeof r);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return pid;  // EOF: execve succeeded

  // The child exited with 127; reaped here, since no Child owns it yet.
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof r)) {
    fail(Status::kIo, program + ": cannot start it (the child failed before it could say why)");
  }
  std::string where = executable == program ? "" : " (" + executable + ")";
  if (r.step == kStepExec) {
    fail(Status::kIo, errno_message(program + ": cannot start it" + where, r.error));
  }
  if (r.step == kStepWorkingDirectory) {
    fail(Status::kIo,
         errno_message(program + ": cannot start it in its working directory" + where, r.error));
  }
  if (r.step == kStepParentGone) {
    fail(Status::kIo, program + ": cannot start it: its parent exited");
  }
  fail(Status::kIo,
       errno_message(program + ": cannot prepare to start it (" + child_step_name(r.step) + ")",
                     r.error));
}

// The child from spawn to reap. It leads its own session, so its pid is also the id of
// the process group that holds it and every descendant that did not move away.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child &) = delete;
  Child &operator=(const Child &) = delete;
  // Whatever way the run ends (an exception from on_line included), nothing is left behind.
  ~Child() {
    if (!reaped_) {
      kill_tree();
      wait();
    } else if (!tree_done_) {
      kill_tree();
    }
  }

  bool reaped() const { return reaped_; }
  int status() const { return status_; }
  // Set once nothing of the tree holds the output any more, or once what did was killed:
  // the group needs no (further) kill after the reap.
  void set_tree_done() { tree_done_ = true; }

  // While the child is unreaped its pid cannot be reused, so the group id is safe to use.
  // After it is reaped the group lives on only while a member does; that is known while
  // one of them still holds the output open, which is the only time this is called then.
  void kill_tree() {
    ::kill(-pid_, SIGKILL);
    if (!reaped_) ::kill(pid_, SIGKILL);  // in case it left its own group
  }

  bool try_reap() { return reap(WNOHANG); }
  void wait() { reap(0); }

 private:
  bool reap(int flags) {
    if (reaped_) return true;
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, flags);
      if (r == pid_) {
        status_ = status;
        reaped_ = true;
        return true;
      }
      if (r == 0) return false;
      if (errno == EINTR) continue;
      // ECHILD: the host set SIGCHLD to SIG_IGN and the kernel reaped it for us; the exit
      // status is lost.
      status_ = -1;
      reaped_ = true;
      return true;
    }
  }

  pid_t pid_;
  bool reaped_ = false;
  bool tree_done_ = false;
  int status_ = -1;
};

// Splits the output into lines, hands each to on_line and keeps the last ones.
class LineSink {
 public:
  explicit LineSink(const std::function<void(const std::string &)> &on_line) : on_line_(on_line) {}

  void feed(const char *data, size_t size) {
    pending_.append(data, size);
    size_t start = 0;
    for (;;) {
      size_t nl = pending_.find('\n', start);
      if (nl == std::string::npos) break;
      emit(pending_.substr(start, nl - start));
      start = nl + 1;
    }
    pending_.erase(0, start);
    while (pending_.size() >= kMaxLine) {
      emit(pending_.substr(0, kMaxLine));
      pending_.erase(0, kMaxLine);
    }
  }

  void finish() {
    if (!pending_.empty()) {
      std::string last;
      last.swap(pending_);
      emit(std::move(last));
    }
  }

  std::vector<std::string> last_lines() const { return {last_.begin(), last_.end()}; }

 private:
  void emit(std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (last_.size() == ProcessResult::kLastLines) last_.pop_front();
    last_.push_back(line);
    if (on_line_) on_line_(line);
  }

  const std::function<void(const std::string &)> &on_line_;
  std::string pending_;
  std::deque<std::string> last_;
};

enum class ReadOutcome { kData, kWouldBlock, kEof };

ReadOutcome read_some(int fd, LineSink &sink) {
  char buffer[16384];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      sink.feed(buffer, static_cast<size_t>(n));
      return ReadOutcome::kData;
    }
    if (n == 0) return ReadOutcome::kEof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return ReadOutcome::kWouldBlock;
    return ReadOutcome::kEof;  // EIO and the like: nothing more will come
  }
}

// Reads what is already in the pipe, without waiting for more. True at EOF.
bool drain(int fd, LineSink &sink) {
  for (size_t taken = 0; taken < kMaxDrain; taken += 16384) {
    switch (read_some(fd, sink)) {
      case ReadOutcome::kData:
        continue;
      case ReadOutcome::kWouldBlock:
        return false;
      case ReadOutcome::kEof:
        return true;
    }
  }
  return false;
}

// A descriptor that becomes readable when the process exits; -1 where the kernel has none.
int open_pidfd(pid_t pid) {
#if defined(SYS_pidfd_open) && !defined(PYENV_NO_PIDFD)  // the latter to test the fallback
  // Close-on-exec by definition, so it does not leak into children of other threads.
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

int poll_timeout_ms(Clock::time_point until, milliseconds cap) {
  auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
  // Round up, so that the wake-up is never before `until` and the loop does not spin.
  if (left < milliseconds(0)) return 0;
  return static_cast<int>(std::min(left + milliseconds(1), cap).count());
}

std::string seconds_text(milliseconds ms) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

bool has_nul(const std::string &s) { return s.find('\0') != std::string::npos; }

}  // namespace

std::string ProcessResult::describe(milliseconds timeout) const {
  if (timed_out) return "timed out after " + seconds_text(timeout) + " s";
  if (signal != 0) {
    const char *name = ::sigdescr_np(signal);  // unlike strsignal, thread-safe
    return "killed by signal " + std::to_string(signal) +
           (name ? std::string(" (") + name + ")" : "");
  }
  return "exit code " + std::to_string(exit_code);
}

std::optional<fs::path> find_program(const std::string &name, const std::string &path_value,
                                     const fs::path &relative_to) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) return fs::path(name);
  size_t start = 0;
  for (;;) {
    size_t colon = path_value.find(':', start);
    std::string dir = path_value.substr(start, colon == std::string::npos ? colon : colon - start);
    fs::path candidate = (dir.empty() ? fs::path(".") : fs::path(dir)) / name;
    if (candidate.is_relative() && !relative_to.empty()) candidate = relative_to / candidate;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string::npos) return std::nullopt;
    start = colon + 1;
  }
}

namespace {

// argv, environment and executable of a child, checked, in the shapes execve takes.
struct Command {
  std::string program;
  fs::path executable;
  std::vector<std::string> env_strings;
  std::vector<char *> argv;
  std::vector<char *> envp;
};

void prepare(const std::vector<std::string> &argv_in,
             const std::map<std::string, std::string> &env,
             const std::optional<fs::path> &cwd, Command &c) {
  if (argv_in.empty() || argv_in[0].empty()) {
    fail(Status::kInvalid, "run_process: no program to run (empty argv)");
  }
  c.program = argv_in[0];
  const std::string &program = c.program;
  for (const std::string &arg : argv_in) {
    if (has_nul(arg)) fail(Status::kInvalid, program + ": an argument holds a NUL byte");
  }
  c.env_strings.reserve(env.size());
  for (const auto &[key, value] : env) {
    if (key.empty() || key.find('=') != std::string::npos || has_nul(key) || has_nul(value)) {
      fail(Status::kInvalid, program + ": invalid environment variable name \"" + key + "\"");
    }
    c.env_strings.push_back(key + "=" + value);
  }

  if (cwd) {
    struct stat st {};
    if (::stat(cwd->c_str(), &st) != 0) {
      fail(Status::kIo, errno_message(program + ": working directory " + cwd->string(), errno));
    }
    if (!S_ISDIR(st.st_mode)) {
      fail(Status::kIo, program + ": working directory " + cwd->string() + " is not a directory");
    }
  }

  // Looked up here rather than with posix_spawnp, which would search the caller's PATH.
  auto path_entry = env.find("PATH");
  const std::string path_value = path_entry != env.end() ? path_entry->second : "/bin:/usr/bin";
  std::optional<fs::path> executable = find_program(program, path_value, cwd ? *cwd : fs::path());
  if (!executable) fail(Status::kIo, program + ": not found on PATH (" + path_value + ")");
  c.executable = *executable;

  for (const std::string &arg : argv_in) c.argv.push_back(const_cast<char *>(arg.c_str()));
  c.argv.push_back(nullptr);
  for (std::string &entry : c.env_strings) c.envp.push_back(entry.data());
  c.envp.push_back(nullptr);
}

}  // namespace

pid_t spawn_process(const SpawnSpec &spec) {
  Command command;
  prepare(spec.argv, spec.env, spec.cwd, command);
  // The path found, not the name looked up: a Python derives sys.executable (and a venv's
  // prefix) from argv[0], and the child's PATH may not lead to it.
  command.argv[0] = const_cast<char *>(command.executable.c_str());
  ChildSetup setup{};
  setup.path = command.executable.c_str();
  setup.argv = command.argv.data();
  setup.envp = command.envp.data();
  setup.cwd = spec.cwd ? spec.cwd->c_str() : nullptr;
  setup.stdout_fd = spec.stdout_fd;
  setup.stderr_fd = spec.stderr_fd;
  setup.channel_fd = spec.channel_fd;
  setup.parent = ::getpid();
  return start_child(setup, command.program, command.executable.string());
}

ProcessResult run_process(const ProcessSpec &spec) {
  Command command;
  prepare(spec.argv, spec.env, spec.cwd, command);
  const std::string &program = command.program;

  // Close-on-exec from birth: a process spawned by another thread meanwhile must not
  // inherit the write end, or our EOF would wait for that process too.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail(Status::kIo, errno_message(program + ": pipe", errno));
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);

  ChildSetup setup{};
  setup.path = command.executable.c_str();
  setup.argv = command.argv.data();
  setup.envp = command.envp.data();
  setup.cwd = spec.cwd ? spec.cwd->c_str() : nullptr;
  setup.stdout_fd = write_end.get();
  setup.stderr_fd = write_end.get();
  setup.channel_fd = -1;
  setup.parent = ::getpid();
  const auto start = Clock::now();
  const pid_t pid = start_child(setup, program, command.executable.string());
  Child child(pid);
  const UniqueFd pidfd(open_pidfd(pid));  // the child is unreaped, so the pid is still its own
  write_end.reset();                      // only the child's copies keep the pipe open now

  ::fcntl(read_end.get(), F_SETFL, ::fcntl(read_end.get(), F_GETFL) | O_NONBLOCK);

  // A timeout too large for the clock means no timeout at all.
  const milliseconds limit =
      std::min<milliseconds>(spec.timeout, std::chrono::hours(24 * 365 * 100));
  const Clock::time_point deadline = start + std::max(limit, milliseconds(0));
  LineSink sink(spec.on_line);
  ProcessResult result;
  bool eof = false;
  std::optional<Clock::time_point> linger_until;

  for (;;) {
    if (!child.reaped() && child.try_reap()) {
      linger_until = std::min(deadline, Clock::now() + kLingerAfterExit);
    }
    if (eof && child.reaped()) break;
    const Clock::time_point now = Clock::now();
    if (child.reaped() && now >= *linger_until) {
      // The child exited in time; what still holds the pipe is a descendant it left behind.
      // Killed before the drain, which could otherwise chase its output forever.
      child.kill_tree();
      child.set_tree_done();
      drain(read_end.get(), sink);
      break;
    }
    if (!child.reaped() && now >= deadline) {
      result.timed_out = true;
      child.kill_tree();
      child.wait();
      child.set_tree_done();
      // What was written before the kill is still in the pipe.
      if (!eof) drain(read_end.get(), sink);
      break;
    }

    // Wake for output, for the child's exit (which may leave the pipe open, or come after
    // EOF), or at the deadline, whichever is first.
    const Clock::time_point wake = child.reaped() ? *linger_until : deadline;
    pollfd fds[2];
    nfds_t count = 0;
    if (!eof) fds[count++] = pollfd{read_end.get(), POLLIN, 0};
    if (!child.reaped() && pidfd.get() >= 0) fds[count++] = pollfd{pidfd.get(), POLLIN, 0};
    const bool exit_polled = child.reaped() || pidfd.get() >= 0;
    int ready = ::poll(fds, count, poll_timeout_ms(wake, exit_polled ? kLongWait : kReapTick));
    if (ready < 0 && errno != EINTR) {
      fail(Status::kIo, errno_message(program + ": waiting for its output", errno));
    }
    if (ready > 0 && !eof && fds[0].revents != 0 &&
        read_some(read_end.get(), sink) == ReadOutcome::kEof) {
      eof = true;
      child.set_tree_done();
    }
  }
  sink.finish();

  const int status = child.status();
  if (status != -1 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (status != -1 && WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.last_lines = sink.last_lines();
  return result;
}

}  // namespace pyenv
