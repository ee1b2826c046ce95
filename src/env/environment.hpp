// The product of create_environment: interpreter configuration and variables, as a value.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pyenv {

struct Environment {
  std::string exec_type = "MULTI_THREAD";
  std::string python_exec;
  std::optional<std::string> python_home;
  std::optional<std::string> working_directory;
  std::vector<std::string> paths;                // PYTHONPATH, in order
  std::map<std::string, std::string> variables;  // sorted by key

  // {"exec_type", "python_exec", "python_home", "working_directory", "paths", "env"}
  std::string to_json() const;
};

// `text` as a JSON string literal, quotes included. Invalid UTF-8 becomes U+FFFD, so the
// result is always valid JSON whatever bytes come in.
std::string json_string(const std::string &text);

}  // namespace pyenv
