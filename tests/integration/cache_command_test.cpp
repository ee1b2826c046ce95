// pyenv-host cache list|warm|prune|rm run as an operator runs them, against a real cache
// with an entry held by another process: a pyenv-host run that is still reading its input.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <regex>
#include <thread>

#include "helpers.hpp"
#include "support/fixture.hpp"

extern char **environ;

namespace pyenv::test {
namespace {

class CacheCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(T / "tmp");
    fs::create_directories(T / "jobs");
    write_zip(T / "jobs" / "a.zip", {file_entry("amod.py", "def f(b):\n    return b\n")});
    write_zip(T / "jobs" / "b.zip", {file_entry("bmod.py", "X = 2\n" + std::string(8192, '#'))});
    write_wheel(T / "jobs" / "wheels", "tinydep", "1.0", "VALUE = 1\n");
    write_file(T / "jobs" / "requirements.txt", "tinydep\n");
    // Job A: an archive and requirements; job B: another archive.
    write_file(T / "jobs" / "a.yaml",
               "python:\n  executable: /usr/bin/python3\n  archives: a.zip#a\n"
               "  pythonpath: a\n  requirements: requirements.txt#wheels\n"
               "pyenv.pip.attempts: 1\n");
    write_file(T / "jobs" / "b.yaml",
               "python:\n  executable: /usr/bin/python3\n  archives: b.zip#b\n");
  }

  void TearDown() override { stop_holder(); }

  Ran host(const std::string &args) {
    return run_host(args + " --tmp-dir " + (T / "tmp").string(), T);
  }

  std::string config(const std::string &job) const { return (T / "jobs" / job).string(); }

