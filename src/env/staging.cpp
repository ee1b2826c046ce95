#include "env/staging.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <random>
#include <set>

#include "archive/extract.hpp"
#include "error.hpp"
#include "util/fs.hpp"

namespace pyenv {
namespace {

bool ends_with(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", s);
  return buf;
}

// A path the configuration names must exist when open() runs (C9: PYENV_ECONFIG).
void require_exists(const std::string &key, const std::string &spec, const fs::path &path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    fail(errno == ENOENT || errno == ENOTDIR ? Status::kConfig : Status::kIo,
         errno_message(key + ": \"" + spec + "\": " + path.string(), errno));
  }
}

archive::Limits limits_of(const Config &config) {
  return archive::Limits{config.archive_max_bytes, config.archive_max_entries, config.symlinks,
                         config.extract_threads};
}

fs::path make_base_dir(const std::vector<fs::path> &tmp_dirs) {
  // Spread jobs over the host's tmp dirs as Flink does, falling back to the others.
  std::random_device seed;
  size_t first = std::uniform_int_distribution<size_t>(0, tmp_dirs.size() - 1)(seed);
  std::string reasons;
  for (size_t i = 0; i < tmp_dirs.size(); ++i) {
    fs::path dir = tmp_dirs[(first + i) % tmp_dirs.size()] / ("python-dist-" + fsx::random_uuid());
    try {
      fsx::make_directory(dir);
      return dir;
    } catch (const Error &e) {
      reasons += std::string(reasons.empty() ? "" : "; ") + e.what();
    }
  }
  fail(Status::kIo, "no usable tmp dir for the base directory: " + reasons);
}

void stage_files(const Config &config, StagedJob &job, const Logger &log) {
  const fs::path files_dir = job.base_dir / "python-files";
  fsx::make_directory(files_dir);
  std::set<std::string> used;
  uint64_t done = 0;
  for (const PythonFile &file : config.files) {
    require_exists("python.files", file.spec, file.path);
    // Entries sharing a file name are staged side by side (the reference failed).
    std::string name = file.path.filename().string();
    for (int n = 1; !used.insert(name).second; ++n) {
      name = file.path.filename().string() + "-" + std::to_string(n);
    }
    const fs::path dir = files_dir / name;
    fsx::make_directory(dir);
    if (ends_with(file.original_name, ".zip") && fs::is_regular_file(file.path)) {
      fs::path target = dir / file.original_name.substr(0, file.original_name.size() - 4);
      archive::extract(file.path, target, limits_of(config), log);
      job.file_paths.push_back(target.string());
    } else {
      fsx::link_or_copy(file.path, dir / file.original_name);
      job.file_paths.push_back(ends_with(file.original_name, ".py")
                                   ? dir.string()
                                   : (dir / file.original_name).string());
    }
    log.progress("files", ++done, config.files.size());
  }
}

void stage_archives(const Config &config, StagedJob &job, const Logger &log) {
  const fs::path working_dir = job.base_dir / "python-archives";
  fsx::make_directory(working_dir);
  job.working_dir = working_dir;
  uint64_t done = 0;
  for (const PythonArchive &a : config.archives) {
    require_exists("python.archives", a.spec, a.path);
    auto start = std::chrono::steady_clock::now();
    archive::Stats stats = archive::extract(a.path, working_dir / a.target, limits_of(config), log);
    log.info("archive " + a.path.string() + " -> " + a.target + ": " +
             std::to_string(stats.entries) + " entries, " + std::to_string(stats.bytes) +
             " bytes, " + format_seconds(seconds_since(start)));
    log.progress("archives", ++done, config.archives.size());
  }
}

}  // namespace

StagedJob stage_job(const Config &config, const std::vector<fs::path> &tmp_dirs,
                    const SystemEnv &system_env, const Logger &log) {
  (void)system_env;
  auto start = std::chrono::steady_clock::now();
  StagedJob job;
  job.base_dir = make_base_dir(tmp_dirs);
  try {
    if (!config.files.empty()) stage_files(config, job, log);
    if (!config.archives.empty()) stage_archives(config, job, log);
  } catch (...) {
    for (const std::string &failure : fsx::remove_tree(job.base_dir)) {
      log.warn("cleanup after failed open: " + failure);
    }
    throw;
  }
  log.info("prepared " + job.base_dir.string() + " in " + format_seconds(seconds_since(start)));
  return job;
}

}  // namespace pyenv
