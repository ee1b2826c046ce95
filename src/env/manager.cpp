#include "env/manager.hpp"

#include "env/cache_admin.hpp"
#include "error.hpp"

namespace pyenv {

EnvironmentManager::EnvironmentManager(ManagerOptions options) : options_(std::move(options)) {
  if (options_.job_id.empty()) fail(Status::kInvalid, "job_id: must not be empty");
  if (options_.tmp_dirs.empty()) fail(Status::kInvalid, "tmp_dirs: at least one is required");
  for (size_t i = 0; i < options_.tmp_dirs.size(); ++i) {
    if (options_.tmp_dirs[i].empty()) {
      fail(Status::kInvalid, "tmp_dirs[" + std::to_string(i) + "]: must not be empty");
    }
    options_.tmp_dirs[i] = fs::absolute(options_.tmp_dirs[i]).lexically_normal();
  }
  config_ = parse_config(options_.config);
  worker_log_ = std::make_shared<LogRelay>(options_.log);
}

EnvironmentManager::~EnvironmentManager() {
  worker_log_->detach();
  try {
    close();
  } catch (const std::exception &e) {
    options_.log.warn(e.what());
  }
}

void EnvironmentManager::open() {
  if (is_open())
    fail(Status::kState, "open: the manager of job " + options_.job_id + " is already open");
  const std::string key = options_.job_id + '\0' + config_.dependency_fingerprint();
  lease_ = JobRegistry::instance().acquire(key, [&] {
    return stage_job(config_, options_.tmp_dirs, options_.system_env, options_.log);
  });
  variables_ = build_variables(config_, *lease_.job, options_.system_env);
}

const std::map<std::string, std::string> &EnvironmentManager::variables() const {
  if (!is_open()) fail(Status::kState, "the manager of job " + options_.job_id + " is not open");
  return variables_;
}

Environment EnvironmentManager::create_environment() const {
  if (!is_open()) {
    fail(Status::kState, "create_environment: call open first (job " + options_.job_id + ")");
  }
  const StagedJob &job = *lease_.job;
  Environment env;
  if (config_.execution_mode == "process") env.exec_type = "PROCESS";
  env.call_timeout = config_.call_timeout;
  env.log = worker_log_;
  env.python_exec = config_.executable;
  if (job.working_dir) {
    env.working_directory = job.working_dir->string();
    if (auto in_archive = config_.executable_home_in_archives()) {
      env.python_home = (*job.working_dir / in_archive->home).string();
      env.python_exec = (*job.working_dir / in_archive->executable).string();
    }
  }
  if (auto it = variables_.find("PYTHONPATH"); it != variables_.end()) {
    env.paths = split_path_list(it->second);
  }
  env.variables = variables_;
  return env;
}

fs::path EnvironmentManager::base_dir() const {
  return is_open() ? lease_.job->base_dir : fs::path();
}

void EnvironmentManager::close() {
  if (!is_open()) return;
  variables_.clear();
  std::vector<std::string> failures = JobRegistry::instance().release(lease_);
  if (!failures.empty()) {
    std::string message = "close: could not remove all of the base directory:";
    for (const std::string &f : failures) message += "\n  " + f;
    fail(Status::kIo, message);
  }
}

void EnvironmentManager::warm_cache() const {
  warm_job(config_, options_.tmp_dirs, options_.system_env, options_.log);
}

std::string EnvironmentManager::cache_list_json() const {
  return pyenv::cache_list_json(config_, options_.tmp_dirs, options_.log);
}

std::string EnvironmentManager::cache_prune_json(
    std::optional<uint64_t> max_bytes, std::optional<std::chrono::milliseconds> older_than) const {
  return pyenv::cache_prune_json(config_, options_.tmp_dirs, max_bytes, older_than, options_.log);
}

std::string EnvironmentManager::cache_remove_json(const std::string &key_prefix) const {
  return pyenv::cache_remove_json(config_, options_.tmp_dirs, key_prefix, options_.log);
}

}  // namespace pyenv
