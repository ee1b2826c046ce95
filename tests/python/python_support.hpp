// Helpers for the embedded interpreter's tests: environments on the machine's real Python.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "env/environment.hpp"
#include "env/manager.hpp"
#include "error.hpp"
#include "python/interpreter.hpp"
#include "support/fixture.hpp"
#include "util/log.hpp"

namespace pyenv::test {

// The machine's Python, as the examples name it.
inline Environment system_python(std::vector<std::string> paths = {}) {
  Environment env;
  env.python_exec = "/usr/bin/python3";
  env.paths = std::move(paths);
  return env;
}

// Keeps every log line, for tests that look at warnings.
struct LogLines {
  std::mutex mutex;
  std::vector<std::string> lines;
  Logger logger() {
    return Logger(
        [this](LogLevel, const std::string &line) {
          std::lock_guard<std::mutex> lock(mutex);
          lines.push_back(line);
        },
        nullptr);
  }
};

// A real EnvironmentManager on `tmp` with `yaml`, opened.
inline std::unique_ptr<EnvironmentManager> open_manager(const fs::path &tmp,
                                                        const std::string &yaml) {
  static int counter = 0;
  ManagerOptions options;
  options.job_id = "python-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  options.tmp_dirs = {tmp};
  options.config.text = yaml;
  options.config.working_dir = tmp;
  auto manager = std::make_unique<EnvironmentManager>(std::move(options));
  manager->open();
  return manager;
}

// Runs `body` and returns the Error it throws; fails the test when it throws nothing.
inline Error error_of(const std::function<void()> &body) {
  try {
    body();
  } catch (const Error &e) {
    return e;
  }
  ADD_FAILURE() << "no pyenv::Error thrown";
  return Error(Status::kError, "");
}

inline std::string text(const python::Buffer &buffer) { return std::string(buffer.view()); }

// Resident set size in bytes.
inline size_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace pyenv::test
