// Process mode's workers through the built plugin (DESIGN.md section 10): real worker
// processes of the machine's python3, killed by real signals, crashing for real.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "integration/helpers.hpp"
#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

using pyenv::host::Error;
using pyenv::host::Interpreter;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

const char kJob[] = R"PY(
import os, sys, time

def upper(record):
    return record.upper()

def abort(record):
    os.abort()

def exit3(record):
    os._exit(3)

def segfault(record):
    import ctypes
    ctypes.string_at(0)

def sleep(record):
    time.sleep(float(record))
    return b'slept'

def spin(record):
    while True:
        pass

def flood(record):
    for i in range(int(record)):
        sys.stderr.write('flood line %d\n' % i)
    return b'flooded'

def shout(record):
    print('to stdout: ' + record.decode())
    sys.stderr.write('to stderr: ' + record.decode() + '\n')
    return b''

def fds(record):
    return ' '.join(sorted(os.listdir('/proc/self/fd'), key=int)).encode()

def where(record):
    return (os.getcwd() + '|' + os.environ.get('JOB_SETTING', '')).encode()
)PY";

// Log lines a manager's callback received.
class Lines {
 public:
  std::function<void(int, const char *)> sink() {
    return [this](int level, const char *message) {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.emplace_back(level, message);
    };
  }
  size_t count(int level, const std::string &part) const {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t n = 0;
    for (const auto &[l, text] : lines_) n += l == level && text.find(part) != std::string::npos;
    return n;
  }
  std::string dump() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out;
    for (const auto &[l, text] : lines_) out += std::to_string(l) + " " + text + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<int, std::string>> lines_;
};

class Workers : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(tmp_ / "job.py", kJob);
    open_job("");
  }

  void open_job(const std::string &extra_yaml) {
    env_.reset();
    manager_.reset();
    pyenv::host::Options options;
    options.job_id = "workers-" + std::to_string(++jobs_);
    options.tmp_dirs = {tmp_.path().string()};
    options.config_yaml = "python.execution-mode: process\npython.executable: /usr/bin/python3\n"
                          "python.files: " +
                          (tmp_ / "job.py").string() + "\n" + extra_yaml;
    options.system_env = {"PATH=/usr/bin:/bin", "JOB_SETTING=from the job"};
    options.log = lines_.sink();
    manager_.emplace(plugin().create(options));
    manager_->open();
    env_.emplace(manager_->create_environment());
  }

  static pid_t pid_of(Interpreter &interp) {
    return static_cast<pid_t>(std::stol(interp.call_json("os:getpid")));
  }


  // After a worker died: later calls are ESTATE, and a new handle answers.
  void expect_dead_then_replaced(Interpreter &dead, pid_t pid) {
    auto [status, message] = failure_of([&] { dead.call_bytes("job:upper", "x", 1); });
    EXPECT_EQ(status, PYENV_ESTATE) << message;
    EXPECT_NE(message.find("pid " + std::to_string(pid)), std::string::npos) << message;
    EXPECT_NE(message.find("open a new interpreter"), std::string::npos) << message;
    EXPECT_TRUE(process_gone(pid));
    Interpreter fresh = env_->interpreter();
    EXPECT_EQ(fresh.call_bytes("job:upper", "again", 5), "AGAIN");
    EXPECT_NE(pid_of(fresh), pid);
  }

  TempDir tmp_;
  Lines lines_;
  int jobs_ = 0;
  std::optional<pyenv::host::Manager> manager_;
  std::optional<pyenv::host::Environment> env_;
};

struct Crash {
  const char *name;
  const char *function;
  const char *ended;     // in the message: how the worker ended
  const char *on_stderr; // in the message: a line of its stderr ("" for none expected)
};

class WorkerCrashes : public Workers, public ::testing::WithParamInterface<Crash> {};

TEST_P(WorkerCrashes, FailTheCallNamingHowAndLeaveTheHostAlone) {
  const Crash &crash = GetParam();
  Interpreter interp = env_->interpreter();
  const pid_t pid = pid_of(interp);
  auto [status, message] = failure_of([&] { interp.call_bytes(crash.function, "", 0); });
  EXPECT_EQ(status, PYENV_EPYTHON) << message;
  EXPECT_NE(message.find(crash.ended), std::string::npos) << message;
  EXPECT_NE(message.find(crash.function), std::string::npos) << message;
  EXPECT_NE(message.find("pid " + std::to_string(pid)), std::string::npos) << message;
  if (*crash.on_stderr != '\0') {
    EXPECT_NE(message.find(crash.on_stderr), std::string::npos) << message;
  }
  expect_dead_then_replaced(interp, pid);
}

