// The supervisor: one thread per process that starts the worker processes, reads their
// output and reaps them.
//
// Why a thread of its own. PR_SET_PDEATHSIG, which kills a worker when its host dies (also
// by SIGKILL), fires when the *thread* that started the worker exits, not the process: a
// worker started from a host's pool thread would die with that thread. The supervisor's
// thread lives as long as the process (the plugin stays loaded once it runs), so workers are
// started there. The same thread reads every worker's stdout and stderr, so that a worker
// writing between calls never blocks on a full pipe, hands each line to the worker's log
// (tagged with its pid) and keeps the last lines for the message that reports its death;
// and it reaps each worker when it exits (pidfd), recording how it ended and shutting the
// host's end of the channel down, which wakes a call waiting for the worker's reply.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "util/log.hpp"
#include "util/process.hpp"
#include "util/unique_fd.hpp"

namespace pyenv::worker {

// A worker process, shared by its handle and the supervisor.
struct WorkerProcess {
  pid_t pid = -1;
  std::string program;  // the executable, as the environment names it
  UniqueFd channel;     // the host's end; closed when both let go
  Logger log;

  // Lines kept for messages; each is cut at kLineLimit bytes.
  static constexpr size_t kTailLines = 20;
  static constexpr size_t kLineLimit = 2000;

  // Guarded by `mutex`; `changed` is notified when any of them changes. The supervisor
  // reaps under the mutex, so a kill() made under it while !exited reaches this process,
  // never another that reused its pid.
  std::mutex mutex;
  std::condition_variable changed;
  bool exited = false;
  int status = -1;           // waitpid's; -1: unknown (the host ignores SIGCHLD)
  bool output_done = false;  // its stdout and stderr were read to their end, or given up
  std::deque<std::string> stderr_tail;
  std::deque<std::string> output_tail;  // stdout and stderr lines, interleaved as read

  // "exited with status 3", "killed by signal 6 (SIGABRT: Aborted)". Mutex held.
  std::string describe_exit() const;
  // The kept lines, each indented, or "" when none. Mutex held.
  static std::string indented(const std::deque<std::string> &lines);
};

class Supervisor {
 public:
  // The process's supervisor, its thread started on first use (again in a forked child).
  static Supervisor &instance();

  // Starts `spec` (its descriptors are set here: stdout and stderr pipes, and
  // `worker_channel` as the channel) on the supervisor's thread and watches it.
  // `host_channel` becomes the WorkerProcess's channel. Throws as spawn_process.
  std::shared_ptr<WorkerProcess> start(SpawnSpec spec, UniqueFd host_channel,
                                       UniqueFd worker_channel, Logger log);

  struct State;

 private:
  Supervisor();
  std::shared_ptr<State> state_;
};

}  // namespace pyenv::worker
