// Crash recovery: a host process (pyenv_crash_child) is killed with SIGKILL during
// extraction, during pip, and while it holds an environment. The next process's open of the
// same job (same archive, cache and tmp dir; this test process) must succeed and remove
// what the dead one left: its base directory (python-dist-*) and its staging in the cache.
// The children are synchronised through their output and the files they write, never by
// sleeping.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "support.hpp"

namespace pyenv::test::reliability {
namespace {

using pyenv::host::Manager;
using std::chrono::seconds;

class CrashRecovery : public ::testing::Test {
 protected:
  void SetUp() override {
    in_ = tmp_ / "in";
    T = tmp_ / "tmp";
    cache_ = test::default_cache_dir(T);
    fs::create_directories(in_);
    fs::create_directories(T);
  }

  // A host process that opens `yaml` as job "crash-job" on T, then holds it (or closes).
  std::unique_ptr<Child> start(const std::string &yaml, const std::string &mode = "hold") {
    static int n = 0;
    const fs::path file = in_ / ("job" + std::to_string(++n) + ".yaml");
    write_file(file, yaml);
    return std::make_unique<Child>(
        std::vector<std::string>{crash_child_path(), T.string(), "crash-job", file.string(), mode});
  }

  static void kill_hard(Child &child) {
    child.kill(SIGKILL);
    const int status = child.wait();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the child was not killed but ended with status " << status;
  }

  // The next process's open of `yaml`: it works, and what dead processes left is gone.
  void expect_recovery(const std::string &yaml, const std::vector<fs::path> &stale) {
    Manager manager = plugin().create(options_for("crash-job", {T}, yaml, &log_));
    const Outcome opened = outcome_of([&] { manager.open(); });
    ASSERT_TRUE(opened.ok()) << opened << "\n" << log_.dump();
    for (const fs::path &dir : stale) {
      EXPECT_FALSE(fs::exists(dir)) << "base directory of a dead process left: " << dir;
    }
    EXPECT_EQ(log_.count("of a process that is gone"), stale.size()) << log_.dump();
    EXPECT_EQ(base_dirs_in(T).size(), 1u) << "only the open manager's base directory";
    EXPECT_EQ(cache_problems(cache_), std::vector<std::string>{});
    verify_open_(manager);
    manager.close();
    EXPECT_TRUE(base_dirs_in(T).empty());
  }