INSTANTIATE_TEST_SUITE_P(
    Crashes, WorkerCrashes,
    ::testing::Values(
        // faulthandler shows the Python stack of the thread that crashed.
        Crash{"abort", "job:abort", "killed by signal 6 (SIGABRT", "in abort"},
        Crash{"exit", "job:exit3", "exited with status 3", ""},
        Crash{"segfault", "job:segfault", "killed by signal 11 (SIGSEGV", "in segfault"}),
    [](const auto &info) { return std::string(info.param.name); });

TEST_F(Workers, AWorkerKilledFromOutsideDuringACall) {
  Interpreter interp = env_->interpreter();
  const pid_t pid = pid_of(interp);
  std::thread killer([pid] {
    std::this_thread::sleep_for(milliseconds(300));
    ::kill(pid, SIGKILL);
  });
  auto [status, message] = failure_of([&] { interp.call_bytes("job:sleep", "30", 2); });
  killer.join();
  EXPECT_EQ(status, PYENV_EPYTHON) << message;
  EXPECT_NE(message.find("killed by signal 9 (SIGKILL"), std::string::npos) << message;
  expect_dead_then_replaced(interp, pid);
}

TEST_F(Workers, AWorkerKilledBetweenCalls) {
  Interpreter interp = env_->interpreter();
  const pid_t pid = pid_of(interp);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(wait_gone(pid));
  auto [status, message] = failure_of([&] { interp.call_bytes("job:upper", "x", 1); });
  EXPECT_EQ(status, PYENV_EPYTHON) << message;
  EXPECT_NE(message.find("SIGKILL"), std::string::npos) << message;
  expect_dead_then_replaced(interp, pid);
}

