// pip::install with a real interpreter and a real pip, offline: the wheels come from a
// directory the tests fill themselves.
#include "pip/pip.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "error.hpp"
#include "helpers.hpp"
#include "support/fixture.hpp"
#include "util/process.hpp"

namespace pyenv::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Debian's python, with its patched sysconfig and pip; `python3` on PATH may be a shim.
const char *const kSystemPython = "/usr/bin/python3";

bool has_pip(const std::string &python) {
  if (::access(python.c_str(), X_OK) != 0) return false;
  ProcessSpec spec;
  spec.argv = {python, "-m", "pip", "--version"};
  spec.env = {{"PATH", "/usr/bin:/bin"}, {"PIP_DISABLE_PIP_VERSION_CHECK", "1"}};
  spec.timeout = std::chrono::seconds(30);
  return run_process(spec).succeeded();
}

std::string join(const std::vector<std::string> &parts, const std::string &separator) {
  std::string out;
  for (const std::string &part : parts) out += (out.empty() ? "" : separator) + part;
  return out;
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

class PipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!has_pip(kSystemPython)) GTEST_SKIP() << kSystemPython << " with pip is not available";
    write_wheel(tmp_ / "wheels", "tinypkg", "1.0", "VALUE = 42\n");
    fs::create_directories(tmp_ / "home");
    write_file(tmp_ / "requirements.txt", "tinypkg==1.0\n");
  }

  // Only what the test chooses: the machine's PIP_FIND_LINKS and pip.conf stay out.
  std::map<std::string, std::string> env() const {
    return {{"PATH", "/usr/bin:/bin"},
            {"HOME", (tmp_ / "home").string()},
            {"PIP_CONFIG_FILE", "/dev/null"},
            {"PIP_DISABLE_PIP_VERSION_CHECK", "1"},
            {"PIP_NO_INPUT", "1"}};
  }

  pip::Request request(const std::string &python = kSystemPython) const {
    pip::Request r;
    r.requirements.file = tmp_ / "requirements.txt";
    r.requirements.cache_dir = tmp_ / "wheels";
    r.python = python;
    r.install_dir = tmp_ / "base/python-requirements";
    r.env = env();
    r.timeout = std::chrono::seconds(60);
    r.attempts = 1;
    return r;
  }

  // `python -c "import tinypkg; print(tinypkg.VALUE)"` with the site-packages on PYTHONPATH.
  std::vector<std::string> import_tinypkg(const std::string &python,
                                          const pip::Installed &installed) const {
    ProcessSpec spec;
    spec.argv = {python, "-c", "import tinypkg; print(tinypkg.VALUE)"};
    spec.env = env();
    spec.env["PYTHONPATH"] = join(installed.site_packages, ":");
    spec.timeout = std::chrono::seconds(30);
    return run_process(spec).last_lines;
  }

  // A stand-in for python: a shell script; `-c` (the site-packages query) goes to the
  // real python, so only the pip run is faked.
  std::string fake_python(const std::string &name, const std::string &pip_part) const {
    const fs::path path = tmp_ / "bin" / name;
    write_file(path,
               "#!/bin/sh\nif [ \"$1\" = \"-c\" ]; then exec " + std::string(kSystemPython) +
                   " \"$@\"; fi\n" + pip_part,
               0755);
    return path.string();
  }

  pip::Installed expect_installs(const pip::Request &r) {
    LogRecorder log;
    pip::Installed installed;
    try {
      installed = pip::install(r, log.logger());
    } catch (const Error &e) {
      ADD_FAILURE() << e.what() << "\nlog:\n" << log.dump();
      return installed;
    }
    EXPECT_EQ(installed.install_dir, r.install_dir);
    EXPECT_FALSE(installed.site_packages.empty());
    bool found = false;
    for (const std::string &dir : installed.site_packages) {
      EXPECT_FALSE(dir.empty());
      EXPECT_EQ(dir.rfind(r.install_dir.string() + "/", 0), 0u) << dir;
      found = found || fs::is_regular_file(fs::path(dir) / "tinypkg/__init__.py");
    }
    EXPECT_TRUE(found) << "tinypkg is not in " << join(installed.site_packages, ":");
    EXPECT_EQ(import_tinypkg(r.python, installed), std::vector<std::string>{"42"});
    // No warning: the interpreter's answer was right, not patched up by looking around.
    EXPECT_EQ(log.count(LogLevel::kWarn), 0u) << log.dump();
    EXPECT_FALSE(log.starting_with("pip: ").empty()) << log.dump();
    EXPECT_TRUE(contains(log.dump(), "pip: Successfully installed tinypkg-1.0")) << log.dump();
    return installed;
  }

  TempDir tmp_;
};

TEST_F(PipTest, InstallsWheelOfflineWithSystemPython) {
  pip::Request r = request();
  pip::Installed installed = expect_installs(r);
  EXPECT_EQ(installed.scripts_dir.string().rfind(r.install_dir.string() + "/", 0), 0u);
}

