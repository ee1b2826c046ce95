// run_process against real programs: /bin/sh and coreutils.
#include "util/process.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <set>
#include <stdexcept>
#include <thread>

#include "error.hpp"
#include "helpers.hpp"
#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

const std::map<std::string, std::string> kEnv = {{"PATH", "/usr/bin:/bin"}};

ProcessSpec shell(const std::string &script, milliseconds timeout = std::chrono::seconds(20)) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.env = kEnv;
  spec.timeout = timeout;
  return spec;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(Process, ExitCodes) {
  ProcessResult ok = run_process(shell("exit 0"));
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.signal, 0);
  EXPECT_FALSE(ok.timed_out);
  EXPECT_TRUE(ok.succeeded());

  ProcessResult three = run_process(shell("exit 3"));
  EXPECT_EQ(three.exit_code, 3);
  EXPECT_FALSE(three.succeeded());
  EXPECT_EQ(three.describe(milliseconds(1000)), "exit code 3");

  ProcessResult killed = run_process(shell("kill -TERM $$"));
  EXPECT_EQ(killed.exit_code, -1);
  EXPECT_EQ(killed.signal, SIGTERM);
  EXPECT_FALSE(killed.timed_out);
  EXPECT_NE(killed.describe(milliseconds(1000)).find("killed by signal 15"), std::string::npos);
}

TEST(Process, MergedOutputLinesInOrder) {
  ProcessSpec spec = shell("echo one; echo two >&2; echo three; printf 'four\\r\\n\\nfive'");
  std::vector<std::string> seen;
  spec.on_line = [&](const std::string &line) { seen.push_back(line); };
  ProcessResult result = run_process(spec);
  const std::vector<std::string> expected = {"one", "two", "three", "four", "", "five"};
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(result.last_lines, expected);
}

TEST(Process, KeepsOnlyTheLastLines) {
  ProcessSpec spec;
  spec.argv = {"seq", "1", "1000"};
  spec.env = kEnv;
  spec.timeout = std::chrono::seconds(20);
  size_t count = 0;
  spec.on_line = [&](const std::string &) { ++count; };
  ProcessResult result = run_process(spec);
  EXPECT_EQ(count, 1000u);
  ASSERT_EQ(result.last_lines.size(), ProcessResult::kLastLines);
  EXPECT_EQ(result.last_lines.front(), std::to_string(1000 - ProcessResult::kLastLines + 1));
  EXPECT_EQ(result.last_lines.back(), "1000");
}

TEST(Process, EnvironmentIsExactlyTheMap) {
  ProcessSpec spec;
  spec.argv = {"env"};
  spec.env = {{"PATH", "/usr/bin:/bin"}, {"PYENV_TEST_VAR", "a b=c"}, {"EMPTY", ""}};
  spec.timeout = std::chrono::seconds(20);
  ProcessResult result = run_process(spec);
  EXPECT_EQ(result.exit_code, 0);
  std::set<std::string> lines(result.last_lines.begin(), result.last_lines.end());
  EXPECT_EQ(lines, (std::set<std::string>{"PATH=/usr/bin:/bin", "PYENV_TEST_VAR=a b=c", "EMPTY="}));
}

TEST(Process, ProgramIsLookedUpOnTheChildsPath) {
  TempDir tmp;
  write_file(tmp / "bin/pyenv-test-tool", "#!/bin/sh\necho \"args: $*\"\n", 0755);
  ProcessSpec spec;
  spec.argv = {"pyenv-test-tool", "x y", "z"};
  spec.env = {{"PATH", "/nonexistent:" + (tmp / "bin").string() + ":/usr/bin:/bin"}};
  spec.timeout = std::chrono::seconds(20);
  ProcessResult result = run_process(spec);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.last_lines, std::vector<std::string>{"args: x y z"});
}

TEST(Process, WorkingDirectory) {
  TempDir tmp;
  ProcessSpec spec;
  spec.argv = {"pwd"};
  spec.env = kEnv;
  spec.cwd = tmp.path();
  spec.timeout = std::chrono::seconds(20);
  ProcessResult result = run_process(spec);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.last_lines, std::vector<std::string>{fs::canonical(tmp.path()).string()});
}

