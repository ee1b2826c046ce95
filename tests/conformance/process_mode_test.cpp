// CONFORMANCE.md "Process mode", cases P1 to P7 (P4, two Pythons in one host, needs the
// version matrix's CPython 3.13: tests/python/matrix_test.cpp, ProcessMode.TwoPythons...).
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include <signal.h>

#include <thread>

#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

// `pid` no longer exists (the plugin reaps its workers: not even a zombie is left), waiting
// up to 3 s for it.
bool wait_gone(pid_t pid) {
  for (int i = 0; i < 300; ++i) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

using pyenv::host::Error;
using pyenv::host::Interpreter;
using Clock = std::chrono::steady_clock;

class ProcessMode : public ConformanceTest {
 protected:
  void SetUp() override {
    ConformanceTest::SetUp();
    write_file(T / "p.py",
               "import os, time\n"
               "def pid():\n    return os.getpid()\n"
               "def upper(r):\n    return r.upper()\n"
               "def boom(r):\n    raise ValueError('boom ' + r.decode())\n"
               "def abort(r):\n    os.abort()\n"
               "def sleep(r):\n    time.sleep(5)\n");
  }

  pyenv::host::Environment environment(const std::string &mode, const std::string &extra = "") {
    managers_.push_back(create("python.executable: /usr/bin/python3\npython.files: " +
                               (T / "p.py").string() + "\n" +
                               (mode.empty() ? "" : "python.execution-mode: " + mode + "\n") +
                               extra));
    managers_.back().open();
    return managers_.back().create_environment();
  }


  std::vector<pyenv::host::Manager> managers_;
};

TEST_F(ProcessMode, P1_TheEnvironmentReportsIt) {
  EXPECT_EQ(environment("process").to_json().rfind("{\"exec_type\": \"PROCESS\"", 0), 0u);
  EXPECT_EQ(environment("process").exec_type(), PYENV_EXEC_PROCESS);
  for (const char *mode : {"", "thread"}) {
    pyenv::host::Environment env = environment(mode);
    EXPECT_EQ(env.to_json().rfind("{\"exec_type\": \"MULTI_THREAD\"", 0), 0u) << mode;
    EXPECT_EQ(env.exec_type(), PYENV_EXEC_MULTI_THREAD);
  }
}

TEST_F(ProcessMode, P2_AProcessOfItsOwn) {
  pyenv::host::Environment env = environment("process");
  pid_t pids[2];
  {
    Interpreter a = env.interpreter();
    Interpreter b = env.interpreter();
    pids[0] = static_cast<pid_t>(std::stol(a.call_json("p:pid")));
    pids[1] = static_cast<pid_t>(std::stol(b.call_json("p:pid")));
    EXPECT_NE(pids[0], ::getpid());
    EXPECT_NE(pids[1], ::getpid());
    EXPECT_NE(pids[0], pids[1]);
  }
  for (pid_t pid : pids) {
    EXPECT_TRUE(wait_gone(pid)) << pid;
    EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1) << "no zombie left for the host";
  }
}

TEST_F(ProcessMode, P3_SameAnswersInBothModes) {
  struct Answers {
    std::string exec_then_call, json, bytes, raised_status, raised_last_line, info;
  };
  auto answers = [&](const std::string &mode) {
    pyenv::host::Environment env = environment(mode);
    Interpreter interp = env.interpreter();
    Answers a;
    interp.exec("x = 41\ndef plus():\n    return x + 1\n");
    a.exec_then_call = interp.call_json("plus");
    a.json = interp.call_json("json:dumps", R"([[1, 2, {"a": null}]])");
    a.bytes = interp.call_bytes("p:upper", "abc", 3);
    auto [status, message] = failure_of([&] { interp.call_bytes("p:boom", "x", 1); });
    a.raised_status = std::to_string(status);
    a.raised_last_line = message.substr(message.rfind('\n') + 1);
    // Everything info says of the Python itself (its pid and mode are where it runs).
    std::string info = interp.info();
    a.info = info.substr(0, info.find(", \"libpython\""));
    return a;
  };
  const Answers thread = answers("thread");
  const Answers process = answers("process");
  EXPECT_EQ(thread.exec_then_call, "42");
  EXPECT_EQ(thread.json, R"("[1, 2, {\"a\": null}]")");
  EXPECT_EQ(thread.bytes, "ABC");
  EXPECT_EQ(thread.raised_status, std::to_string(PYENV_EPYTHON));
  EXPECT_EQ(thread.raised_last_line, "ValueError: boom x");
  EXPECT_EQ(process.exec_then_call, thread.exec_then_call);
  EXPECT_EQ(process.json, thread.json);
  EXPECT_EQ(process.bytes, thread.bytes);
  EXPECT_EQ(process.raised_status, thread.raised_status);
  EXPECT_EQ(process.raised_last_line, thread.raised_last_line);
  EXPECT_EQ(process.info, thread.info);
}

TEST_F(ProcessMode, P5_AWorkerDies) {
  pyenv::host::Environment env = environment("process");
  Interpreter interp = env.interpreter();
  auto [status, message] = failure_of([&] { interp.call_bytes("p:abort", "", 0); });
  EXPECT_EQ(status, PYENV_EPYTHON);
  EXPECT_NE(message.find("SIGABRT"), std::string::npos) << message;
  auto [next, why] = failure_of([&] { interp.call_bytes("p:upper", "a", 1); });
  EXPECT_EQ(next, PYENV_ESTATE) << why;
  Interpreter fresh = env.interpreter();
  EXPECT_EQ(fresh.call_bytes("p:upper", "a", 1), "A");
}

TEST_F(ProcessMode, P6_Timeout) {
  pyenv::host::Environment env = environment("process", "pyenv.process.call-timeout: 500ms\n");
  Interpreter interp = env.interpreter();
  const pid_t pid = static_cast<pid_t>(std::stol(interp.call_json("p:pid")));
  const auto start = Clock::now();
  auto [status, message] = failure_of([&] { interp.call_bytes("p:sleep", "", 0); });
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(status, PYENV_EPYTHON);
  EXPECT_NE(message.find("\"p:sleep\""), std::string::npos) << message;
  EXPECT_NE(message.find("0.5 s"), std::string::npos) << message;
  EXPECT_TRUE(wait_gone(pid));
}

TEST_F(ProcessMode, P7_Batch) {
  for (const char *mode : {"thread", "process"}) {
    pyenv::host::Environment env = environment(mode);
    Interpreter interp = env.interpreter();
    const std::vector<std::string> out =
        interp.call_batch("p:upper", {"a", "", std::string(1 << 20, 'c')});
    EXPECT_EQ(out, (std::vector<std::string>{"A", "", std::string(1 << 20, 'C')})) << mode;
    auto [status, message] = failure_of([&] { interp.call_batch("p:boom", {"a", "b"}); });
    EXPECT_EQ(status, PYENV_EPYTHON) << mode;
    EXPECT_NE(message.find("on record 0 of 2"), std::string::npos) << message;
    interp.exec("def second(r):\n    if r == b'2':\n        raise ValueError(r)\n    return r\n");
    auto [status2, message2] = failure_of([&] { interp.call_batch("second", {"1", "2", "3"}); });
    EXPECT_EQ(status2, PYENV_EPYTHON) << mode;
    EXPECT_NE(message2.find("on record 1 of 3"), std::string::npos) << message2;
  }
}

}  // namespace
}  // namespace pyenv::test