// Debian's package-build layout (deb_system) is picked by an environment variable, which
// the site-packages query must see as pip did.
TEST_F(PipTest, InstallsWheelOfflineWithDebianBuildLayout) {
  pip::Request r = request();
  r.env["DEB_PYTHON_INSTALL_LAYOUT"] = "deb";
  expect_installs(r);
}

// When an interpreter's answer and pip's behaviour disagree, what pip made is used.
TEST_F(PipTest, FallsBackToTheSitePackagesPipMade) {
  pip::Request r = request();
  const fs::path made = r.install_dir / "lib/odd/site-packages";
  const fs::path path = tmp_ / "bin/odd-python";
  write_file(path,
             "#!/bin/sh\nif [ \"$1\" = \"-c\" ]; then\n"
             "  echo \"pyenv-sysconfig purelib $3/nowhere\"\n"
             "  echo \"pyenv-sysconfig platlib $3/nowhere\"\n"
             "  echo \"pyenv-sysconfig scripts $3/bin\"\n"
             "  echo \"pyenv-sysconfig scheme odd\"\n  exit 0\nfi\n"
             "mkdir -p '" +
                 made.string() + "'\n",
             0755);
  r.python = path.string();
  LogRecorder log;
  pip::Installed installed = pip::install(r, log.logger());
  EXPECT_EQ(installed.site_packages, std::vector<std::string>{made.string()});
  EXPECT_EQ(log.count(LogLevel::kWarn), 1u) << log.dump();
}

TEST_F(PipTest, ReportsProgressPerAttempt) {
  LogRecorder log;
  pip::install(request(), log.logger());
  ASSERT_EQ(log.progress().size(), 1u);
  EXPECT_EQ(log.progress()[0].phase, "pip");
  EXPECT_EQ(log.progress()[0].done, 1u);
  EXPECT_EQ(log.progress()[0].total, 1u);
}

// A venv answers another sysconfig scheme ("venv", not Debian's "posix_local").
TEST_F(PipTest, InstallsWheelOfflineWithVenvPython) {
  ProcessSpec spec;
  spec.argv = {kSystemPython,           "-m", "venv", "--without-pip", "--system-site-packages",
               (tmp_ / "venv").string()};
  spec.env = env();
  spec.timeout = std::chrono::seconds(60);
  ProcessResult made = run_process(spec);
  if (!made.succeeded()) GTEST_SKIP() << "no venv module: " << join(made.last_lines, "\n");
  expect_installs(request((tmp_ / "venv/bin/python").string()));
}

// A CPython without distribution patches (pyenv's, when this machine has one).
TEST_F(PipTest, InstallsWheelOfflineWithPlainCPython) {
  std::string python;
  std::error_code ec;
  for (const auto &entry : fs::directory_iterator("/root/.pyenv/versions", ec)) {
    const fs::path candidate = entry.path() / "bin/python3";
    if (entry.path().filename().string().rfind("3.1", 0) == 0 && has_pip(candidate.string())) {
      python = candidate.string();
      break;
    }
  }
  if (python.empty()) GTEST_SKIP() << "no plain CPython 3.1x with pip here";
  expect_installs(request(python));
}

TEST_F(PipTest, MissingRequirementFailsAfterExactlyTheAttempts) {
  write_file(tmp_ / "requirements.txt", "nosuchpkg==9.9\n");
  pip::Request r = request();
  r.attempts = 2;
  LogRecorder log;
  try {
    pip::install(r, log.logger());
    FAIL() << "installed a package that does not exist";
  } catch (const Error &e) {
    const std::string message = e.what();
    EXPECT_EQ(e.status(), Status::kPython);
    EXPECT_TRUE(contains(message, (tmp_ / "requirements.txt").string())) << message;
    EXPECT_TRUE(contains(message, "after 2 attempts")) << message;
    EXPECT_TRUE(contains(message, "attempt 1: exit code 1; attempt 2: exit code 1")) << message;
    EXPECT_TRUE(contains(message, "No matching distribution found for nosuchpkg==9.9")) << message;
    // The message ends with pip's last line.
    const std::vector<std::string> pip_lines = log.starting_with("pip: ");
    ASSERT_FALSE(pip_lines.empty());
    const std::string last = pip_lines.back().substr(5);
    ASSERT_GE(message.size(), last.size());
    EXPECT_EQ(message.substr(message.size() - last.size()), last) << message;
  }
  EXPECT_EQ(log.starting_with("requirements: attempt 1/2: ").size(), 1u) << log.dump();
  EXPECT_EQ(log.starting_with("requirements: attempt 2/2: ").size(), 1u) << log.dump();
  EXPECT_EQ(log.starting_with("requirements: attempt ").size(), 3u) << log.dump();  // + warning
  EXPECT_EQ(log.count(LogLevel::kWarn), 1u) << log.dump();
  ASSERT_EQ(log.progress().size(), 2u);
  EXPECT_EQ(log.progress()[1].done, 2u);
  EXPECT_EQ(log.progress()[1].total, 2u);
}

