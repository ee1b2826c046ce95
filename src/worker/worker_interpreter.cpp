#include "worker/worker_interpreter.hpp"

#include <signal.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>
#include <limits>

#include "error.hpp"

namespace pyenv::worker {

// pyenv_worker.py's text, embedded at build time (worker.cmake).
extern const char kWorkerScript[];
extern const size_t kWorkerScriptSize;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Reads the first frame from the channel, pyenv_worker.py, and runs it. Kept short: it is
// what `ps` shows of a worker.
constexpr const char *kBootstrap =
    "import os\n"
    "def read(n):\n"
    "    b = b''\n"
    "    while len(b) < n:\n"
    "        c = os.read(3, n - len(b))\n"
    "        if not c:\n"
    "            raise SystemExit('pyenv worker: the channel closed before the worker arrived')\n"
    "        b += c\n"
    "    return b\n"
    "exec(compile(read(int.from_bytes(read(16)[:8], 'little')), '<pyenv_worker>', 'exec'))\n";

// A worker that has not said it is ready by then is stuck.
constexpr milliseconds kStartLimit{60000};
// After the end of input, then after SIGTERM: how long a worker has to exit.
constexpr milliseconds kCloseGrace{2000};
// SIGUSR1 asks a worker past its call timeout for its stack; then it is killed.
constexpr milliseconds kStackDumpWait{200};
// A worker whose channel broke but which still runs is killed after this.
constexpr milliseconds kLostGrace{1000};
// How long the supervisor's account of an exit (status, last output) may take.
constexpr milliseconds kExitReport{5000};

std::string seconds_text(milliseconds ms) {
  char text[64];
  std::snprintf(text, sizeof text, "%g s", static_cast<double>(ms.count()) / 1000.0);
  return text;
}

std::string quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

}  // namespace

WorkerInterpreter::WorkerInterpreter(std::shared_ptr<WorkerProcess> process,
                                     std::optional<milliseconds> timeout, Logger log)
    : process_(std::move(process)),
      channel_(process_->channel.get()),
      timeout_(timeout),
      log_(std::move(log)) {}

std::shared_ptr<WorkerInterpreter> WorkerInterpreter::open(const Environment &env,
                                                           const Logger &log) {
  SpawnSpec spec;
  spec.argv = {env.python_exec, "-s", "-X", "utf8", "-c", kBootstrap, "pyenv-worker"};
  spec.env = env.variables;
  if (env.working_directory) spec.cwd = *env.working_directory;
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
    fail(Status::kIo, errno_message("python: creating a worker's channel (socketpair)", errno));
  }
  UniqueFd host_end(ends[0]), worker_end(ends[1]);
  const auto start = Clock::now();
  std::shared_ptr<WorkerProcess> process;
  try {
    process = Supervisor::instance().start(std::move(spec), std::move(host_end),
                                           std::move(worker_end), log);
  } catch (const Error &e) {
    fail(Status::kPython, std::string("python: cannot start a worker process: ") + e.what());
  }
  std::shared_ptr<WorkerInterpreter> handle(
      new WorkerInterpreter(std::move(process), env.call_timeout, log));
  WorkerInterpreter &h = *handle;
  const std::string who = "the worker process " + h.process_->program + " (pid " +
                          std::to_string(h.pid()) + ")";

  auto failed_to_start = [&](const std::string &why) {
    h.wait_for(kExitReport, true);
    std::string printed;
    {
      std::lock_guard<std::mutex> lock(h.process_->mutex);
      printed = WorkerProcess::indented(h.process_->output_tail);
    }
    fail(Status::kPython, "python: " + who + " " + why + (printed.empty() ? "; it printed nothing"
                                                                           : "; it printed:" +
                                                                                 printed));
  };
  auto ended = [&] {
    h.wait_for(kExitReport, false);
    std::lock_guard<std::mutex> lock(h.process_->mutex);
    return h.process_->describe_exit();
  };
  try {
    h.channel_.send(Kind::kScript, 0, {std::string_view(kWorkerScript, kWorkerScriptSize)});
  } catch (const Error &) {
    failed_to_start(ended() + " before it was ready");
  }
  Closed why = Closed::kEof;
  std::optional<Frame> ready = h.channel_.receive(start + kStartLimit, why);
  if (!ready) {
    if (why == Closed::kTimeout) {
      h.stop(milliseconds(0));
      failed_to_start("did not start within " + seconds_text(kStartLimit));
    }
    failed_to_start(ended() + " before it was ready");
  }
  if (ready->kind != static_cast<int32_t>(Kind::kReady)) {
    h.stop(milliseconds(0));
    failed_to_start("answered with a " + kind_name(ready->kind) + " frame instead of READY");
  }
  log.info("python: " + who + " is ready: Python " + std::string(ready->payload.view()) + " in " +
           format_seconds(seconds_since(start)));
  return handle;
}