  // Starts `pyenv-host run` on job A, which holds its entries until its input ends, and
  // waits until it holds them.
  void start_holder() {
    int in[2];
    ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    const std::string tmp = (T / "tmp").string();
    const std::string cfg = config("a.yaml");
    const char *argv[] = {PYENV_HOST_PATH, "run",        "--config", cfg.c_str(), "--tmp-dir",
                          tmp.c_str(),     "--function", "amod:f",   nullptr};
    ASSERT_EQ(::posix_spawn(&holder_, PYENV_HOST_PATH, &actions, nullptr,
                            const_cast<char *const *>(argv), environ),
              0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    holder_input_ = in[1];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      Ran list = host("cache list --json");
      if (std::regex_search(list.out, std::regex("\"in_use\": 1.*\"in_use\": 1"))) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "the holder never held job A's two entries";
  }

  void stop_holder() {
    if (holder_input_ >= 0) ::close(holder_input_);
    holder_input_ = -1;
    if (holder_ > 0) {
      int status = 0;
      ::waitpid(holder_, &status, 0);
      holder_ = 0;
    }
  }

  // The keys of the cache's entries by their first source's file name.
  std::map<std::string, std::string> keys() {
    Ran list = host("cache list --json");
    EXPECT_EQ(list.status, 0) << list.err;
    std::map<std::string, std::string> out;
    const std::regex entry("\"key\": \"([0-9a-f]{64})\".*?\"sources\": \\[\"([^\"]*)\"");
    for (std::sregex_iterator it(list.out.begin(), list.out.end(), entry), end; it != end; ++it) {
      out[fs::path((*it)[2].str()).filename().string()] = (*it)[1].str();
    }
    return out;
  }

  TempDir tmp_;
  fs::path T = tmp_.path();
  pid_t holder_ = 0;
  int holder_input_ = -1;
};

TEST_F(CacheCommandTest, EachCommandHasItsHelp) {
  for (const std::string command : {"list", "warm", "prune", "rm"}) {
    Ran ran = host("cache " + command + " --help");
    EXPECT_EQ(ran.status, 0) << command;
    EXPECT_EQ(ran.out.rfind("usage: pyenv-host cache " + command, 0), 0u) << ran.out;
  }
  Ran ran = host("cache");
  EXPECT_EQ(ran.status, 2);
  EXPECT_NE(ran.err.find("list"), std::string::npos) << ran.err;
}

TEST_F(CacheCommandTest, WarmThenAJobReportsCacheHitsOnly) {
  Ran warm = host("cache warm --config " + config("a.yaml"));
  ASSERT_EQ(warm.status, 0) << warm.err;
  EXPECT_NE(warm.out.find("it holds 2 entries"), std::string::npos) << warm.out;
  EXPECT_TRUE(base_dirs_in(T / "tmp").empty()) << "warm left a base directory";

  Ran env = host("env --verbose --config " + config("a.yaml"));
  ASSERT_EQ(env.status, 0) << env.err;
  EXPECT_NE(env.err.find("a.zip -> a: cache hit"), std::string::npos) << env.err;
  EXPECT_NE(env.err.find("cache hit, no pip run"), std::string::npos) << env.err;
  EXPECT_EQ(env.err.find("miss"), std::string::npos) << env.err;
}

TEST_F(CacheCommandTest, ListShowsKindSizeSourcesAndWhoHoldsEachEntry) {
  ASSERT_EQ(host("cache warm --config " + config("b.yaml")).status, 0);
  start_holder();
  std::map<std::string, std::string> key = keys();
  ASSERT_EQ(key.size(), 3u);

  Ran json = host("cache list --json");
  const std::string a_entry = "{\"key\": \"" + key["a.zip"] + "\", \"kind\": \"archive\"";
  EXPECT_NE(json.out.find(a_entry), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"kind\": \"requirements\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find(config("requirements.txt")), std::string::npos) << json.out;

  Ran table = host("cache list");
  ASSERT_EQ(table.status, 0) << table.err;
  const std::regex header("^KEY +KIND +SIZE +LAST USE +IN USE +SOURCES\n");
  EXPECT_TRUE(std::regex_search(table.out, header)) << table.out;
  // Job A's two entries held by one process, B's by none.
  EXPECT_TRUE(std::regex_search(
      table.out, std::regex(key["a.zip"].substr(0, 12) + " +archive .* 1  .*a\\.zip\n")))
      << table.out;
  EXPECT_TRUE(std::regex_search(table.out, std::regex(" requirements .* 1  .*requirements\\.txt")))
      << table.out;
  EXPECT_TRUE(std::regex_search(
      table.out, std::regex(key["b.zip"].substr(0, 12) + " +archive .* -  .*b\\.zip\n")))
      << table.out;
  EXPECT_TRUE(std::regex_search(table.out, std::regex("\n3 entries, .*, 2 in use .*; cache " +
                                                      default_cache_dir(T / "tmp").string())))
      << table.out;
}

TEST_F(CacheCommandTest, PruneEvictsOnlyWhatNoProcessHolds) {
  ASSERT_EQ(host("cache warm --config " + config("b.yaml")).status, 0);
  start_holder();
  std::map<std::string, std::string> key = keys();

  Ran recent = host("cache prune --older-than 1h");
  ASSERT_EQ(recent.status, 0) << recent.err;
  EXPECT_NE(recent.out.find("freed 0 B in 0 entries"), std::string::npos) << recent.out;

  Ran pruned = host("cache prune --max-bytes 0");
  ASSERT_EQ(pruned.status, 0) << pruned.err;
  EXPECT_NE(pruned.out.find("removed " + key["b.zip"].substr(0, 12) + " (archive"),
            std::string::npos)
      << pruned.out;
  EXPECT_NE(pruned.out.find("kept " + key["a.zip"].substr(0, 12)), std::string::npos) << pruned.out;
  EXPECT_NE(pruned.out.find("in use by 1 process(es)"), std::string::npos) << pruned.out;
  EXPECT_EQ(keys().size(), 2u);

  // Once the job is gone, its entries go too.
  stop_holder();
  Ran json = host("cache prune --older-than 0ms --json");
  ASSERT_EQ(json.status, 0) << json.err;
  EXPECT_NE(json.out.find("\"in_use\": []"), std::string::npos) << json.out;
  EXPECT_TRUE(keys().empty());
}

TEST_F(CacheCommandTest, RmRefusesAnEntryInUseNamingItAndRemovesTheOthers) {
  ASSERT_EQ(host("cache warm --config " + config("b.yaml")).status, 0);
  start_holder();
  std::map<std::string, std::string> key = keys();

  Ran rm = host("cache rm " + key["a.zip"].substr(0, 8) + " " + key["b.zip"].substr(0, 8));
  EXPECT_EQ(rm.status, 1);
  EXPECT_NE(rm.err.find(key["a.zip"].substr(0, 12) + " (archive from " + config("a.zip") +
                        ") is in use (1 process"),
            std::string::npos)
      << rm.err;
  EXPECT_NE(rm.err.find("(status -6)"), std::string::npos) << rm.err;
  EXPECT_NE(rm.out.find("removed " + key["b.zip"].substr(0, 12)), std::string::npos) << rm.out;
  EXPECT_EQ(keys().count("b.zip"), 0u);
  EXPECT_EQ(keys().count("a.zip"), 1u);
}

TEST_F(CacheCommandTest, RmNamesAPrefixThatMatchesNothingOrIsNotHex) {
  ASSERT_EQ(host("cache warm --config " + config("b.yaml")).status, 0);
  const std::string absent = keys()["b.zip"][0] == '0' ? "1" : "0";
  Ran none = host("cache rm " + absent);
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.err.find("has a key starting with " + absent + " (it holds 1 entry)"),
            std::string::npos)
      << none.err;
  Ran bad = host("cache rm venv.zip");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("\"venv.zip\": expected 1 to 64 hex digits"), std::string::npos)
      << bad.err;
}

TEST_F(CacheCommandTest, AnUntrustedCacheDirIsRefusedNeverUsed) {
  const fs::path dir = T / "shared-cache";
  fs::create_directories(dir);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  for (const std::string command : {"list", "prune"}) {
    Ran ran = host("cache " + command + " --cache-dir " + dir.string());
    EXPECT_EQ(ran.status, 1) << command;
    EXPECT_NE(ran.err.find(dir.string() + " has mode 0777 (writable by group and others)"),
              std::string::npos)
        << ran.err;
    EXPECT_NE(ran.err.find("(status -4)"), std::string::npos) << ran.err;
  }
  EXPECT_TRUE(fs::is_empty(dir));
}

}  // namespace
}  // namespace pyenv::test
