// pyenv-host, the reference host, run as a user would: the built binary, its bundled
// example, pipes instead of a terminal.
#include <sys/wait.h>

#include <cstdio>

#include "helpers.hpp"
#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

TEST(PyenvHost, BundledExampleRunsWithNoArguments) {
  TempDir dir;
  Ran ran = run_host("--tmp-dir " + dir.path().string(), dir.path());
  ASSERT_EQ(ran.status, 0) << ran.err;
  const size_t first_line = ran.out.find('\n');
  ASSERT_NE(first_line, std::string::npos) << ran.out;
  EXPECT_EQ(ran.out.rfind("{\"exec_type\": \"MULTI_THREAD\"", 0), 0u) << ran.out;
  // records.txt's word counts, in order.
  EXPECT_EQ(ran.out.substr(first_line + 1), "4\n5\n7\n1\n10\n");
  EXPECT_NE(ran.err.find("5 records"), std::string::npos) << ran.err;
  EXPECT_TRUE(base_dirs_in(dir.path()).empty()) << "the job was not cleaned up";
}

TEST(PyenvHost, EnvPrintsOnlyTheJsonWhenNotOnATerminal) {
  TempDir dir;
  Ran ran = run_host("env --tmp-dir " + dir.path().string(), dir.path());
  ASSERT_EQ(ran.status, 0) << ran.err;
  EXPECT_EQ(ran.err, "") << "no progress or log lines off a terminal";
  EXPECT_EQ(ran.out.back(), '\n');
  EXPECT_EQ(ran.out.find('\n'), ran.out.size() - 1) << "one line of JSON";
  EXPECT_NE(ran.out.find("\"paths\": ["), std::string::npos);
}

TEST(PyenvHost, RunKeepsInputOrderAcrossThreads) {
  TempDir dir;
  std::string input, expected;
  for (int i = 0; i < 3000; ++i) {
    input += std::string(static_cast<size_t>(i % 7 + 1), 'w') + (i % 3 ? " x" : "") + "\n";
    expected += std::to_string(i % 3 ? 2 : 1) + "\n";
  }
  Ran ran =
      run_host("run --function wordcount:count_words --threads 4 --tmp-dir " + dir.path().string(),
               dir.path(), input);
  ASSERT_EQ(ran.status, 0) << ran.err;
  EXPECT_EQ(ran.out, expected);
  EXPECT_NE(ran.err.find("3000 records"), std::string::npos) << ran.err;
  EXPECT_NE(ran.err.find("records/s"), std::string::npos) << ran.err;
}

TEST(PyenvHost, PythonErrorsAreReportedAndFail) {
  TempDir dir;
  Ran ran = run_host("run --function wordcount:missing --tmp-dir " + dir.path().string(),
                     dir.path(), "a\n");
  EXPECT_EQ(ran.status, 1);
  EXPECT_NE(ran.err.find("has no attribute 'missing'"), std::string::npos) << ran.err;
  EXPECT_NE(ran.err.find("status -7"), std::string::npos) << ran.err;
}

TEST(PyenvHost, HelpAndUsageErrors) {
  TempDir dir;
  Ran help = run_host("--help", dir.path());
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("usage: pyenv-host"), std::string::npos);
  Ran bad = run_host("--frobnicate", dir.path());
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("unknown argument --frobnicate"), std::string::npos) << bad.err;
  Ran no_function = run_host("run", dir.path());
  EXPECT_EQ(no_function.status, 2);
  EXPECT_NE(no_function.err.find("--function"), std::string::npos) << no_function.err;
}

TEST(PyenvHost, EveryBundledExamplePrintsAnEnvironment) {
  for (const char *example : {"executable-only", "venv-archive", "requirements"}) {
    TempDir dir;
    Ran ran = run_host("env --config " + std::string(PYENV_EXAMPLES_DIR) + "/" + example +
                           ".yaml --tmp-dir " + dir.path().string(),
                       dir.path());
    ASSERT_EQ(ran.status, 0) << example << ": " << ran.err;
    EXPECT_NE(ran.out.find("\"python_exec\""), std::string::npos) << ran.out;
    if (std::string(example) == "venv-archive") {
      EXPECT_NE(ran.out.find("/python-archives/venv/bin/python\""), std::string::npos) << ran.out;
    }
    if (std::string(example) == "requirements") {
      EXPECT_NE(ran.out.find("python-requirements"), std::string::npos) << ran.out;
    }
  }
}

}  // namespace
}  // namespace pyenv::test
