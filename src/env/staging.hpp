// What open() puts on disk for a job: the base directory with its python files, archives
// and requirements. Built once per job and configuration, shared by the job's managers.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/archive_cache.hpp"
#include "config/config.hpp"
#include "util/log.hpp"

namespace pyenv {

using SystemEnv = std::map<std::string, std::string>;

struct StagedJob {
  fs::path base_dir;                                 // <tmp>/python-dist-<uuid>
  std::vector<std::string> file_paths;               // PYTHONPATH entries of python.files, in order
  std::optional<fs::path> working_dir;               // python-archives/, when there are archives
  std::optional<fs::path> requirements_install_dir;  // set once pip has installed there
  std::vector<std::string> site_packages;            // of the requirements install, purelib first
  std::optional<fs::path> scripts_dir;               // where pip put console scripts
  // The cached trees python-archives/ links to, held in use for the job's lifetime.
  std::vector<cache::Lease> archive_leases;
  // <base_dir>/.pyenv-owner.lock, held (OFD lock, shared) for the job's lifetime: it tells
  // other processes' opens that the base directory is in use (see stage_job).
  UniqueFd owner_lock;
};

// The environment variables for Python of a (possibly partly) staged job: the system
// environment when enabled, PYTHONPATH in DESIGN.md order, and Flink's managed keys.
std::map<std::string, std::string> build_variables(const Config &config, const StagedJob &job,
                                                   const SystemEnv &system_env);

// The default cache directory in tmp dir `tmp`: <tmp>/pyenv-cache-<effective uid>.
fs::path default_cache_dir(const fs::path &tmp);

// The archive cache of `config`: pyenv.cache.dir, or the default in the first usable tmp
// dir. nullptr when the default one cannot be trusted (with a warning naming it, its owner
// and mode: archives are then extracted privately), unless `required`. Throws Error(kIo)
// for a configured pyenv.cache.dir that cannot be trusted (and, with `required`, for the
// default), naming it and what to do, and when no tmp dir can hold it.
std::unique_ptr<cache::ArchiveCache> open_cache(const Config &config,
                                                const std::vector<fs::path> &tmp_dirs,
                                                const Logger &log, bool required);

// A ':'-separated list's non-empty entries.
std::vector<std::string> split_path_list(const std::string &text);

// Creates the base directory in one of `tmp_dirs` and stages everything the configuration
// names. On failure removes all it created and throws.
//
// Base directories of dead processes. Each base directory holds a lock file that its
// process keeps locked while the job is open; the kernel drops the lock when the process
// dies, however it dies. Before creating its own, stage_job removes every python-dist-*
// directory in `tmp_dirs` whose lock file it can lock exclusively: its owner is gone. A
// directory without the lock file is never touched: Flink's own python-dist-* directories,
// those of older libpyenv versions, and one being created (its lock file is locked under
// another name and renamed into place, so it is never seen unlocked). Limits: a process
// killed between creating its directory and renaming the lock file into place leaves a
// directory nobody removes; a child fork()ed by the host keeps the lock (and the directory)
// until it exits.
StagedJob stage_job(const Config &config, const std::vector<fs::path> &tmp_dirs,
                    const SystemEnv &system_env, const Logger &log);

// Extracts the job's archives and installs its requirements into the cache, without staging
// a task (pyenv-host cache warm: a deployment prepares every machine before the job starts),
// so that a job opened afterwards finds everything there. Nothing is left outside the
// cache: with requirements, pip runs in a base directory that is removed when it is done.
// Throws Error(kConfig) when pyenv.cache.enabled is false, Error(kIo) when the cache cannot
// be trusted, and what open would throw for the archives and requirements.
void warm_job(const Config &config, const std::vector<fs::path> &tmp_dirs,
              const SystemEnv &system_env, const Logger &log);

}  // namespace pyenv