TEST(Process, StdinIsEmpty) {
  ProcessResult result = run_process(shell("cat; echo end", std::chrono::seconds(5)));
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.last_lines, std::vector<std::string>{"end"});
}

TEST(Process, DescriptorsOfTheHostDoNotLeak) {
  // A descriptor a host opened without close-on-exec, at a number the shell leaves alone.
  int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::dup2(fd, 200), 200);
  ::close(fd);
  ProcessResult result =
      run_process(shell("if [ -e /proc/$$/fd/200 ]; then echo leaked; else echo clean; fi"));
  ::close(200);
  EXPECT_EQ(result.last_lines, std::vector<std::string>{"clean"});
}

// A host (a daemon) may have closed its own stdin, stdout and stderr: the pipes then get
// those numbers, and the child must still get /dev/null and the output pipe as 0, 1 and 2.
TEST(Process, HostWithoutStdioStillGivesTheChildItsOwn) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(STDIN_FILENO);
    ::close(STDOUT_FILENO);
    ::close(STDERR_FILENO);
    int code = 1;
    try {
      ProcessResult result =
          run_process(shell("cat; [ -t 0 ] || echo out; echo err >&2", std::chrono::seconds(10)));
      if (result.succeeded() && result.last_lines == std::vector<std::string>{"out", "err"}) {
        code = 0;
      }
    } catch (...) {
      code = 2;
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: wrong output, 2: an error";
}

// The child dies with the thread that started it, not only at the timeout: a host killed
// while, say, pip runs leaves no pip behind.
TEST(Process, ChildDiesWithItsHost) {
  int pids[2];
  ASSERT_EQ(::pipe(pids), 0);
  const pid_t host = ::fork();
  ASSERT_GE(host, 0);
  if (host == 0) {
    ::close(pids[0]);
    ProcessSpec spec = shell("echo $$; exec sleep 300");
    spec.on_line = [&](const std::string &line) {
      [[maybe_unused]] ssize_t n = ::write(pids[1], line.c_str(), line.size() + 1);
    };
    try {
      run_process(spec);
    } catch (...) {
    }
    ::_exit(1);
  }
  ::close(pids[1]);
  char text[32] = {};
  ssize_t n = ::read(pids[0], text, sizeof text - 1);
  ::close(pids[0]);
  ASSERT_GT(n, 0) << "the child never started";
  const pid_t child = static_cast<pid_t>(std::stol(text));
  ASSERT_EQ(::kill(host, SIGKILL), 0);
  ASSERT_EQ(::waitpid(host, nullptr, 0), host);
  // Gone, or a zombie its new parent (init, in a container perhaps no reaper) did not reap.
  auto dead = [child] {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string text;
    if (!std::getline(stat, text)) return true;
    const size_t paren = text.rfind(')');
    return paren + 2 < text.size() && (text[paren + 2] == 'Z' || text[paren + 2] == 'X');
  };
  bool gone = false;
  for (int i = 0; i < 300 && !gone; ++i) {
    gone = dead();
    if (!gone) std::this_thread::sleep_for(milliseconds(10));
  }
  if (!gone) ::kill(child, SIGKILL);
  EXPECT_TRUE(gone) << "child " << child << " outlived its host";
}

void expect_error(const ProcessSpec &spec, Status status, const std::vector<std::string> &parts) {
  try {
    run_process(spec);
    ADD_FAILURE() << "no error for " << spec.argv.at(0);
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), status) << e.what();
    for (const std::string &part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "\"" << part << "\" not in: " << e.what();
    }
  }
}

TEST(Process, ProgramNotFound) {
  ProcessSpec spec;
  spec.argv = {"python3.99", "--version"};
  spec.env = kEnv;
  expect_error(spec, Status::kIo, {"python3.99: not found on PATH", "/usr/bin:/bin"});

  spec.argv = {"/nonexistent/python3"};
  expect_error(spec, Status::kIo, {"/nonexistent/python3", "No such file"});

  TempDir tmp;
  write_file(tmp / "not-executable", "#!/bin/sh\n", 0644);
  spec.argv = {(tmp / "not-executable").string()};
  expect_error(spec, Status::kIo, {"not-executable", "Permission denied"});

  spec.argv = {"true"};
  spec.cwd = tmp / "missing";
  expect_error(spec, Status::kIo, {"true", "working directory", "missing"});

  spec.argv = {};
  spec.cwd.reset();
  expect_error(spec, Status::kInvalid, {"empty argv"});
}