TEST_F(Workers, ACallPastItsTimeoutKillsTheWorkerShowingWhereItWas) {
  open_job("pyenv.process.call-timeout: 500ms\n");
  Interpreter interp = env_->interpreter();
  const pid_t pid = pid_of(interp);
  EXPECT_EQ(interp.call_bytes("job:sleep", "0.1", 3), "slept") << "within the timeout";
  for (const char *function : {"job:sleep", "job:spin"}) {
    Interpreter stuck = env_->interpreter();
    const pid_t stuck_pid = pid_of(stuck);
    const auto start = Clock::now();
    auto [status, message] = failure_of([&] { stuck.call_bytes(function, "5", 1); });
    const auto took = Clock::now() - start;
    EXPECT_EQ(status, PYENV_EPYTHON) << message;
    EXPECT_LT(took, std::chrono::seconds(2)) << message;
    EXPECT_GE(took, milliseconds(500)) << message;
    EXPECT_NE(message.find(std::string("\"") + function + "\" timed out after 0.5 s"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("pyenv.process.call-timeout"), std::string::npos) << message;
    // The stack faulthandler printed on SIGUSR1 names the stuck function.
    EXPECT_NE(message.find(std::string("in ") + (function + 4)), std::string::npos) << message;
    EXPECT_TRUE(wait_gone(stuck_pid)) << "the worker is gone";
    auto [again, why] = failure_of([&] { stuck.call_bytes("job:upper", "x", 1); });
    EXPECT_EQ(again, PYENV_ESTATE) << why;
    EXPECT_NE(why.find("timed out"), std::string::npos) << why;
  }
  EXPECT_EQ(interp.call_bytes("job:upper", "other", 5), "OTHER") << "other handles live on";
  EXPECT_NE(pid_of(interp), 0);
  (void)pid;
}

TEST_F(Workers, OutputReachesTheLogLineByLineTaggedWithThePid) {
  Interpreter interp = env_->interpreter();
  const pid_t pid = pid_of(interp);
  interp.call_bytes("job:shout", "hello", 5);
  const std::string tag = "python[" + std::to_string(pid) + "] ";
  // The supervisor delivers output as it comes, on its own thread.
  for (int i = 0; i < 200 && lines_.count(2, tag + "to stderr: hello") == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(lines_.count(1, tag + "to stdout: hello"), 1u) << lines_.dump();
  EXPECT_EQ(lines_.count(2, tag + "to stderr: hello"), 1u) << lines_.dump();
}

TEST_F(Workers, AFloodOfStderrNeitherBlocksNorGrowsTheMessage) {
  Interpreter interp = env_->interpreter();
  const pid_t pid = pid_of(interp);
  // Far more than a pipe holds.
  EXPECT_EQ(interp.call_bytes("job:flood", "200000", 6), "flooded");
  const std::string tag = "python[" + std::to_string(pid) + "] flood line 199999";
  for (int i = 0; i < 500 && lines_.count(2, tag) == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(lines_.count(2, tag), 1u);
  interp.exec("def flood_then_die(r):\n    import os, sys\n"
              "    for i in range(50000):\n        sys.stderr.write('last words %d\\n' % i)\n"
              "    os._exit(4)\n");
  auto [status, message] = failure_of([&] { interp.call_bytes("flood_then_die", "", 0); });
  EXPECT_EQ(status, PYENV_EPYTHON);
  EXPECT_NE(message.find("last words 49999"), std::string::npos) << message.substr(0, 2000);
  EXPECT_LT(message.size(), 4000u) << "only the last lines";
}

TEST_F(Workers, InheritsNoDescriptorButItsChannel) {
  // A descriptor of the host without close-on-exec must not reach the worker.
  const int leaky = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky, 0);
  Interpreter interp = env_->interpreter();
  // 0 1 2 3, and the one os.listdir opens to read the list.
  const std::string fds = interp.call_bytes("job:fds", "", 0);
  ::close(leaky);
  EXPECT_EQ(fds.substr(0, 8), "0 1 2 3 ") << fds;
  EXPECT_EQ(std::count(fds.begin(), fds.end(), ' '), 4) << fds;
}

TEST_F(Workers, RunWithTheEnvironmentsVariablesAndWorkingDirectory) {
  write_zip(tmp_ / "data.zip", {file_entry("data/x.txt", "x")});
  open_job("python.archives: " + (tmp_ / "data.zip").string() + "#data\n");
  Interpreter interp = env_->interpreter();
  const std::string where = interp.call_bytes("job:where", "", 0);
  EXPECT_EQ(where, env_->working_directory().value_or("?") + "|from the job");
  EXPECT_NE(env_->working_directory(), std::nullopt);
}

TEST_F(Workers, EndWithTheirHandleAndLeaveNoZombie) {
  pid_t pids[2];
  {
    Interpreter a = env_->interpreter();
    Interpreter b = env_->interpreter();
    pids[0] = pid_of(a);
    pids[1] = pid_of(b);
    EXPECT_NE(pids[0], pids[1]);
    EXPECT_NE(pids[0], ::getpid());
  }
  for (pid_t pid : pids) {
    EXPECT_TRUE(process_gone(pid)) << pid;
    // Reaped by the plugin, not left for the host.
    EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
  }
}

TEST_F(Workers, AWorkerThatIgnoresItsEndOfInputIsTerminated) {
  Interpreter interp = env_->interpreter();
  const pid_t pid = pid_of(interp);
  // A non-daemon thread keeps Python from exiting after the worker's loop returns.
  interp.exec("import threading, time\n"
              "threading.Thread(target=lambda: time.sleep(600)).start()\n");
  const auto start = Clock::now();
  { Interpreter gone = std::move(interp); }
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(6));
  EXPECT_TRUE(process_gone(pid));
}

TEST_F(Workers, AfterItsManagerClosesOutputNoLongerReachesItsCallback) {
  Interpreter interp = env_->interpreter();
  interp.call_bytes("job:shout", "early", 5);  // imported while its file is there
  manager_->close();
  manager_.reset();
  std::this_thread::sleep_for(milliseconds(200));
  const size_t before = lines_.count(1, "to stdout");
  ASSERT_EQ(before, 1u) << lines_.dump();
  interp.call_bytes("job:shout", "late", 4);
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(lines_.count(1, "to stdout"), before);
}

TEST_F(Workers, AWorkerThatCannotStartNamesItsExecutableAndWhatItPrinted) {
  struct Case {
    std::string executable;
    std::string expected;
  };
  write_file(tmp_ / "fake-python", "#!/bin/sh\necho 'this is not python' >&2\nexit 7\n", 0755);
  for (const Case &c : {Case{"python3.99-nowhere", "python3.99-nowhere: not found on PATH"},
                        Case{(tmp_ / "fake-python").string(),
                             "exited with status 7 before it was ready; it printed:\n  this is "
                             "not python"},
                        Case{"/bin/true", "exited with status 0 before it was ready"}}) {
    pyenv::host::Options options;
    options.job_id = "cannot-start";
    options.tmp_dirs = {tmp_.path().string()};
    options.config_yaml = "python.execution-mode: process\npython.executable: " + c.executable;
    options.system_env = {"PATH=/usr/bin:/bin"};
    pyenv::host::Manager manager = plugin().create(options);
    manager.open();
    pyenv::host::Environment env = manager.create_environment();
    auto [status, message] = failure_of([&] { env.interpreter(); });
    EXPECT_EQ(status, PYENV_EPYTHON) << message;
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
    EXPECT_NE(message.find(c.executable), std::string::npos) << message;
  }
}

// Whatever Pythons the machine has besides the matrix (the pyenv version manager's builds,
// which link libpython statically): 3.9 to 3.15 run, others are refused naming the range.
TEST_F(Workers, AnyCPythonThatRunsFromPyenvsBuilds) {
  const fs::path versions = "/root/.pyenv/versions";
  std::error_code ec;
  if (!fs::is_directory(versions, ec)) GTEST_SKIP() << "no " << versions << " here";
  size_t tried = 0;
  for (const auto &entry : fs::directory_iterator(versions)) {
    const std::string version = entry.path().filename();
    const fs::path python = entry.path() / "bin" / "python";
    int major = 0, minor = 0;
    if (std::sscanf(version.c_str(), "%d.%d", &major, &minor) != 2 || !fs::exists(python)) continue;
    pyenv::host::Options options;
    options.job_id = "pyenv-" + version;
    options.tmp_dirs = {tmp_.path().string()};
    options.config_yaml = "python.execution-mode: process\npython.executable: " + python.string();
    pyenv::host::Manager manager = plugin().create(options);
    manager.open();
    pyenv::host::Environment env = manager.create_environment();
    ++tried;
    if (major == 3 && minor >= 9 && minor <= 15) {
      Interpreter interp = env.interpreter();
      EXPECT_EQ(interp.call_json("platform:python_version"), "\"" + version + "\"");
      EXPECT_EQ(interp.call_bytes("builtins:bytes.upper", "ok", 2), "OK");
    } else {
      auto [status, message] = failure_of([&] { env.interpreter(); });
      EXPECT_EQ(status, PYENV_EPYTHON) << version;
      EXPECT_NE(message.find(python.string()), std::string::npos) << message;
      if (major == 3) {
        EXPECT_NE(message.find("outside the supported range 3.9 to 3.15"), std::string::npos)
            << message;
      }
    }
  }
  if (tried == 0) GTEST_SKIP() << "no Python in " << versions;
}

// How many processes have this one as their parent.
size_t children() {
  size_t n = 0;
  const std::string self = std::to_string(::getpid());
  for (const auto &entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
    std::istringstream fields(line.substr(line.rfind(')') + 2));
    std::string state, ppid;
    fields >> state >> ppid;
    if (ppid == self) ++n;
  }
  return n;
}

long rss_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

size_t fd_count() {
  return static_cast<size_t>(
      std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator()));
}

