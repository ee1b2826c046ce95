#include "env/staging.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <set>

#include "archive/extract.hpp"
#include "cache/cache_files.hpp"
#include "error.hpp"
#include "pip/pip.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

namespace pyenv {
namespace {

bool ends_with(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A path the configuration names must exist when open() runs (C9:
// PYENV_ECONFIG).
void require_exists(const std::string &key, const std::string &spec, const fs::path &path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    // The resolved path is only worth repeating when the configuration gave
    // another.
    const std::string where = key + ": \"" + spec + "\"" +
                              (spec.rfind(path.string(), 0) == 0 ? "" : ": " + path.string());
    fail(errno == ENOENT || errno == ENOTDIR ? Status::kConfig : Status::kIo,
         errno_message(where, errno));
  }
}

archive::Limits limits_of(const Config &config) {
  return archive::Limits{config.archive_max_bytes, config.archive_max_entries, config.symlinks,
                         config.extract_threads};
}

constexpr char kBaseDirPrefix[] = "python-dist-";
constexpr char kOwnerLock[] = ".pyenv-owner.lock";

// Locks `base`'s owner lock file for as long as the returned descriptor lives.
UniqueFd lock_base_dir(const fs::path &base) {
  // Locked under a temporary name and renamed into place: a sweep never sees it unlocked.
  const fs::path temp = base / (std::string(kOwnerLock) + ".tmp");
  UniqueFd fd(::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) fail(Status::kIo, errno_message("cannot create " + temp.string(), errno));
  cache::lock_range(fd.get(), cache::LockType::kShared, {0, 0}, /*wait=*/true, temp);
  if (::rename(temp.c_str(), (base / kOwnerLock).c_str()) != 0) {
    fail(Status::kIo, errno_message("cannot create " + (base / kOwnerLock).string(), errno));
  }
  return fd;
}

// Removes the base directories in `tmp_dirs` whose owner process is gone (see stage_job).
// Only directories of the effective uid are considered, each opened without following a
// link: a tmp dir is shared, and another user's python-dist-* (or a link planted under that
// name) is never ours to remove. Failures are logged, never thrown: they are leftovers.
void sweep_dead_base_dirs(const std::vector<fs::path> &tmp_dirs, const Logger &log) {
  const uid_t me = ::geteuid();
  for (const fs::path &tmp : tmp_dirs) {
    UniqueFd tmp_fd(::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!tmp_fd.valid()) continue;
    std::vector<std::string> names;
    for (const std::string &name : cache::list_names(tmp_fd.get(), tmp, log)) {
      if (name.rfind(kBaseDirPrefix, 0) == 0) names.push_back(name);
    }
    for (const std::string &name : names) {
      const fs::path base = tmp / name;
      UniqueFd base_fd(
          ::openat(tmp_fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      struct stat st {};
      if (!base_fd.valid() || ::fstat(base_fd.get(), &st) != 0 || st.st_uid != me) continue;
      UniqueFd owner;
      try {
        if (cache::open_locked(base_fd.get(), kOwnerLock, base / kOwnerLock,
                               cache::LockType::kExclusive, {0, 0}, /*wait=*/false,
                               /*create=*/false, owner) != cache::LockResult::kLocked) {
          continue;  // in use, or not ours
        }
      } catch (const Error &e) {
        log.debug(std::string("not sweeping ") + base.string() + ": " + e.what());
        continue;
      }
      log.info("removing base directory " + base.string() + " of a process that is gone");
      for (const std::string &failure : fsx::remove_tree(base)) {
        log.warn("cleanup of a dead process's base directory: " + failure);
      }
    }
  }
}

fs::path make_base_dir(const std::vector<fs::path> &tmp_dirs) {
  // Spread jobs over the host's tmp dirs as Flink does, falling back to the
  // others.
  std::random_device seed;
  size_t first = std::uniform_int_distribution<size_t>(0, tmp_dirs.size() - 1)(seed);
  std::string reasons;
  for (size_t i = 0; i < tmp_dirs.size(); ++i) {
    fs::path dir = tmp_dirs[(first + i) % tmp_dirs.size()] / (kBaseDirPrefix + fsx::random_uuid());
    try {
      // Private: the job's files are nobody else's to read or replace.
      fsx::make_directory(dir, 0700);
      return dir;
    } catch (const Error &e) {
      reasons += std::string(reasons.empty() ? "" : "; ") + e.what();
    }
  }
  fail(Status::kIo, "no usable tmp dir for the base directory: " + reasons);
}

void stage_files(const Config &config, StagedJob &job, const Logger &log) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path files_dir = job.base_dir / "python-files";
  fsx::make_directory(files_dir);
  std::set<std::string> used;
  uint64_t done = 0;
  for (const PythonFile &file : config.files) {
    require_exists("python.files", file.spec, file.path);
    // Entries sharing a file name are staged side by side (the reference
    // failed).
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
  log.info("files: " + std::to_string(config.files.size()) + " staged in " +
           format_seconds(seconds_since(start)));
}

// Each archive's tree: from the machine's cache (python-archives/<target> is then a link to
// it), or extracted privately into the base directory when the cache is off. Without a job
// (warming the cache) the trees only go into the cache.
void stage_archives(const Config &config, cache::ArchiveCache *cache, StagedJob *job,
                    const Logger &log) {
  fs::path working_dir;
  if (job != nullptr) {
    working_dir = job->base_dir / "python-archives";
    fsx::make_directory(working_dir);
    job->working_dir = working_dir;
  }
  uint64_t done = 0;
  for (const PythonArchive &a : config.archives) {
    require_exists("python.archives", a.spec, a.path);
    const auto start = std::chrono::steady_clock::now();
    archive::Stats stats;
    auto extract = [&](const fs::path &destination) {
      archive::Limits limits = limits_of(config);
      limits.seal = cache != nullptr;  // the cache publishes trees sealed
      stats = archive::extract(a.path, destination, limits, log);
      return std::optional<uint64_t>(stats.disk_bytes);
    };
    std::string how = "extracted privately";
    if (cache) {
      cache::Lease lease = cache->acquire(a.path, extract);
      how = lease.hit() ? "cache hit" : "cache miss";
      if (job != nullptr) {
        fsx::link_or_copy(lease.tree(), working_dir / a.target);
        job->archive_leases.push_back(std::move(lease));
      }
    } else {
      extract(working_dir / a.target);
    }
    log.info("archive " + a.path.string() + " -> " + a.target + ": " + how +
             (stats.entries ? ", " + std::to_string(stats.entries) + " entries, " +
                                  std::to_string(stats.bytes) + " bytes"
                            : std::string()) +
             ", " + format_seconds(seconds_since(start)));
    log.progress("archives", ++done, config.archives.size());
  }
}

// A cache directory that fails the trust checks, for messages: what is wrong and what to do.
std::string untrusted_advice() {
  return "a cache shared by your jobs must be writable by you alone: a real directory owned "
         "by you without group or other write (chmod go-w), below directories that only you or "
         "root can write";
}

}  // namespace

fs::path default_cache_dir(const fs::path &tmp) {
  return tmp / ("pyenv-cache-" + std::to_string(::geteuid()));
}

// The archive cache: pyenv.cache.dir, or by default <tmp>/pyenv-cache-<uid> in the first tmp
// dir where it can be written, so that one unusable disk (remounted read-only after I/O
// errors) does not stop every job with archives. Every process tries the tmp dirs in the
// same order and so agrees on one cache, as long as they see the same faults. A default
// directory that cannot be trusted (planted by someone else: DESIGN.md 5.4) is not used:
// with `required` (the operators' commands) that is an error, otherwise a warning and no
// cache (private extraction).
std::unique_ptr<cache::ArchiveCache> open_cache(const Config &config,
                                                const std::vector<fs::path> &tmp_dirs,
                                                const Logger &log, bool required) {
  if (config.cache_dir) {
    try {
      return std::make_unique<cache::ArchiveCache>(
          cache::Options{*config.cache_dir, config.cache_max_bytes}, log);
    } catch (const cache::Untrusted &e) {
      fail(Status::kIo, std::string("pyenv.cache.dir: ") + e.what() + "; " + untrusted_advice() +
                            ", or set pyenv.cache.dir to one that is");
    }
  }
  std::string reasons;
  for (const fs::path &tmp : tmp_dirs) {
    const fs::path dir = default_cache_dir(tmp);
    try {
      auto cache =
          std::make_unique<cache::ArchiveCache>(cache::Options{dir, config.cache_max_bytes}, log);
      if (!reasons.empty()) log.warn("archive cache in " + dir.string() + " instead: " + reasons);
      return cache;
    } catch (const cache::Untrusted &e) {
      const std::string what = std::string("archive cache ") + e.what() +
                               ": it may hold files another user planted, so it is not used";
      if (required) {
        fail(Status::kIo,
             what + "; " + untrusted_advice() + " (remove it, or set pyenv.cache.dir)");
      }
      log.warn(what + "; archives are extracted privately into the base directory (" +
               untrusted_advice() + ": remove it, or set pyenv.cache.dir)");
      return nullptr;
    } catch (const Error &e) {
      if (e.status() != Status::kIo) throw;
      reasons += std::string(reasons.empty() ? "" : "; ") + e.what();
    }
  }
  fail(Status::kIo, "no usable tmp dir for the archive cache: " + reasons);
}

namespace {

// What decides a requirements install's result: the requirements file's bytes,
// the wheel directory's listing (names and sizes) and the interpreter. Empty
// when the interpreter cannot say who it is (pip will then fail and say why).
std::string requirements_key_material(const pip::Request &request) {
  ProcessSpec spec;
  spec.argv = {request.python, "-c",
               "import os, sys; print(sys.version); "
               "print(os.path.realpath(sys.executable))"};
  spec.env = request.env;
  spec.cwd = request.working_dir;
  spec.timeout = std::chrono::seconds(60);
  std::string interpreter;
  spec.on_line = [&](const std::string &line) { interpreter += line + "\n"; };
  try {
    if (!run_process(spec).succeeded()) return "";
  } catch (const Error &) {
    return "";
  }
  std::string material = "pyenv requirements 1\ninterpreter:\n" + interpreter + "requirements:\n";
  std::ifstream in(request.requirements.file, std::ios::binary);
  material.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  material += "\nwheels:\n";
  if (request.requirements.cache_dir) {
    std::set<std::string> listing;
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(*request.requirements.cache_dir, ec)) {
      listing.insert(entry.path().filename().string() + " " +
                     std::to_string(entry.is_regular_file(ec) ? entry.file_size(ec) : 0));
    }
    for (const std::string &line : listing) material += line + "\n";
  }
  return material;
}

// Records, inside an install's tree, where its packages and scripts went
// (relative), so a cache hit can tell without running anything.
constexpr char kInstallRecord[] = ".pyenv-install";

void write_install_record(const pip::Installed &installed) {
  std::ofstream out(installed.install_dir / kInstallRecord);
  for (const std::string &p : installed.site_packages) {
    out << "site-packages " << fs::path(p).lexically_relative(installed.install_dir).string()
        << "\n";
  }
  out << "scripts " << installed.scripts_dir.lexically_relative(installed.install_dir).string()
      << "\n";
  if (!out) fail(Status::kIo, "cannot write " + (installed.install_dir / kInstallRecord).string());
}

void read_install_record(const fs::path &install_dir, StagedJob &job) {
  std::ifstream in(install_dir / kInstallRecord);
  std::string kind, rel;
  while (in >> kind >> rel) {
    if (kind == "site-packages") job.site_packages.push_back((install_dir / rel).string());
    if (kind == "scripts") job.scripts_dir = install_dir / rel;
  }
  if (job.site_packages.empty()) {
    fail(Status::kIo, "cached requirements install " + install_dir.string() + " has no record");
  }
}

void install_requirements(const Config &config, cache::ArchiveCache *cache, StagedJob &job,
                          const SystemEnv &system_env, const Logger &log) {
  const fs::path install_dir = job.base_dir / "python-requirements";
  // CONFORMANCE.md C4 checks the variables of a requirements job without
  // running pip.
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
  const auto start = std::chrono::steady_clock::now();

  const std::string material = cache ? requirements_key_material(request) : "";
  if (material.empty()) {
    pip::Installed installed = pip::install(request, log);
    job.site_packages = installed.site_packages;
    job.scripts_dir = installed.scripts_dir;
  } else {
    // The install is cached like an archive, keyed by the SHA-256 of what
    // decides it.
    const fs::path key_file = job.base_dir / "python-requirements.key";
    {
      std::ofstream out(key_file, std::ios::binary);
      out << material;
      if (!out) fail(Status::kIo, "cannot write " + key_file.string());
    }
    cache::Lease lease = cache->acquire(
        key_file,
        [&](const fs::path &destination) {
          pip::Request cached = request;
          cached.install_dir = destination;
          write_install_record(pip::install(cached, log));
          return std::optional<uint64_t>();  // the cache seals and measures it
        },
        cache::Source{cache::Kind::kRequirements, config.requirements->file});
    fsx::link_or_copy(lease.tree(), install_dir);
    read_install_record(install_dir, job);
    log.info("requirements " + config.requirements->file.string() + ": cache " +
             (lease.hit() ? "hit, no pip run" : "miss") + ", " +
             format_seconds(seconds_since(start)));
    job.archive_leases.push_back(std::move(lease));
  }
  log.info("requirements installed into " + install_dir.string() + " in " +
           format_seconds(seconds_since(start)));
  job.requirements_install_dir = install_dir;
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

  // requirements site-packages : python.pythonpath : python.files : system
  // PYTHONPATH
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
    // <install dir>/bin (the reference appended "<install dir>:bin"); where the
    // interpreter puts scripts elsewhere (Debian: <install dir>/local/bin),
    // that directory comes first.
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
  sweep_dead_base_dirs(tmp_dirs, log);
  StagedJob job;
  job.base_dir = make_base_dir(tmp_dirs);
  log.info("base dir " + job.base_dir.string() + " created in " +
           format_seconds(seconds_since(start)));
  try {
    job.owner_lock = lock_base_dir(job.base_dir);
    if (!config.files.empty()) stage_files(config, job, log);
    std::unique_ptr<cache::ArchiveCache> cache;
    if (config.cache_enabled && (!config.archives.empty() || config.requirements)) {
      cache = open_cache(config, tmp_dirs, log, /*required=*/false);
    }
    cache::ArchiveCache *shared = cache.get();
    if (!config.archives.empty()) stage_archives(config, shared, &job, log);
    if (config.requirements) install_requirements(config, shared, job, system_env, log);
  } catch (...) {
    for (const std::string &failure : fsx::remove_tree(job.base_dir)) {
      log.warn("cleanup after failed open: " + failure);
    }
    throw;
  }
  log.info("prepared " + job.base_dir.string() + " in " + format_seconds(seconds_since(start)));
  return job;
}

void warm_job(const Config &config, const std::vector<fs::path> &tmp_dirs,
              const SystemEnv &system_env, const Logger &log) {
  if (!config.cache_enabled) {
    fail(Status::kConfig, "pyenv.cache.enabled is false: the job uses no cache to warm");
  }
  const auto start = std::chrono::steady_clock::now();
  if (config.archives.empty() && !config.requirements) {
    log.info("cache warm: the job has no archives and no requirements; nothing to do");
    return;
  }
  std::unique_ptr<cache::ArchiveCache> cache = open_cache(config, tmp_dirs, log, true);
  if (!config.requirements) {
    stage_archives(config, cache.get(), nullptr, log);
  } else {
    // pip runs as in a job: in the working directory of the job's archives, with an
    // interpreter that may live in one of them. That takes a base directory, which lives
    // only as long as the install (and is swept like a dead task's if this process dies).
    StagedJob job;
    job.base_dir = make_base_dir(tmp_dirs);
    try {
      job.owner_lock = lock_base_dir(job.base_dir);
      if (!config.archives.empty()) stage_archives(config, cache.get(), &job, log);
      install_requirements(config, cache.get(), job, system_env, log);
    } catch (...) {
      fsx::remove_tree(job.base_dir);
      throw;
    }
    for (const std::string &failure : fsx::remove_tree(job.base_dir)) {
      log.warn("cache warm: cleanup: " + failure);
    }
  }
  log.info("cache warm: " + cache->dir().string() + " holds the job's archives" +
           (config.requirements ? std::string(" and requirements") : std::string()) + ", " +
           format_seconds(seconds_since(start)));
}

}  // namespace pyenv
