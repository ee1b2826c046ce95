#include "env/staging.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <random>
#include <set>

#include "archive/extract.hpp"
#include "error.hpp"
#include "pip/pip.hpp"
#include "util/fs.hpp"

namespace pyenv {
namespace {

bool ends_with(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
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

// Each archive's tree: from the machine's cache (python-archives/<target> is then a link to
// it), or extracted privately into the base directory when the cache is off.
void stage_archives(const Config &config, const fs::path &first_tmp_dir, StagedJob &job,
                    const Logger &log) {
  const fs::path working_dir = job.base_dir / "python-archives";
  fsx::make_directory(working_dir);
  job.working_dir = working_dir;
  std::optional<cache::ArchiveCache> cache;
  if (config.cache_enabled) {
    cache.emplace(cache::Options{config.cache_dir.value_or(first_tmp_dir / "pyenv-cache"),
                                 config.cache_max_bytes},
                  log);
  }
  uint64_t done = 0;
  for (const PythonArchive &a : config.archives) {
    require_exists("python.archives", a.spec, a.path);
    const fs::path target = working_dir / a.target;
    const auto start = std::chrono::steady_clock::now();
    archive::Stats stats;
    auto extract = [&](const fs::path &destination) {
      stats = archive::extract(a.path, destination, limits_of(config), log);
    };
    std::string how = "extracted privately";
    if (cache) {
      cache::Lease lease = cache->acquire(a.path, extract);
      how = lease.hit() ? "cache hit" : "cache miss";
      fsx::link_or_copy(lease.tree(), target);
      job.archive_leases.push_back(std::move(lease));
    } else {
      extract(target);
    }
    log.info("archive " + a.path.string() + " -> " + a.target + ": " + how +
             (stats.entries ? ", " + std::to_string(stats.entries) + " entries, " +
                                  std::to_string(stats.bytes) + " bytes"
                            : std::string()) +
             ", " + format_seconds(seconds_since(start)));
    log.progress("archives", ++done, config.archives.size());
  }
}

void install_requirements(const Config &config, StagedJob &job, const SystemEnv &system_env,
                          const Logger &log) {
  const fs::path install_dir = job.base_dir / "python-requirements";
  // CONFORMANCE.md C4 checks the variables of a requirements job without running pip.
  if (const char *skip = std::getenv("PYENV_TEST_SKIP_PIP"); skip && *skip == '1') {
    log.warn("PYENV_TEST_SKIP_PIP=1: requirements are not installed (test hook)");
    return;
  }
  pip::Request request;
  request.requirements = *config.requirements;
  request.python = config.executable;
  if (auto in_archive = config.executable_home_in_archives(); in_archive && job.working_dir) {
    request.python = (*job.working_dir / in_archive->executable).string();
  }
  request.install_dir = install_dir;
  request.env = build_variables(config, job, system_env);
  request.working_dir = job.working_dir;
  request.timeout = config.pip_timeout;
  request.attempts = config.pip_attempts;
  auto start = std::chrono::steady_clock::now();
  pip::Installed installed = pip::install(request, log);
  log.info("pip installed " + config.requirements->file.string() + " into " + install_dir.string() +
           " in " + format_seconds(seconds_since(start)));
  job.requirements_install_dir = installed.install_dir;
  job.site_packages = installed.site_packages;
  job.scripts_dir = installed.scripts_dir;
}

std::string join_path_list(const std::vector<std::string> &items) {
  std::string out;
  for (const std::string &item : items) out += (out.empty() ? "" : ":") + item;
  return out;
}

}  // namespace

std::vector<std::string> split_path_list(const std::string &text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(':', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::map<std::string, std::string> build_variables(const Config &config, const StagedJob &job,
                                                   const SystemEnv &system_env) {
  std::map<std::string, std::string> vars;
  if (config.systemenv_enabled) vars = system_env;

  // requirements site-packages : python.pythonpath : python.files : system PYTHONPATH
  std::vector<std::string> pythonpath = job.site_packages;
  for (const std::string &p : split_path_list(config.pythonpath)) pythonpath.push_back(p);
  for (const std::string &p : job.file_paths) pythonpath.push_back(p);
  if (auto it = vars.find("PYTHONPATH"); it != vars.end()) {
    for (const std::string &p : split_path_list(it->second)) pythonpath.push_back(p);
  }
  if (pythonpath.empty()) {
    vars.erase("PYTHONPATH");
  } else {
    vars["PYTHONPATH"] = join_path_list(pythonpath);
  }

  vars["BOOT_LOG_DIR"] = job.base_dir.string();
  vars["PYFLINK_GATEWAY_DISABLED"] = "true";
  vars["python"] = config.executable;
  if (job.working_dir) vars["_PYTHON_WORKING_DIR"] = job.working_dir->string();
  if (config.requirements) {
    vars["_PYTHON_REQUIREMENTS_FILE"] = config.requirements->file.string();
    if (config.requirements->cache_dir) {
      vars["_PYTHON_REQUIREMENTS_CACHE"] = config.requirements->cache_dir->string();
    }
    vars["_PYTHON_REQUIREMENTS_INSTALL_DIR"] = (job.base_dir / "python-requirements").string();
  }
  if (job.requirements_install_dir) {
    // <install dir>/bin (the reference appended "<install dir>:bin"); where the interpreter
    // puts scripts elsewhere (Debian: <install dir>/local/bin), that directory comes first.
    std::vector<std::string> path;
    if (job.scripts_dir && *job.scripts_dir != *job.requirements_install_dir / "bin") {
      path.push_back(job.scripts_dir->string());
    }
    path.push_back((*job.requirements_install_dir / "bin").string());
    if (auto it = vars.find("PATH"); it != vars.end()) {
      for (const std::string &p : split_path_list(it->second)) path.push_back(p);
    }
    vars["PATH"] = join_path_list(path);
  }
  return vars;
}

StagedJob stage_job(const Config &config, const std::vector<fs::path> &tmp_dirs,
                    const SystemEnv &system_env, const Logger &log) {
  auto start = std::chrono::steady_clock::now();
  StagedJob job;
  job.base_dir = make_base_dir(tmp_dirs);
  try {
    if (!config.files.empty()) stage_files(config, job, log);
    if (!config.archives.empty()) stage_archives(config, tmp_dirs.front(), job, log);
    if (config.requirements) install_requirements(config, job, system_env, log);
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