  TempDir tmp_;
  fs::path in_;
  fs::path T;
  fs::path cache_;
  LogLines log_;
  std::function<void(Manager &)> verify_open_ = [](Manager &) {};
};

// --- killed during extraction -------------------------------------------------------------

class KilledDuringExtraction : public CrashRecovery, public ::testing::WithParamInterface<bool> {};

TEST_P(KilledDuringExtraction, NextOpenSucceedsAndRemovesWhatWasLeft) {
  const bool cached = GetParam();
  const fs::path archive = in_ / "venv.tar.gz";
  write_tar(archive, many_files(1500, 2048));
  const std::string yaml = "python.archives: " + archive.string() + "#venv\n" +
                           (cached ? "" : "pyenv.cache.enabled: false\n");

  auto child = start(yaml);
  // 30% in: killed with its staging partly written.
  ASSERT_TRUE(wait_for([&] { return extraction_reached(T, "d011/f00450.txt"); }, seconds(60)))
      << "the extraction never got there";
  kill_hard(*child);
  const std::vector<fs::path> stale = base_dirs_in(T);
  ASSERT_EQ(stale.size(), 1u) << "the dead process's base directory";
  ASSERT_EQ(names_in(cache_ / "trees"), std::vector<std::string>{})
      << "the extraction finished before the kill: make the archive bigger";
  ASSERT_FALSE(fs::exists(stale[0] / "python-archives" / "venv"))
      << "the extraction finished before the kill: make the archive bigger";
  if (cached) {
    ASSERT_FALSE(names_in(cache_ / "staging").empty()) << "the dead process's staging";
  }

  verify_open_ = [&](Manager &manager) {
    const auto venv = manager.create_environment().working_directory().value_or("");
    size_t files = 0;
    for (const auto &entry : fs::recursive_directory_iterator(fs::path(venv) / "venv")) {
      files += entry.is_regular_file();
    }
    EXPECT_EQ(files, 1500u);
  };
  expect_recovery(yaml, stale);
  if (cached) {
    EXPECT_EQ(log_.count("removing stale staging"), 1u) << log_.dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Cache, KilledDuringExtraction, ::testing::Values(true, false),
                         [](const auto &info) { return info.param ? "Cached" : "Private"; });

// --- killed during pip --------------------------------------------------------------------

class KilledDuringPip : public CrashRecovery {
 protected:
  void SetUp() override {
    CrashRecovery::SetUp();
    if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
    // Orphans of the killed host come to us rather than to PID 1, so that they can be seen
    // and reaped here.
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    hang_ = in_ / "hang";
    pids_ = in_ / "pids";
    write_file(hang_, "");
    const fs::path python = write_hanging_python(in_, hang_, pids_);
    write_wheel(in_ / "wheels", "tinycrash", "1.0", "VALUE = 3\n");
    write_file(in_ / "requirements.txt", "tinycrash==1.0\n");
    yaml_ = "python.executable: " + python.string() + "\n" +
            "python.requirements: " + (in_ / "requirements.txt").string() + "#" +
            (in_ / "wheels").string() + "\n";
  }

  void TearDown() override {
    // Whatever the outcome, nothing the test started outlives it.
    if (auto pids = read_pids(pids_)) {
      for (pid_t pid : {pids->first, pids->second}) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
  }

  // Starts the host and waits until pip runs (the stand-in wrote its pids).
  std::pair<pid_t, pid_t> host_in_pip(std::unique_ptr<Child> &child) {
    child = start(yaml_);
    std::optional<std::pair<pid_t, pid_t>> pids;
    EXPECT_TRUE(wait_for([&] { return (pids = read_pids(pids_)).has_value(); }, seconds(60)))
        << "pip never started";
    return pids.value_or(std::make_pair(pid_t{-1}, pid_t{-1}));
  }

  fs::path hang_;
  fs::path pids_;
  std::string yaml_;
};

TEST_F(KilledDuringPip, NextOpenSucceedsAndRemovesWhatWasLeft) {
  std::unique_ptr<Child> child;
  const auto pip = host_in_pip(child);
  ASSERT_GT(pip.first, 0);
  kill_hard(*child);
  const std::vector<fs::path> stale = base_dirs_in(T);
  ASSERT_EQ(stale.size(), 1u) << "the dead process's base directory";
  ASSERT_FALSE(names_in(cache_ / "staging").empty()) << "the dead process's pip staging";

  // pip died with its host (PipDiesWithItsHost); its silent grandchild did not.
  EXPECT_TRUE(wait_for([&] { return process_gone(pip.first); }, seconds(3)));
  ::kill(pip.second, SIGKILL);
  ::waitpid(pip.second, nullptr, 0);
  fs::remove(hang_);
  verify_open_ = [&](Manager &manager) {
    const std::string path = manager.create_environment().getenv("PYTHONPATH").value_or("");
    EXPECT_TRUE(fs::exists(fs::path(path.substr(0, path.find(':'))) / "tinycrash")) << path;
  };
  expect_recovery(yaml_, stale);
}

// The host's pip dies with it (PR_SET_PDEATHSIG): it does not run on, hung, writing into a
// staging directory the next open removes. The stand-in's silent grandchild (a build step)
// is not covered: it is killed only by the timeout of a live host (see process.hpp).
TEST_F(KilledDuringPip, PipDiesWithItsHost) {
  std::unique_ptr<Child> child;
  const auto pip = host_in_pip(child);
  ASSERT_GT(pip.first, 0);
  kill_hard(*child);
  EXPECT_TRUE(wait_for([&] { return process_gone(pip.first); }, seconds(3)))
      << "pip " << pip.first << " outlived its host";
}

// --- killed while holding an environment ---------------------------------------------------

TEST_F(CrashRecovery, KilledWhileHoldingNextOpenSucceedsAndRemovesItsBaseDir) {
  write_zip(in_ / "venv.zip", many_files(50, 100));
  const std::string yaml = "python.archives: " + (in_ / "venv.zip").string() + "#venv\n";
  auto child = start(yaml);
  const auto opened = child->read_until("opened ", seconds(60));
  ASSERT_TRUE(opened) << "the child did not open";
  ASSERT_TRUE(child->read_until("holding", seconds(10)));
  const fs::path base = opened->substr(7);
  kill_hard(*child);
  ASSERT_TRUE(fs::exists(base));

  expect_recovery(yaml, {base});

  // The dead process's use of the cached tree died with it: the tree can be evicted.
  write_zip(in_ / "other.zip", many_files(10, 100, 2));
  Manager other = plugin().create(options_for("crash-job-2", {T},
                                              "python.archives: " + (in_ / "other.zip").string() +
                                                  "#other\n" + "pyenv.cache.max-bytes: 1\n",
                                              &log_));
  ASSERT_TRUE(outcome_of([&] { other.open(); }).ok());
  EXPECT_EQ(log_.count("archive cache: evicted"), 1u) << log_.dump();
  other.close();
}

// Sweeping must only ever take what is dead: another live process's base directory, one of
// this process's own, and one libpyenv did not make (Flink's own python-dist-*) all stay.
TEST_F(CrashRecovery, SweepKeepsLiveAndForeignBaseDirs) {
  write_file(in_ / "m.py", "M = 1\n");
  const std::string yaml = "python.files: " + (in_ / "m.py").string() + "\n";
  auto live = start(yaml);
  auto dead = start(yaml);
  const auto live_opened = live->read_until("opened ", seconds(60));
  const auto dead_opened = dead->read_until("opened ", seconds(60));
  ASSERT_TRUE(live_opened && dead_opened);
  ASSERT_TRUE(live->read_until("holding", seconds(10)) && dead->read_until("holding", seconds(10)));
  const fs::path live_base = live_opened->substr(7);
  const fs::path dead_base = dead_opened->substr(7);
  kill_hard(*dead);
  const fs::path foreign = T / "python-dist-0b1c2d3e-not-libpyenv";
  write_file(foreign / "python-files" / "x.py", "");

  Manager own = plugin().create(options_for("own-job", {T}, yaml, &log_));
  ASSERT_TRUE(outcome_of([&] { own.open(); }).ok());
  Manager next = plugin().create(options_for("next-job", {T}, yaml, &log_));
  ASSERT_TRUE(outcome_of([&] { next.open(); }).ok());
  EXPECT_FALSE(fs::exists(dead_base)) << "the dead process's base directory stayed";
  EXPECT_TRUE(fs::exists(live_base / "python-files")) << "a live process's base directory went";
  EXPECT_TRUE(fs::exists(foreign / "python-files" / "x.py")) << "a foreign directory went";
  EXPECT_EQ(base_dirs_in(T).size(), 4u);  // live, own, next, foreign
  next.close();
  own.close();

  // The live process ends normally and removes its own.
  live->close_input();
  EXPECT_EQ(live->wait(), 0);
  EXPECT_EQ(base_dirs_in(T), std::vector<fs::path>{foreign});
}

// Process mode: a host killed with SIGKILL in the middle of a call takes its worker with it
// (PR_SET_PDEATHSIG from the plugin's supervisor thread). This test process is made the
// subreaper, so the orphaned worker becomes its child and its end can be read exactly.
TEST_F(CrashRecovery, AHostKilledMidCallTakesItsWorkerWithIt) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  auto host = start("python.execution-mode: process\npython.executable: /usr/bin/python3\n",
                    "worker");
  const auto worker = host->read_until("worker ", seconds(60));
  ASSERT_TRUE(worker) << "the host did not start its worker";
  const pid_t pid = static_cast<pid_t>(std::stol(worker->substr(7)));
  ASSERT_TRUE(host->read_until("holding", seconds(10)));
  kill_hard(*host);
  int status = 0;
  pid_t reaped = 0;
  for (int i = 0; i < 500 && reaped == 0; ++i) {
    reaped = ::waitpid(pid, &status, WNOHANG);
    if (reaped == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(reaped, pid) << "the worker outlived its host by 5 s";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "wait status " << status;
}

}  // namespace
}  // namespace pyenv::test::reliability
