// The job's configuration: Flink-compatible `python.*` keys and libpyenv's `pyenv.*` keys,
// parsed from YAML into typed options.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace pyenv {

namespace fs = std::filesystem;

// python.files entry: `path` or `path#originalName`.
struct PythonFile {
  std::string spec;           // as written, for messages
  fs::path path;              // resolved against the configuration's directory
  std::string original_name;  // the name it is staged under
};

// python.archives entry: `path` or `path#targetDir`.
struct PythonArchive {
  std::string spec;
  fs::path path;
  std::string target;  // one plain directory name under python-archives/
};

// python.requirements: `file` or `file#wheelCacheDir`.
struct Requirements {
  fs::path file;
  std::optional<fs::path> cache_dir;
};

// Where an executable that lives inside an archive's target directory is.
struct ExecutableInArchive {
  fs::path home;        // relative to the archives' working directory: the path up to `bin`
  fs::path executable;  // relative to the archives' working directory
};

enum class SymlinkPolicy { kPreserve, kWithin, kReject };

struct Config {
  std::string executable = "python";
  std::vector<PythonFile> files;
  std::vector<PythonArchive> archives;
  std::optional<Requirements> requirements;
  std::string pythonpath;
  std::string execution_mode = "thread";
  bool systemenv_enabled = true;

  bool cache_enabled = true;
  std::optional<fs::path> cache_dir;  // unset: <first tmp dir>/pyenv-cache
  uint64_t cache_max_bytes = 10ull << 30;
  uint64_t archive_max_bytes = 16ull << 30;
  uint64_t archive_max_entries = 1000000;
  SymlinkPolicy symlinks = SymlinkPolicy::kPreserve;
  unsigned extract_threads = 0;  // 0: number of cores
  std::chrono::milliseconds pip_timeout = std::chrono::minutes(10);
  unsigned pip_attempts = 3;
  std::optional<std::chrono::milliseconds> call_timeout;  // pyenv.process.call-timeout

  // Set when the executable's first path component is an archive's target directory.
  // Throws Error(kConfig) when it is, but has no `bin` directory on its way (X7).
  std::optional<ExecutableInArchive> executable_home_in_archives() const;

  // Everything that decides what open() puts on disk, as one string: managers of a job
  // share a base directory only when these are equal.
  std::string dependency_fingerprint() const;
};

// Where the YAML comes from. Relative paths in `file` are relative to its directory; in
// `text`, to `working_dir`.
struct ConfigSources {
  std::optional<fs::path> file;
  std::optional<std::string> text;
  fs::path working_dir;
};

// Parses and validates. Throws Error(kConfig) naming the key (and the closest known key
// when the key is unknown).
Config parse_config(const ConfigSources &sources);

// Every key the parser knows, sorted.
std::vector<std::string> known_config_keys();

// "10g" -> 10 GiB; "512" -> 512. Throws std::invalid_argument.
uint64_t parse_size(const std::string &text);
// "10min" -> 600000 ms; "250" -> 250 ms (Flink's default unit). Throws std::invalid_argument.
std::chrono::milliseconds parse_duration(const std::string &text);

}  // namespace pyenv