WorkerInterpreter::~WorkerInterpreter() {
  std::lock_guard<std::mutex> lock(call_mutex_);
  {
    std::lock_guard<std::mutex> process_lock(process_->mutex);
    // End of input: the worker's loop returns and it exits.
    if (!process_->exited) ::shutdown(process_->channel.get(), SHUT_WR);
  }
  if (!stop(kCloseGrace)) {
    log_.warn("python: the worker process (pid " + std::to_string(pid()) +
              ") did not exit after SIGKILL; it is left to the supervisor");
  }
}

void WorkerInterpreter::signal(int sig) {
  std::lock_guard<std::mutex> lock(process_->mutex);
  if (process_->exited) return;
  // Unreaped (the supervisor reaps under this mutex), so the pid and its group are its own.
  ::kill(process_->pid, sig);
  if (sig == SIGKILL) ::kill(-process_->pid, SIGKILL);  // what it started, too
}

bool WorkerInterpreter::wait_for(milliseconds limit, bool output) {
  std::unique_lock<std::mutex> lock(process_->mutex);
  return process_->changed.wait_for(lock, limit, [&] {
    return process_->exited && (!output || process_->output_done);
  });
}

bool WorkerInterpreter::stop(milliseconds grace) {
  if (wait_for(grace, false)) return true;
  signal(SIGTERM);
  if (wait_for(grace, false)) return true;
  signal(SIGKILL);
  return wait_for(kExitReport, false);
}

void WorkerInterpreter::worker_lost(const std::string &what, const std::string &cause) {
  // Still running (it closed its channel, or broke the protocol): it goes now.
  if (!wait_for(kLostGrace, false)) {
    signal(SIGKILL);
    wait_for(kExitReport, false);
  }
  wait_for(kExitReport, true);
  std::string ended;
  std::string tail;
  {
    std::lock_guard<std::mutex> lock(process_->mutex);
    ended = process_->describe_exit();
    tail = WorkerProcess::indented(process_->stderr_tail);
  }
  dead_ = ended + " during a call of " + what;
  fail(Status::kPython, "python: " + what + ": the worker process (pid " + std::to_string(pid()) +
                            ", " + process_->program + ") " + ended + " during the call" +
                            (cause.empty() ? "" : " (" + cause + ")") +
                            (tail.empty() ? "; it wrote nothing on stderr"
                                          : "; its last lines on stderr:" + tail));
}

void WorkerInterpreter::timed_out(const std::string &what) {
  // faulthandler prints every thread's stack on stderr, then the worker is killed.
  signal(SIGUSR1);
  wait_for(kStackDumpWait, false);
  signal(SIGKILL);
  wait_for(kExitReport, true);
  std::string tail;
  {
    std::lock_guard<std::mutex> lock(process_->mutex);
    tail = WorkerProcess::indented(process_->stderr_tail);
  }
  const std::string limit = seconds_text(*timeout_);
  dead_ = "was killed: a call of " + what + " timed out after " + limit +
          " (pyenv.process.call-timeout)";
  fail(Status::kPython, "python: " + what + " timed out after " + limit +
                            " (pyenv.process.call-timeout); its worker process (pid " +
                            std::to_string(pid()) + ") was killed" +
                            (tail.empty() ? "" : "; where it was, from its stderr:" + tail));
}

Buffer WorkerInterpreter::request(Kind kind, const std::vector<std::string_view> &parts,
                                  const std::string &what) {
  std::lock_guard<std::mutex> lock(call_mutex_);
  if (!dead_.empty()) {
    fail(Status::kState, "python: " + what + ": the worker process (pid " +
                             std::to_string(pid()) + ") of this interpreter " + dead_ +
                             "; open a new interpreter to start another worker");
  }
  const uint32_t sequence = ++sequence_;
  try {
    channel_.send(kind, sequence, parts);
  } catch (const Error &e) {
    if (e.status() != Status::kPython) throw;
    worker_lost(what, "");
  }
  std::optional<Clock::time_point> deadline;
  if (timeout_) deadline = Clock::now() + *timeout_;
  Closed why = Closed::kEof;
  std::optional<Frame> reply = channel_.receive(deadline, why);
  if (!reply) {
    if (why == Closed::kTimeout) timed_out(what);
    worker_lost(what, "");
  }
  if (reply->sequence != sequence ||
      (reply->kind != static_cast<int32_t>(Kind::kResult) &&
       reply->kind != static_cast<int32_t>(Kind::kError))) {
    signal(SIGKILL);
    worker_lost(what, "it answered request " + std::to_string(sequence) + " with a " +
                          kind_name(reply->kind) + " frame of sequence " +
                          std::to_string(reply->sequence));
  }
  if (reply->kind == static_cast<int32_t>(Kind::kError)) {
    const std::string_view payload = reply->payload.view();
    if (payload.size() < 4) {
      signal(SIGKILL);
      worker_lost(what, "it sent an ERROR frame of " + std::to_string(payload.size()) + " bytes");
    }
    const int32_t status = read_i32(payload.data());
    const bool known = status == static_cast<int32_t>(Status::kInvalid) ||
                       status == static_cast<int32_t>(Status::kPython);
    fail(known ? static_cast<Status>(status) : Status::kPython, std::string(payload.substr(4)));
  }
  return std::move(reply->payload);
}

