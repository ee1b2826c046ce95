// Where the core's log lines and progress reports go: the host's callbacks.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace pyenv {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

class Logger {
 public:
  using Sink = std::function<void(LogLevel, const std::string &)>;
  using ProgressSink = std::function<void(const char *phase, uint64_t done, uint64_t total)>;

  Logger() = default;
  Logger(Sink sink, ProgressSink progress)
      : sink_(std::move(sink)), progress_(std::move(progress)) {}

  void log(LogLevel level, const std::string &message) const {
    if (sink_) sink_(level, message);
  }
  void debug(const std::string &m) const { log(LogLevel::kDebug, m); }
  void info(const std::string &m) const { log(LogLevel::kInfo, m); }
  void warn(const std::string &m) const { log(LogLevel::kWarn, m); }
  void error(const std::string &m) const { log(LogLevel::kError, m); }

  void progress(const char *phase, uint64_t done, uint64_t total) const {
    if (progress_) progress_(phase, done, total);
  }

 private:
  Sink sink_;
  ProgressSink progress_;
};

// Seconds since `start`, and the same as log text ("1.234s").
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
inline std::string format_seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3fs", seconds);
  return text;
}

}  // namespace pyenv
