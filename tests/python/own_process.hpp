// CPython starts once per process, and a start that failed cannot be retried: tests that
// start one run in a child process of their own. ctest already gives each test a process;
// run directly, an executable's tests would otherwise share one.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace pyenv::test {

// Whether to run the test's body here: true in the child; in the parent, runs this test in
// a child process (the same executable, filtered to it) and reports its outcome.
inline bool in_own_process() {
  if (std::getenv("PYENV_TEST_CHILD") != nullptr) return true;
  const auto *test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string filter =
      "--gtest_filter=" + std::string(test->test_suite_name()) + "." + test->name();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("PYENV_TEST_CHILD", "1", 1);
    ::execl("/proc/self/exe", "own-process", filter.c_str(), nullptr);
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << test->name() << " failed in its own process (status " << status << ")";
  return false;
}

}  // namespace pyenv::test