void WorkerInterpreter::exec(const std::string &code) {
  request(Kind::kExec, {code}, "exec");
}

std::string WorkerInterpreter::call_json(std::string_view callable, const std::string &args_json) {
  const std::string length = u32_bytes(static_cast<uint32_t>(callable.size()));
  Buffer result = request(Kind::kCallJson, {length, callable, args_json}, quote(callable));
  return std::string(result.view());
}

Buffer WorkerInterpreter::call_bytes(std::string_view callable, const void *data, size_t size) {
  if (data == nullptr && size > 0) fail(Status::kInvalid, "python: call_bytes: NULL data");
  const std::string length = u32_bytes(static_cast<uint32_t>(callable.size()));
  return request(Kind::kCallBytes,
                 {length, callable, std::string_view(static_cast<const char *>(data), size)},
                 quote(callable));
}

Buffer WorkerInterpreter::call_batch(std::string_view callable, const Record *records,
                                     size_t count) {
  if (records == nullptr && count > 0) fail(Status::kInvalid, "python: call_batch: NULL records");
  // u32 n | callable | u64 count | count * u64 size | the records, one after the other.
  const std::string length = u32_bytes(static_cast<uint32_t>(callable.size()));
  const std::string count_bytes = u64_bytes(count);
  std::vector<uint64_t> sizes(count);
  std::vector<std::string_view> parts;
  parts.reserve(4 + count);
  for (size_t i = 0; i < count; ++i) {
    if (records[i].data == nullptr && records[i].size > 0) {
      fail(Status::kInvalid, "python: call_batch: record " + std::to_string(i) + " has NULL data");
    }
    sizes[i] = records[i].size;
  }
  parts.insert(parts.end(), {length, callable, count_bytes,
                             std::string_view(reinterpret_cast<const char *>(sizes.data()),
                                              count * sizeof(uint64_t))});
  for (size_t i = 0; i < count; ++i) {
    if (records[i].size > 0) {
      parts.emplace_back(static_cast<const char *>(records[i].data), records[i].size);
    }
  }
  Buffer reply = request(Kind::kCallBatch, parts, quote(callable));

  // count * u64 size | the results: laid out again as count Records, then their bytes.
  const std::string_view in = reply.view();
  const size_t table = count * sizeof(uint64_t);
  uint64_t total = 0;
  bool sound = in.size() >= table;
  for (size_t i = 0; sound && i < count; ++i) {
    const uint64_t size = read_u64(in.data() + 8 * i);
    sound = size <= in.size() - table - total;
    total += sound ? size : 0;
  }
  if (!sound || total != in.size() - table) {
    fail(Status::kPython, "python: " + quote(callable) + ": the worker's reply to a batch of " +
                              std::to_string(count) + " records is broken");
  }
  Buffer out = Buffer::allocate(count * sizeof(Record) + total, "a batch's results");
  auto *results = reinterpret_cast<Record *>(out.data());
  char *data = out.data() + count * sizeof(Record);
  if (total > 0) std::memcpy(data, in.data() + table, total);
  for (size_t i = 0; i < count; ++i) {
    const size_t size = read_u64(in.data() + 8 * i);
    results[i] = Record{data, size};
    data += size;
  }
  return out;
}

RuntimeInfo WorkerInterpreter::info() {
  Buffer reply = request(Kind::kInfo, {}, "info");
  // NUL-separated: version, implementation, free-threaded, GIL enabled, prefix,
  // executable, libpython (empty: none).
  std::vector<std::string> fields;
  std::string_view rest = reply.view();
  for (;;) {
    const size_t nul = rest.find('\0');
    fields.emplace_back(rest.substr(0, nul));
    if (nul == std::string_view::npos) break;
    rest.remove_prefix(nul + 1);
  }
  if (fields.size() != 7) {
    fail(Status::kPython, "python: info: the worker's reply has " + std::to_string(fields.size()) +
                              " fields, expected 7");
  }
  RuntimeInfo info;
  info.version = fields[0];
  info.implementation = fields[1];
  info.free_threaded = fields[2] == "1";
  info.gil_enabled = fields[3] == "1";
  info.prefix = fields[4];
  info.executable = fields[5];
  info.libpython = fields[6];
  info.execution_mode = "process";
  info.pid = pid();
  return info;
}

}  // namespace pyenv::worker
