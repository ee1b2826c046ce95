// Process mode (DESIGN.md section 10): an interpreter handle served by a worker process of
// its own, the environment's own Python running pyenv_worker.py.
//
// The worker is started from the environment's executable (from its archive, an absolute
// path, or looked up on the environment's PATH), with the environment's variables as its
// whole environment and its working directory, as `<python> -s -X utf8 -c <bootstrap>`:
// no user site-packages and UTF-8 mode, as thread mode starts CPython. So any CPython that
// runs works, whatever its version, flavour or linking, and each handle's worker is a
// process of its own: N handles on N host threads use N cores.
//
// Calls: one frame out, one frame back over a private socketpair (channel.hpp); calls on
// one handle from several threads are serialised. A worker that dies fails the call in
// flight with Error(kPython) naming how it ended and its last stderr lines; every later
// call fails with Error(kState). A call past the environment's call_timeout gets the
// worker's stack dumped (SIGUSR1, faulthandler), then the worker is killed.
//
// Closing: end of input (the channel shut for writing), then SIGTERM after a grace, then
// SIGKILL; the supervisor reaps the worker, so none is left as a zombie.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "env/interpreter.hpp"
#include "worker/channel.hpp"
#include "worker/supervisor.hpp"

namespace pyenv::worker {

class WorkerInterpreter final : public pyenv::Interpreter {
 public:
  // Starts a worker for `env` and waits until it is ready. Throws Error(kPython) naming the
  // executable and what it printed when it cannot be started or exits first.
  static std::shared_ptr<WorkerInterpreter> open(const Environment &env, const Logger &log);

  ~WorkerInterpreter() override;
  WorkerInterpreter(const WorkerInterpreter &) = delete;
  WorkerInterpreter &operator=(const WorkerInterpreter &) = delete;

  void exec(const std::string &code) override;
  std::string call_json(std::string_view callable, const std::string &args_json) override;
  Buffer call_bytes(std::string_view callable, const void *data, size_t size) override;
  Buffer call_batch(std::string_view callable, const Record *records, size_t count) override;
  RuntimeInfo info() override;

  pid_t pid() const { return process_->pid; }

 private:
  WorkerInterpreter(std::shared_ptr<WorkerProcess> process,
                    std::optional<std::chrono::milliseconds> timeout, Logger log);

  // Sends one request and returns its RESULT's payload; an ERROR is thrown as the status
  // and message it carries. `what` names the request in messages ("\"mod:f\"", "exec").
  Buffer request(Kind kind, const std::vector<std::string_view> &parts, const std::string &what);
  // The worker is gone during `what`: waits for how it ended, marks the handle dead, throws.
  [[noreturn]] void worker_lost(const std::string &what, const std::string &cause);
  [[noreturn]] void timed_out(const std::string &what);
  // Ends the worker: SIGTERM after `grace`, SIGKILL after as long again. False if it did
  // not exit even then.
  bool stop(std::chrono::milliseconds grace);
  // Waits up to `limit` for the worker's exit (and, with `output`, for its last output).
  bool wait_for(std::chrono::milliseconds limit, bool output);
  void signal(int sig);

  std::shared_ptr<WorkerProcess> process_;
  Channel channel_;
  std::optional<std::chrono::milliseconds> timeout_;
  Logger log_;
  std::mutex call_mutex_;  // one call at a time; guards what follows
  uint32_t sequence_ = 0;
  std::string dead_;  // why the worker is gone, once it is
};

}  // namespace pyenv::worker
