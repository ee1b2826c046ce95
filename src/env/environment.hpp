// The product of create_environment: interpreter configuration and variables, as a value.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/log.hpp"

namespace pyenv {

struct Environment {
  // "MULTI_THREAD" (python.execution-mode: thread, embedded) or "PROCESS" (a worker
  // process per interpreter handle).
  std::string exec_type = "MULTI_THREAD";
  std::string python_exec;
  std::optional<std::string> python_home;
  std::optional<std::string> working_directory;
  std::vector<std::string> paths;                // PYTHONPATH, in order
  std::map<std::string, std::string> variables;  // sorted by key

  // Process mode: a call running longer kills its worker (pyenv.process.call-timeout).
  std::optional<std::chrono::milliseconds> call_timeout;
  // Process mode: where the workers' output goes (the manager's log until it closes).
  std::shared_ptr<LogRelay> log;

  bool process_mode() const { return exec_type == "PROCESS"; }

  // {"exec_type", "python_exec", "python_home", "working_directory", "paths", "env"}
  std::string to_json() const;
};

// `text` as a JSON string literal, quotes included. Invalid UTF-8 becomes U+FFFD, so the
// result is always valid JSON whatever bytes come in.
std::string json_string(const std::string &text);

}  // namespace pyenv
