// The log an operator reads, through the host's callback: one info line with its timing for
// each phase of open (base directory, files, archives with cache hit or miss, pip, total),
// and never the value of an environment variable libpyenv does not manage (secrets), at any
// level, on success or failure.
#include <gtest/gtest.h>

#include <cstdlib>
#include <mutex>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

constexpr char kSecret[] = "s3cr3t-7Hq2ZxV";
constexpr char kPassword[] = "hunter2-s3cr3t";

// Every line the plugin logs, at every level.
class LogRecorder {
 public:
  std::function<void(int, const char *)> sink() {
    return [this](int level, const char *message) {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.emplace_back(level, message);
    };
  }
  std::vector<std::pair<int, std::string>> lines() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }
  std::string dump() const {
    std::string out;
    for (const auto &[level, text] : lines()) out += std::to_string(level) + " " + text + "\n";
    return out;
  }
  // The info lines matching `pattern`.
  std::vector<std::string> info(const std::string &pattern) const {
    std::vector<std::string> out;
    const std::regex re(pattern);
    for (const auto &[level, text] : lines()) {
      if (level == 1 && std::regex_search(text, re)) out.push_back(text);
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<int, std::string>> lines_;
};

// A duration as the log prints it.
const char kTiming[] = R"(\d+\.\d{3}s)";

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(tmp_ / "job" / "wordcount.py", "def count(r):\n    return len(r.split())\n");
    write_zip(tmp_ / "job" / "data.zip", {file_entry("lookup.csv", "a,1\n")});
    write_wheel(tmp_ / "job" / "wheels", "tinylog", "1.0", "VALUE = 1\n");
    write_file(tmp_ / "job" / "requirements.txt", "tinylog\n");
    fs::create_directories(tmp_ / "tmp");
  }

  // The operator's environment, holding secrets libpyenv must pass on but never print.
  static std::vector<std::string> system_env() {
    std::vector<std::string> env = {std::string("AWS_SECRET_ACCESS_KEY=") + kSecret,
                                    std::string("DB_URL=postgres://app:") + kPassword + "@db/x"};
    if (const char *path = std::getenv("PATH")) env.push_back(std::string("PATH=") + path);
    return env;
  }

  pyenv::host::Manager create(const std::string &yaml, LogRecorder &log) {
    pyenv::host::Options options;
    options.job_id = "log-test-" + std::to_string(++jobs_);
    options.tmp_dirs = {(tmp_ / "tmp").string()};
    options.config_yaml = yaml;
    options.system_env = system_env();
    options.log = log.sink();
    return plugin().create(options);
  }

  std::string job_yaml(const std::string &requirements = "requirements.txt") const {
    const fs::path job = tmp_ / "job";
    std::string yaml = "python:\n  executable: /usr/bin/python3\n";
    yaml += "  files: " + (job / "wordcount.py").string() + "\n";
    yaml += "  archives: " + (job / "data.zip").string() + "#data\n";
    yaml += "  requirements: " + (job / requirements).string() + "#" + (job / "wheels").string();
    yaml += "\n  systemenv.enabled: true\npyenv.pip.attempts: 1\n";
    return yaml;
  }

  static void expect_no_secret(const LogRecorder &log, const std::string &also = "") {
    for (const auto &[level, text] : log.lines()) {
      EXPECT_EQ(text.find(kSecret), std::string::npos) << "level " << level << ": " << text;
      EXPECT_EQ(text.find(kPassword), std::string::npos) << "level " << level << ": " << text;
    }
    EXPECT_EQ(also.find(kSecret), std::string::npos) << also;
    EXPECT_EQ(also.find(kPassword), std::string::npos) << also;
  }

  TempDir tmp_;
  int jobs_ = 0;
};

TEST_F(LogTest, SecretsFromTheEnvironmentAreNeverLogged) {
  LogRecorder log;
  pyenv::host::Manager manager = create(job_yaml(), log);
  manager.open();
  pyenv::host::Environment env = manager.create_environment();
  // Passed on to Python (systemenv is enabled), but not printed.
  EXPECT_EQ(env.getenv("AWS_SECRET_ACCESS_KEY"), std::optional<std::string>(kSecret));
  manager.close();
  ASSERT_FALSE(log.lines().empty());
  expect_no_secret(log);
}

TEST_F(LogTest, SecretsAreNeverLoggedWhenPipFails) {
  write_file(tmp_ / "job" / "missing.txt", "tinylog\nnot-in-the-wheel-dir==1.0\n");
  LogRecorder log;
  pyenv::host::Manager manager = create(job_yaml("missing.txt"), log);
  std::string error;
  try {
    manager.open();
  } catch (const pyenv::host::Error &e) {
    EXPECT_EQ(e.status(), PYENV_EPYTHON);
    error = e.what();
  }
  EXPECT_NE(error.find("not-in-the-wheel-dir"), std::string::npos) << error;
  expect_no_secret(log, error);
}

TEST_F(LogTest, OneInfoLineWithTimingPerPhase) {
  LogRecorder first;
  pyenv::host::Manager manager = create(job_yaml(), first);
  manager.open();
  manager.close();

  // The first open of these archives misses the cache and runs pip.
  EXPECT_EQ(first.info(std::string("base dir.*") + kTiming).size(), 1u) << first.dump();
  EXPECT_EQ(first.info(std::string("files.*") + kTiming).size(), 1u) << first.dump();
  EXPECT_EQ(first.info(std::string("^archive .*data\\.zip.*cache miss.*") + kTiming).size(), 1u)
      << first.dump();
  EXPECT_EQ(first.info(std::string("^requirements .*in ") + kTiming).size(), 1u) << first.dump();
  EXPECT_EQ(first.info(std::string("^prepared .* in ") + kTiming).size(), 1u) << first.dump();

  // Another job with the same archive and requirements: both come from the cache.
  LogRecorder second;
  pyenv::host::Manager again = create(job_yaml(), second);
  again.open();
  again.close();
  EXPECT_EQ(second.info(std::string("^archive .*data\\.zip.*cache hit.*") + kTiming).size(), 1u)
      << second.dump();
  EXPECT_EQ(second.info("^requirements .*cache hit").size(), 1u) << second.dump();
  EXPECT_TRUE(second.info("^pip: ").empty()) << second.dump();
}

}  // namespace
}  // namespace pyenv::test