TEST(Process, TimeoutKillsChildAndGrandchild) {
  ProcessSpec spec = shell("sleep 300 & echo $!; sleep 300", milliseconds(300));
  auto start = Clock::now();
  ProcessResult result = run_process(spec);
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_TRUE(result.timed_out);
  EXPECT_EQ(result.signal, SIGKILL);
  EXPECT_FALSE(result.succeeded());
  EXPECT_EQ(result.describe(milliseconds(300)), "timed out after 0.3 s");
  ASSERT_EQ(result.last_lines.size(), 1u);
  pid_t grandchild = std::stoi(result.last_lines[0]);
  EXPECT_TRUE(wait_gone(grandchild)) << "grandchild " << grandchild << " still runs";
}

TEST(Process, ChildThatClosedItsOutputStillTimesOut) {
  auto start = Clock::now();
  ProcessResult result = run_process(shell("exec >/dev/null 2>&1; sleep 300", milliseconds(300)));
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_TRUE(result.timed_out);
}

TEST(Process, ExitedChildDoesNotWaitForDescendantsHoldingTheOutput) {
  auto start = Clock::now();
  ProcessResult result = run_process(shell("sleep 300 & echo $!; echo done"));
  EXPECT_LT(seconds_since(start), 5.0);
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 0);
  ASSERT_EQ(result.last_lines.size(), 2u);
  EXPECT_EQ(result.last_lines[1], "done");
  pid_t left_behind = std::stoi(result.last_lines[0]);
  EXPECT_TRUE(wait_gone(left_behind)) << "left-behind " << left_behind << " still runs";
}

TEST(Process, ExceptionFromOnLineKillsTheChild) {
  ProcessSpec spec = shell("echo $$; sleep 300");
  pid_t child = 0;
  spec.on_line = [&](const std::string &line) {
    child = std::stoi(line);
    throw std::runtime_error("stop");
  };
  auto start = Clock::now();
  EXPECT_THROW(run_process(spec), std::runtime_error);
  EXPECT_LT(seconds_since(start), 3.0);
  ASSERT_GT(child, 0);
  EXPECT_TRUE(wait_gone(child));
}

TEST(Process, SeveralThreadsAtOnce) {
  // One slow run throughout: were its pipe inherited by the others' children, or theirs by
  // its child, EOF would wait for the wrong process and the quick runs would crawl.
  std::thread slow([] {
    ProcessResult r = run_process(shell("echo slow; sleep 300", milliseconds(4000)));
    EXPECT_TRUE(r.timed_out);
    EXPECT_EQ(r.last_lines, std::vector<std::string>{"slow"});
  });
  constexpr int kThreads = 6;
  constexpr int kRuns = 15;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &good] {
      for (int run = 0; run < kRuns; ++run) {
        const std::string id = std::to_string(t) + "-" + std::to_string(run);
        ProcessSpec spec =
            shell("for i in 1 2 3 4 5; do echo " + id + ":$i; done; exit " + std::to_string(t + 1));
        std::vector<std::string> seen;
        spec.on_line = [&](const std::string &line) { seen.push_back(line); };
        auto start = Clock::now();
        ProcessResult r = run_process(spec);
        const double took = seconds_since(start);
        std::vector<std::string> expected;
        for (int i = 1; i <= 5; ++i) expected.push_back(id + ":" + std::to_string(i));
        EXPECT_EQ(seen, expected);
        EXPECT_EQ(r.exit_code, t + 1);
        EXPECT_LT(took, 2.0) << id;
        if (seen == expected && r.exit_code == t + 1 && took < 2.0) ++good;
      }
    });
  }
  for (std::thread &thread : threads) thread.join();
  slow.join();
  EXPECT_EQ(good.load(), kThreads * kRuns);
}

}  // namespace
}  // namespace pyenv::test