TEST_F(Workers, AThousandHandlesLeaveNoProcessDescriptorOrMemory) {
  // Warm: the supervisor's thread and descriptors exist from the first handle on. The
  // supervisor lets go of a worker's pipes and channel once its output is read to the end,
  // shortly after the handle is closed.
  auto settled_fds = [] {
    size_t n = fd_count();
    for (int i = 0; i < 30; ++i) {
      std::this_thread::sleep_for(milliseconds(100));
      const size_t now = fd_count();
      if (now == n) break;
      n = now;
    }
    return n;
  };
  { Interpreter first = env_->interpreter(); }
  const size_t fds_before = settled_fds();
  const long rss_before = rss_kib();
  // Four at a time, as a host's subtasks come and go.
  std::atomic<int> next{0};
  std::atomic<int> wrong{0};
  auto work = [&] {
    while (next++ < 1000) {
      Interpreter interp = env_->interpreter();
      if (interp.call_bytes("job:upper", "ab", 2) != "AB") ++wrong;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(work);
  for (std::thread &t : threads) t.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(children(), 0u);
  EXPECT_EQ(settled_fds(), fds_before);
#ifndef PYENV_TEST_SANITIZED
  EXPECT_LT(rss_kib() - rss_before, 8 * 1024) << "KiB of growth";
#else
  // Under ASan the freed memory sits in its quarantine; LeakSanitizer checks at exit instead.
  (void)rss_before;
#endif
}

}  // namespace
}  // namespace pyenv::test
