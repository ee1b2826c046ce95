// libpython missing: environments whose interpreter cannot be embedded. get_interpreter must
// answer PYENV_EPYTHON naming where it looked, never exit() nor crash the host, and start
// nothing, so that a good environment works in the same process afterwards. The good one is
// the machine's /usr/bin/python3 in every test, so that the executable also passes when run
// directly (CPython starts once per process, with one home).
#include <unistd.h>

#include <atomic>

#include "support.hpp"

namespace pyenv::test::reliability {
namespace {

using pyenv::host::Manager;
using ::testing::HasSubstr;

// The version the broken homes claim to be: one the plugin embeds (the machine's).
constexpr char kVersion[] = "3.11";

class MissingLibpython : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
    in_ = tmp_ / "in";
    T = tmp_ / "tmp";
    fs::create_directories(in_);
    fs::create_directories(T);
  }

  // Opens a job whose interpreter is venv/bin/python from an archive of `entries`, and asks
  // for its interpreter.
  Outcome interpreter_of_archive(const std::vector<Entry> &entries) {
    write_tar(in_ / "venv.tar.gz", entries);
    manager_.emplace(
        plugin().create(options_for(job_id(), {T},
                                    "python.archives: " + (in_ / "venv.tar.gz").string() +
                                        "#venv\n" + "python.executable: venv/bin/python\n")));
    const Outcome opened = outcome_of([&] { manager_->open(); });
    if (!opened.ok()) return opened;
    env_.emplace(manager_->create_environment());
    const Outcome outcome = outcome_of([&] { env_->interpreter(); });
    print_outcome(outcome);
    return outcome;
  }

  // The home as the messages name it: resolved (python-archives/venv links into the cache).
  fs::path home() const {
    std::error_code ec;
    const fs::path home = env_ ? fs::path(env_->python_home().value_or("")) : fs::path();
    const fs::path resolved = fs::canonical(home, ec);
    return ec ? home : resolved;
  }

  // The fault gone: an environment on a complete Python, in this same process.
  void expect_good_environment_works() {
    Manager manager =
        plugin().create(options_for(job_id(), {T}, "python.executable: /usr/bin/python3\n"));
    manager.open();
    pyenv::host::Environment env = manager.create_environment();
    std::optional<pyenv::host::Interpreter> interpreter;
    const Outcome started = outcome_of([&] { interpreter.emplace(env.interpreter()); });
    ASSERT_TRUE(started.ok()) << started;
    EXPECT_EQ(interpreter->call_json("len", "[\"four\"]"), "4");
    interpreter.reset();
    manager.close();
  }

  static std::string job_id() {
    static std::atomic<int> n{0};
    return "python-fault-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
  }

  TempDir tmp_;
  fs::path in_;
  fs::path T;
  std::optional<Manager> manager_;
  std::optional<pyenv::host::Environment> env_;
};

// A home with a standard library but no libpython, and an executable that is a script
// which is not Python: asking it where its libpython is gets nowhere either.
TEST_F(MissingLibpython, ScriptExecutableIsEpythonNamingWhereItLooked) {
  const Outcome failed = interpreter_of_archive(
      {file_entry("bin/python", "#!/bin/sh\necho this is no python\nexit 3\n", 0755),
       file_entry(std::string("lib/python") + kVersion + "/os.py", "")});
  EXPECT_EQ(failed.status, PYENV_EPYTHON) << failed;
  EXPECT_THAT(failed.message, HasSubstr(std::string("no libpython") + kVersion));
  EXPECT_THAT(failed.message, HasSubstr((home() / "lib").string()));
  EXPECT_THAT(failed.message, HasSubstr((home() / "lib64").string()));
  EXPECT_THAT(failed.message, HasSubstr("exit code 3"));
  EXPECT_THAT(failed.message, HasSubstr("this is no python"));
  expect_good_environment_works();
}

// An ELF executable that is not Python (it answers nothing) in a home without libpython.
TEST_F(MissingLibpython, SilentExecutableIsEpythonNamingWhereItLooked) {
  const Outcome failed =
      interpreter_of_archive({file_entry("bin/python", read_file("/bin/true"), 0755),
                              file_entry(std::string("lib/python") + kVersion + "/os.py", "")});
  EXPECT_EQ(failed.status, PYENV_EPYTHON) << failed;
  EXPECT_THAT(failed.message, HasSubstr(std::string("no libpython") + kVersion));
  EXPECT_THAT(failed.message, HasSubstr((home() / "lib").string()));
  EXPECT_THAT(failed.message, HasSubstr("printed nothing"));
  expect_good_environment_works();
}

// No standard library in the home either: that is what is named.
TEST_F(MissingLibpython, HomeWithoutStandardLibraryIsEpythonNamingIt) {
  const Outcome failed =
      interpreter_of_archive({file_entry("bin/python", "#!/bin/sh\nexit 0\n", 0755)});
  EXPECT_EQ(failed.status, PYENV_EPYTHON) << failed;
  ASSERT_TRUE(env_);
  EXPECT_THAT(failed.message, HasSubstr(*env_->python_home()));
  EXPECT_THAT(failed.message, HasSubstr("has no standard library (no lib/python3.X/os.py)"));
  expect_good_environment_works();
}

// The executable the configuration names is not in the archive.
TEST_F(MissingLibpython, MissingExecutableIsEpythonNamingIt) {
  const Outcome failed =
      interpreter_of_archive({file_entry(std::string("lib/python") + kVersion + "/os.py", "")});
  EXPECT_EQ(failed.status, PYENV_EPYTHON) << failed;
  ASSERT_TRUE(env_);
  EXPECT_THAT(failed.message, HasSubstr(env_->python_exec()));
  EXPECT_THAT(failed.message, HasSubstr("does not exist"));
  expect_good_environment_works();
}

}  // namespace
}  // namespace pyenv::test::reliability
