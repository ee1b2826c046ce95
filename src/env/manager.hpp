// One task's environment manager: create -> open -> create_environment -> close.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "env/environment.hpp"
#include "env/job_registry.hpp"
#include "env/staging.hpp"
#include "util/log.hpp"

namespace pyenv {

struct ManagerOptions {
  std::string job_id;
  std::vector<fs::path> tmp_dirs;
  ConfigSources config;
  SystemEnv system_env;
  Logger log;
};

class EnvironmentManager {
 public:
  // Validates the options and parses the configuration; touches no disk.
  // Throws Error(kInvalid) for an empty job id or no tmp dirs, Error(kConfig) for the rest.
  explicit EnvironmentManager(ManagerOptions options);
  ~EnvironmentManager();
  EnvironmentManager(const EnvironmentManager &) = delete;
  EnvironmentManager &operator=(const EnvironmentManager &) = delete;

  // Stages the job, or joins the manager of the same job and configuration that did.
  // Throws Error(kState) when already open.
  void open();
  bool is_open() const { return lease_.job != nullptr; }

  // The environment variables for Python (available after open).
  const std::map<std::string, std::string> &variables() const;
  // Throws Error(kState) before open.
  Environment create_environment() const;
  // The base directory (empty before open).
  fs::path base_dir() const;

  // Releases the job; the last manager removes the base directory. Throws Error(kIo)
  // listing what could not be removed; the manager is closed either way.
  void close();

  const Config &config() const { return config_; }

  // The operators' commands on the calling user's cache, as this manager's configuration
  // and tmp dirs place it (DESIGN.md 5.5; env/cache_admin.hpp, warm_job in env/staging.hpp).
  // The manager need not be open; nothing of a task is staged.
  void warm_cache() const;
  std::string cache_list_json() const;
  std::string cache_prune_json(std::optional<uint64_t> max_bytes,
                               std::optional<std::chrono::milliseconds> older_than) const;
  std::string cache_remove_json(const std::string &key_prefix) const;

 private:
  ManagerOptions options_;
  Config config_;
  JobRegistry::Lease lease_;
  std::map<std::string, std::string> variables_;
  // The log of this manager's environments' workers; detached when the manager closes.
  std::shared_ptr<LogRelay> worker_log_;
};

}  // namespace pyenv
