// python.requirements: installs a job's requirements with the job's own interpreter and
// pip, into a private prefix under the job's base directory.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "util/log.hpp"

namespace pyenv::pip {

struct Request {
  Requirements requirements;  // from config: file and optional wheel cache dir
  // The interpreter to run pip with: absolute, relative to working_dir when it holds a '/',
  // or looked up on env's PATH.
  std::string python;
  std::filesystem::path install_dir;       // <base>/python-requirements, the --prefix (created)
  std::map<std::string, std::string> env;  // the environment pip runs with
  std::optional<std::filesystem::path> working_dir;             // pip runs there when set
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};  // per attempt
  unsigned attempts = 3;                                        // >= 1
};

struct Installed {
  std::filesystem::path install_dir;
  // Where the packages went, as the interpreter computes them for the prefix: purelib,
  // then platlib when it differs. Never empty strings.
  std::vector<std::string> site_packages;
  // Where console scripts went. Not always <install_dir>/bin: Debian's python puts them
  // in <install_dir>/local/bin.
  std::filesystem::path scripts_dir;
};

// Runs `<python> -m pip install --ignore-installed -r <file> --prefix <install dir>`, plus
// `--no-index --find-links <cache dir>` with a cache dir, up to `attempts` times, each
// bounded by `timeout` (pip and everything it started are killed then). Every output line
// is logged at info as "pip: <line>"; progress is reported as ("pip", attempt, attempts).
//
// Throws Error(kPython) when every attempt failed (the message names the requirements
// file, each attempt's outcome, and ends with pip's last lines), when the interpreter
// cannot be started, or when it cannot tell its site-packages; Error(kConfig) when the
// requirements file or cache dir does not exist; Error(kIo) when the install dir cannot be
// created; Error(kInvalid) for zero attempts.
Installed install(const Request &request, const Logger &log);

}  // namespace pyenv::pip