TEST_F(PipTest, HangingPipIsKilledAtTheTimeout) {
  const fs::path pid_file = tmp_ / "child.pid";
  pip::Request r =
      request(fake_python("hanging-python", "sleep 300 &\necho $! > '" + pid_file.string() +
                                                "'\necho started\nsleep 300\n"));
  r.timeout = milliseconds(500);
  r.attempts = 1;
  LogRecorder log;
  auto start = Clock::now();
  try {
    pip::install(r, log.logger());
    FAIL() << "a hanging pip succeeded";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), Status::kPython);
    EXPECT_TRUE(contains(e.what(), "timed out after 0.5 s")) << e.what();
    EXPECT_TRUE(contains(e.what(), "after 1 attempt (")) << e.what();
    EXPECT_TRUE(contains(e.what(), "\nstarted")) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 5.0);
  std::ifstream in(pid_file);
  pid_t child = 0;
  ASSERT_TRUE(in >> child) << "the fake pip did not start its child";
  EXPECT_TRUE(wait_gone(child)) << "pip's child " << child << " still runs";
}

TEST_F(PipTest, CommandLineEnvironmentAndWorkingDirectory) {
  const std::string python = fake_python(
      "echo-python", "echo \"args: $*\"\necho \"cwd: $(pwd)\"\necho \"marker: $PYENV_MARKER\"\n");
  fs::create_directories(tmp_ / "work");
  pip::Request r = request(python);
  r.env["PYENV_MARKER"] = "from the map";
  r.working_dir = tmp_ / "work";
  const std::string base_args = "-m pip install --ignore-installed -r " +
                                (tmp_ / "requirements.txt").string() + " --prefix " +
                                r.install_dir.string();

  LogRecorder with_cache;
  pip::Installed installed = pip::install(r, with_cache.logger());
  EXPECT_TRUE(fs::is_directory(r.install_dir));
  EXPECT_FALSE(installed.site_packages.empty());
  const std::vector<std::string> expected = {
      "pip: args: " + base_args + " --no-index --find-links " + (tmp_ / "wheels").string(),
      "pip: cwd: " + fs::canonical(tmp_ / "work").string(), "pip: marker: from the map"};
  EXPECT_EQ(with_cache.starting_with("pip: "), expected) << with_cache.dump();

  r.requirements.cache_dir.reset();
  LogRecorder without_cache;
  pip::install(r, without_cache.logger());
  ASSERT_FALSE(without_cache.starting_with("pip: args: ").empty());
  EXPECT_EQ(without_cache.starting_with("pip: args: ")[0], "pip: args: " + base_args);
}

TEST_F(PipTest, SecondAttemptSucceeds) {
  const fs::path counter = tmp_ / "attempts";
  const std::string python = fake_python(
      "flaky-python", "if [ -e '" + counter.string() + "' ]; then echo recovered; exit 0; fi\n" +
                          "touch '" + counter.string() + "'\necho 'network down' >&2\nexit 2\n");
  pip::Request r = request(python);
  r.attempts = 3;
  LogRecorder log;
  pip::Installed installed = pip::install(r, log.logger());
  EXPECT_FALSE(installed.site_packages.empty());
  EXPECT_EQ(log.count(LogLevel::kWarn), 1u) << log.dump();
  EXPECT_TRUE(contains(log.dump(), "attempt 1/3 failed (exit code 2), retrying")) << log.dump();
  EXPECT_EQ(log.starting_with("pip: "),
            (std::vector<std::string>{"pip: network down", "pip: recovered"}));
  ASSERT_EQ(log.progress().size(), 3u);  // attempt 1, attempt 2, then done
  EXPECT_EQ(log.progress()[2].done, 3u);
}

TEST_F(PipTest, PipKilledBySignal) {
  pip::Request r = request(fake_python("killed-python", "echo dying\nkill -KILL $$\n"));
  try {
    pip::install(r, LogRecorder().logger());
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), Status::kPython);
    EXPECT_TRUE(contains(e.what(), "killed by signal 9")) << e.what();
    EXPECT_TRUE(contains(e.what(), "\ndying")) << e.what();
  }
}

void expect_error(const pip::Request &r, Status status, const std::string &part) {
  try {
    pip::install(r, Logger());
    ADD_FAILURE() << "no error, expected one containing " << part;
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), status) << e.what();
    EXPECT_TRUE(contains(e.what(), part)) << e.what();
  }
}

TEST_F(PipTest, BadRequests) {
  pip::Request r = request("python3.99");
  expect_error(r, Status::kPython, "python3.99: not found on PATH");

  r = request();
  r.requirements.file = tmp_ / "missing.txt";
  expect_error(r, Status::kConfig, "missing.txt");

  r = request();
  r.requirements.cache_dir = tmp_ / "no-wheels";
  expect_error(r, Status::kConfig, "no-wheels");

  r = request();
  r.attempts = 0;
  expect_error(r, Status::kInvalid, "attempts");
}

}  // namespace
}  // namespace pyenv::test
