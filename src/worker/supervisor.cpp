#include "worker/supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "error.hpp"
#include "util/shared_library.hpp"

namespace pyenv::worker {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Output still read after a worker exited, from descendants that hold its pipes, before
// the pipes are closed.
constexpr milliseconds kLinger{500};
// How often exits are checked for on kernels without pidfd_open (< 5.3).
constexpr milliseconds kReapTick{50};
// Read per wake-up and stream, so that one flooding worker cannot starve the others.
constexpr size_t kReadChunk = 1 << 16;

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

void push_tail(std::deque<std::string> &tail, const std::string &line) {
  if (tail.size() == WorkerProcess::kTailLines) tail.pop_front();
  tail.push_back(line.size() > WorkerProcess::kLineLimit
                     ? line.substr(0, WorkerProcess::kLineLimit) + "..."
                     : line);
}

// One output pipe of a worker.
struct Stream {
  UniqueFd fd;
  bool is_stderr = false;
  std::string partial;  // a line not yet ended
  bool done() const { return !fd.valid(); }
};

struct Watched {
  std::shared_ptr<WorkerProcess> process;
  Stream out;
  Stream err;
  UniqueFd pidfd;
  std::optional<Clock::time_point> linger_until;  // set at exit
};

enum Which : uint64_t { kStdout = 0, kStderr = 1, kPidfd = 2 };
constexpr uint64_t kWake = ~uint64_t{0};

}  // namespace

std::string WorkerProcess::describe_exit() const {
  if (!exited) return "is still running";
  if (status == -1) return "exited (its status is unknown: the host process ignores SIGCHLD)";
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char *abbrev = ::sigabbrev_np(sig);
    const char *text = ::sigdescr_np(sig);
    std::string out = "killed by signal " + std::to_string(sig);
    if (abbrev != nullptr) {
      out += std::string(" (SIG") + abbrev + (text != nullptr ? std::string(": ") + text : "") + ")";
    }
    return out;
  }
  return "ended with wait status " + std::to_string(status);
}

std::string WorkerProcess::indented(const std::deque<std::string> &lines) {
  std::string out;
  for (const std::string &line : lines) out += "\n  " + line;
  return out;
}

struct Supervisor::State {
  pid_t owner = ::getpid();
  UniqueFd epoll;
  UniqueFd wake;
  std::mutex mutex;
  std::vector<std::function<void()>> requests;  // guarded by mutex

  // The supervisor's thread only.
  std::map<uint64_t, std::unique_ptr<Watched>> watched;
  uint64_t next_id = 1;

