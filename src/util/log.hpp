// Where the core's log lines and progress reports go: the host's callbacks.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
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

// A logger that its owner can cut off: handed to what may outlive the owner's sink (a
// worker's output, logged from the plugin's own thread after the host closed the manager
// whose callback it went to). After detach() returns, the sink is never called again.
class LogRelay {
 public:
  explicit LogRelay(Logger sink) : sink_(std::move(sink)) {}
  // False once detached: the line was not delivered.
  bool log(LogLevel level, const std::string &message) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!attached_) return false;
    sink_.log(level, message);
    return true;
  }
  void detach() {
    std::lock_guard<std::mutex> lock(mutex_);
    attached_ = false;
  }
  // A Logger that logs through `relay`, or to `fallback` once it is detached.
  static Logger logger(std::shared_ptr<const LogRelay> relay, Logger fallback) {
    return Logger(
        [relay = std::move(relay), fallback = std::move(fallback)](LogLevel level,
                                                                  const std::string &m) {
          if (!relay->log(level, m)) fallback.log(level, m);
        },
        nullptr);
  }

 private:
  mutable std::mutex mutex_;
  Logger sink_;
  bool attached_ = true;
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
