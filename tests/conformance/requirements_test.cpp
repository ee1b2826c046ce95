// CONFORMANCE.md C4 and C7: requirements, with the test hook and with a real pip.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

class Requirements : public ConformanceTest {
 protected:
  TempDir home_;  // pip's caches go here, not into T
};

TEST_F(Requirements, C4_RequirementsEnv) {
  ::setenv("PYENV_TEST_SKIP_PIP", "1", 1);
  auto manager = create("python.requirements: " + (T / "file0").string() + "#" +
                        (T / "dir0").string() + "\n");
  manager.open();
  ::unsetenv("PYENV_TEST_SKIP_PIP");
  const fs::path B = base_dir();
  auto expected = basic_env(B);
  expected["_PYTHON_REQUIREMENTS_FILE"] = (T / "file0").string();
  expected["_PYTHON_REQUIREMENTS_CACHE"] = (T / "dir0").string();
  expected["_PYTHON_REQUIREMENTS_INSTALL_DIR"] = (B / "python-requirements").string();
  EXPECT_EQ(manager.create_environment().variables(), expected);
}

TEST_F(Requirements, C7_PythonPathOrderWithARealInstall) {
  write_wheel(T / "wheels", "tinydep", "1.0", "VALUE = 7\n");
  write_file(T / "requirements.txt", "tinydep==1.0\n");
  auto manager = create("python.executable: /usr/bin/python3\n"
                        "python.pythonpath: /pp\n"
                        "python.files: " + (T / "file1").string() + "#mod.py\n" +
                        "python.requirements: " + (T / "requirements.txt").string() + "#" +
                        (T / "wheels").string() + "\n",
                        {"PYTHONPATH=/sys", "PATH=/usr/bin:/bin", "HOME=" + home_.path().string()});
  manager.open();
  auto env = manager.create_environment();
  const fs::path B = base_dir();
  const std::vector<std::string> paths = env.paths();
  ASSERT_GE(paths.size(), 4u) << *env.getenv("PYTHONPATH");
  const std::string site = paths.front();
  EXPECT_EQ(site.rfind((B / "python-requirements").string(), 0), 0u) << site;
  EXPECT_TRUE(fs::exists(fs::path(site) / "tinydep" / "__init__.py")) << site;
  EXPECT_EQ(std::vector<std::string>(paths.end() - 3, paths.end()),
            (std::vector<std::string>{"/pp", (B / "python-files" / "file1").string(), "/sys"}));
  EXPECT_EQ(env.getenv("_PYTHON_REQUIREMENTS_INSTALL_DIR"), (B / "python-requirements").string());
  const std::string path = *env.getenv("PATH");
  EXPECT_NE(path.find((B / "python-requirements" / "bin").string()), std::string::npos) << path;
  EXPECT_EQ(path.substr(path.size() - std::string(":/usr/bin:/bin").size()), ":/usr/bin:/bin");

  // The installed package imports with the environment's python and PYTHONPATH.
  std::string command = "env -i PYTHONPATH='" + *env.getenv("PYTHONPATH") + "' " +
                        env.python_exec() + " -c 'import tinydep; print(tinydep.VALUE)'";
  FILE *pipe = ::popen(command.c_str(), "r");
  char out[64] = {};
  size_t n = std::fread(out, 1, sizeof out - 1, pipe);
  ::pclose(pipe);
  EXPECT_EQ(std::string(out, n), "7\n");
}

TEST_F(Requirements, PipFailureIsEpythonWithPipsWordsAndLeavesNothing) {
  write_file(T / "requirements.txt", "nosuchpackage==9.9\n");
  fs::create_directories(T / "empty-wheels");
  const auto before = job_files();
  auto manager = create("python.executable: /usr/bin/python3\npyenv.pip.attempts: 1\n"
                        "python.requirements: " + (T / "requirements.txt").string() + "#" +
                        (T / "empty-wheels").string() + "\n",
                        {"PATH=/usr/bin:/bin", "HOME=" + home_.path().string()});
  try {
    manager.open();
    FAIL() << "pip must fail";
  } catch (const pyenv::host::Error &e) {
    EXPECT_EQ(e.status(), PYENV_EPYTHON);
    EXPECT_NE(std::string(e.what()).find("nosuchpackage"), std::string::npos) << e.what();
  }
  EXPECT_EQ(job_files(), before);
}

}  // namespace
}  // namespace pyenv::test

namespace pyenv::test {
namespace {

// DESIGN.md 7.5: one job's slow pip install does not delay another job's open.
TEST_F(Requirements, SlowPipOfOneJobDoesNotBlockAnotherJob) {
  write_file(T / "slow-python", "#!/bin/sh\nsleep 3\nexit 1\n", 0755);
  write_file(T / "requirements.txt", "anything\n");
  auto slow = create("python.executable: " + (T / "slow-python").string() +
                     "\npyenv.pip.attempts: 1\npython.requirements: " +
                     (T / "requirements.txt").string() + "\n");
  auto fast = create("python.files: " + (T / "file1").string() + "#m.py\n");
  std::atomic<bool> slow_done{false};
  std::thread slow_thread([&] {
    try {
      slow.open();
    } catch (const pyenv::host::Error &) {
    }
    slow_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the slow job is in pip now
  auto start = std::chrono::steady_clock::now();
  fast.open();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_FALSE(slow_done) << "the slow job finished first; the test proves nothing";
  EXPECT_LT(seconds, 1.0);
  slow_thread.join();
}

}  // namespace
}  // namespace pyenv::test

namespace pyenv::test {
namespace {

// Issue 4: requirements installs are cached like archives; a second job with the same
// requirements, wheels and interpreter runs no pip at all.
TEST_F(Requirements, SecondJobWithTheSameRequirementsRunsNoPip) {
  write_wheel(T / "wheels", "tinydep", "1.0", "VALUE = 7\n");
  write_file(T / "requirements.txt", "tinydep==1.0\n");
  // The interpreter notes each pip run before doing it.
  write_file(T / "python", "#!/bin/sh\ncase \"$*\" in *'-m pip'*) echo pip >> " +
                               (T / "pip-runs").string() + ";; esac\nexec /usr/bin/python3 \"$@\"\n",
             0755);
  const std::string yaml = "python.executable: " + (T / "python").string() +
                           "\npython.requirements: " + (T / "requirements.txt").string() + "#" +
                           (T / "wheels").string() + "\n";
  const std::vector<std::string> env = {"PATH=/usr/bin:/bin", "HOME=" + home_.path().string()};
  auto first = create(yaml, env);
  first.open();
  EXPECT_EQ(read_file(T / "pip-runs"), "pip\n");
  auto second = create(yaml, env);  // another job
  second.open();
  EXPECT_EQ(read_file(T / "pip-runs"), "pip\n") << "the second job ran pip";
  const std::string site = second.create_environment().paths().front();
  EXPECT_TRUE(fs::exists(fs::path(site) / "tinydep" / "__init__.py")) << site;
  EXPECT_EQ(first.create_environment().paths().front().substr(site.size() - 40),
            site.substr(site.size() - 40));

  // A new wheel in the directory changes the key: pip runs again.
  write_wheel(T / "wheels", "otherdep", "2.0", "\n");
  auto third = create(yaml, env);
  third.open();
  EXPECT_EQ(read_file(T / "pip-runs"), "pip\npip\n");
}

}  // namespace
}  // namespace pyenv::test