  void post(std::function<void()> request) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      requests.push_back(std::move(request));
    }
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake.get(), &one, sizeof one);
  }

  void add(int fd, uint64_t token) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = token;
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
      fail(Status::kIo, errno_message("python: watching a worker (epoll_ctl)", errno));
    }
  }

  void remove(UniqueFd &fd) {
    if (!fd.valid()) return;
    ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd.get(), nullptr);
    fd.reset();
  }

  // On the supervisor's thread.
  std::shared_ptr<WorkerProcess> spawn(SpawnSpec &spec, UniqueFd &host_channel,
                                       UniqueFd &worker_channel, Logger &log) {
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) fail(Status::kIo, errno_message("python: pipe", errno));
    UniqueFd out_read(out[0]), out_write(out[1]);
    if (::pipe2(err, O_CLOEXEC) != 0) fail(Status::kIo, errno_message("python: pipe", errno));
    UniqueFd err_read(err[0]), err_write(err[1]);
    spec.stdout_fd = out_write.get();
    spec.stderr_fd = err_write.get();
    spec.channel_fd = worker_channel.get();

    auto process = std::make_shared<WorkerProcess>();
    process->program = spec.argv.empty() ? "" : spec.argv[0];
    process->pid = spawn_process(spec);
    process->channel = std::move(host_channel);
    process->log = std::move(log);
    worker_channel.reset();
    out_write.reset();
    err_write.reset();

    auto watched_one = std::make_unique<Watched>();
    watched_one->process = process;
    watched_one->out.fd = std::move(out_read);
    watched_one->err.fd = std::move(err_read);
    watched_one->err.is_stderr = true;
    // The child is unreaped (only this thread reaps), so its pid is still its own.
    watched_one->pidfd = UniqueFd(open_pidfd(process->pid));
    const uint64_t id = next_id++;
    for (Stream *s : {&watched_one->out, &watched_one->err}) {
      ::fcntl(s->fd.get(), F_SETFL, ::fcntl(s->fd.get(), F_GETFL) | O_NONBLOCK);
    }
    add(watched_one->out.fd.get(), id << 2 | kStdout);
    add(watched_one->err.fd.get(), id << 2 | kStderr);
    if (watched_one->pidfd.valid()) add(watched_one->pidfd.get(), id << 2 | kPidfd);
    watched.emplace(id, std::move(watched_one));
    return process;
  }

  void deliver(WorkerProcess &p, bool is_stderr, std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    {
      std::lock_guard<std::mutex> lock(p.mutex);
      if (is_stderr) push_tail(p.stderr_tail, line);
      push_tail(p.output_tail, line);
    }
    // Outside the lock: the host's callback may take its time.
    p.log.log(is_stderr ? LogLevel::kWarn : LogLevel::kInfo,
              "python[" + std::to_string(p.pid) + "] " + line);
  }

  void read_stream(Watched &w, Stream &s) {
    char buffer[kReadChunk];
    const ssize_t n = ::read(s.fd.get(), buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      if (!s.partial.empty()) deliver(*w.process, s.is_stderr, std::move(s.partial));
      s.partial.clear();
      remove(s.fd);
      return;
    }
    s.partial.append(buffer, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = s.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      deliver(*w.process, s.is_stderr, s.partial.substr(start, nl - start));
    }
    s.partial.erase(0, start);
    // Output without newlines is delivered in pieces rather than kept without bound.
    if (s.partial.size() >= kReadChunk) {
      deliver(*w.process, s.is_stderr, std::move(s.partial));
      s.partial.clear();
    }
  }

  void reap(Watched &w, bool blocking_ok) {
    WorkerProcess &p = *w.process;
    {
      std::lock_guard<std::mutex> lock(p.mutex);
      if (p.exited) return;
      int status = 0;
      const pid_t r = ::waitpid(p.pid, &status, blocking_ok ? 0 : WNOHANG);
      if (r == 0) return;
      if (r < 0 && errno == EINTR) return;
      p.exited = true;
      p.status = r == p.pid ? status : -1;
      // Wakes a call waiting in recv() for the reply that will never come.
      ::shutdown(p.channel.get(), SHUT_RDWR);
    }
    p.changed.notify_all();
    remove(w.pidfd);
    w.linger_until = Clock::now() + kLinger;
  }

  // Done with a worker's output: both pipes at their end, or its linger over.
  void finish_output(Watched &w) {
    for (Stream *s : {&w.out, &w.err}) {
      if (!s->partial.empty()) deliver(*w.process, s->is_stderr, std::move(s->partial));
      s->partial.clear();
      remove(s->fd);
    }
    {
      std::lock_guard<std::mutex> lock(w.process->mutex);
      w.process->output_done = true;
    }
    w.process->changed.notify_all();
  }

  void run_requests() {
    uint64_t count;
    [[maybe_unused]] ssize_t n = ::read(wake.get(), &count, sizeof count);
    std::vector<std::function<void()>> now;
    {
      std::lock_guard<std::mutex> lock(mutex);
      now.swap(requests);
    }
    for (auto &request : now) request();
  }

  int timeout_ms() const {
    std::optional<Clock::time_point> wake_at;
    bool tick = false;
    for (const auto &[id, w] : watched) {
      if (w->linger_until && (!wake_at || *w->linger_until < *wake_at)) wake_at = w->linger_until;
      if (!w->linger_until && !w->pidfd.valid()) tick = true;
    }
    if (!wake_at && !tick) return -1;
    milliseconds wait = tick ? kReapTick : milliseconds::max();
    if (wake_at) {
      wait = std::min(wait, std::chrono::duration_cast<milliseconds>(*wake_at - Clock::now()) +
                                milliseconds(1));
    }
    return static_cast<int>(std::max<int64_t>(wait.count(), 0));
  }

  [[noreturn]] void loop() {
    // No handler of the host's runs on this thread.
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, nullptr);
    epoll_event events[64];
    for (;;) {
      const int n = ::epoll_wait(epoll.get(), events, 64, timeout_ms());
      for (int i = 0; i < n; ++i) {
        const uint64_t token = events[i].data.u64;
        if (token == kWake) {
          run_requests();
          continue;
        }
        auto it = watched.find(token >> 2);
        if (it == watched.end()) continue;
        Watched &w = *it->second;
        switch (token & 3) {
          case kStdout:
            if (!w.out.done()) read_stream(w, w.out);
            break;
          case kStderr:
            if (!w.err.done()) read_stream(w, w.err);
            break;
          case kPidfd:
            // The pidfd says it exited: the reap does not block.
            reap(w, true);
            break;
        }
      }
      const Clock::time_point now = Clock::now();
      for (auto it = watched.begin(); it != watched.end();) {
        Watched &w = *it->second;
        if (!w.linger_until && !w.pidfd.valid()) reap(w, false);
        if (w.out.done() && w.err.done() && !w.process->output_done) finish_output(w);
        if (w.linger_until && now >= *w.linger_until && !w.process->output_done) {
          finish_output(w);
        }
        if (w.linger_until && w.process->output_done) {
          it = watched.erase(it);
        } else {
          ++it;
        }
      }
    }
  }
};

Supervisor::Supervisor() : state_(std::make_shared<State>()) {
  state_->epoll = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  state_->wake = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!state_->epoll.valid() || !state_->wake.valid()) {
    fail(Status::kIo, errno_message("python: starting the worker supervisor", errno));
  }
  state_->add(state_->wake.get(), kWake);
  // The thread runs this library's code until the process ends.
  keep_this_library_loaded();
  std::thread([state = state_] { state->loop(); }).detach();
}

Supervisor &Supervisor::instance() {
  static std::mutex mutex;
  static Supervisor *current = nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  // A forked child has none of its parent's threads: it starts its own supervisor.
  if (current == nullptr || current->state_->owner != ::getpid()) current = new Supervisor();
  return *current;
}

std::shared_ptr<WorkerProcess> Supervisor::start(SpawnSpec spec, UniqueFd host_channel,
                                                 UniqueFd worker_channel, Logger log) {
  std::mutex mutex;
  std::condition_variable done_changed;
  bool done = false;
  std::shared_ptr<WorkerProcess> process;
  std::exception_ptr error;
  state_->post([&] {
    try {
      process = state_->spawn(spec, host_channel, worker_channel, log);
    } catch (...) {
      error = std::current_exception();
    }
    // Notified under the lock: the waiter may return, destroying both, once it sees `done`.
    std::lock_guard<std::mutex> lock(mutex);
    done = true;
    done_changed.notify_one();
  });
  std::unique_lock<std::mutex> lock(mutex);
  done_changed.wait(lock, [&] { return done; });
  if (error) std::rethrow_exception(error);
  return process;
}

}  // namespace pyenv::worker
