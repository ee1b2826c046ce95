// Start-up that goes wrong, on a fake libpython (fake/fake_libpython.cpp) that misbehaves
// as FAKE_LIBPYTHON says: libpyenv refuses with Error(kPython) naming what it found, never
// crashes and never exits; the process then refuses to start another CPython. Each test
// in a process of its own.
#include "python/own_process.hpp"
#include "python/python_support.hpp"

namespace pyenv::test {
namespace {

using python::Interpreter;

// A home of "Python 3.12" whose libpython is the fake.
Environment fake_home(const fs::path &home) {
  write_file(home / "lib" / "python3.12" / "os.py", "");
  fs::copy_file(PYENV_FAKE_LIBPYTHON, home / "lib" / "libpython3.12.so.1.0");
  write_file(home / "bin" / "python3", "#!/bin/sh\nexit 1\n", 0755);
  Environment env;
  env.python_exec = (home / "bin" / "python3").string();
  env.python_home = home.string();
  return env;
}

void expect_refused(const char *mode, const std::string &expected) {
  ::setenv("FAKE_LIBPYTHON", mode, 1);
  TempDir tmp;
  const Environment env = fake_home(tmp / "home");
  Error e = error_of([&] { Interpreter::open(env, Logger()); });
  EXPECT_EQ(e.status(), Status::kPython);
  EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  e = error_of([&] { Interpreter::open(env, Logger()); });
  EXPECT_NE(std::string(e.what()).find("cannot be started again"), std::string::npos) << e.what();
  EXPECT_FALSE(Interpreter::running());
}

TEST(Startup, APreConfigOfAnotherSizeIsRefused) {
  if (!in_own_process()) return;
  expect_refused("preconfig-grown", "its PyPreConfig is not laid out as in CPython 3.8 to 3.14");
}

TEST(Startup, APreConfigWithOtherIsolatedValuesIsRefused) {
  if (!in_own_process()) return;
  expect_refused("preconfig-values", "its PyPreConfig is not laid out as in CPython 3.8 to 3.14");
}

TEST(Startup, APyConfigLargerThanTheBufferIsRefused) {
  if (!in_own_process()) return;
  expect_refused("config-overrun", "PyConfig_InitIsolatedConfig did not fill a PyConfig");
}

TEST(Startup, AnErrorStatusIsAnErrorNotAnExit) {
  if (!in_own_process()) return;
  expect_refused("init-error", "starting CPython failed: fake_init: the fake cannot start");
}

TEST(Startup, AnExitStatusIsAnErrorNotAnExit) {
  if (!in_own_process()) return;
  expect_refused("init-exit", "starting CPython failed: CPython asked to exit with code 7");
}

}  // namespace
}  // namespace pyenv::test
