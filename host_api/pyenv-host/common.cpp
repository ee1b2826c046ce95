#include "common.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

extern char **environ;

namespace pyenv_host {

fs::path self_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

std::string find_plugin(const std::optional<std::string> &explicit_path) {
  if (explicit_path) return *explicit_path;
  if (const char *env = std::getenv("PYENV_PLUGIN"); env && *env) return env;
  const fs::path candidates[] = {self_dir() / "libpyenv.so",
                                 self_dir() / ".." / "lib" / "pyenv" / "libpyenv.so"};
  for (const fs::path &candidate : candidates) {
    if (fs::exists(candidate)) return candidate.lexically_normal().string();
  }
  std::cerr << "pyenv-host: libpyenv.so not found next to " << self_dir().string()
            << " nor in ../lib/pyenv/; pass --plugin PATH\n";
  std::exit(2);
}

fs::path examples_dir() { return self_dir() / ".." / "share" / "pyenv" / "examples"; }

ProgressLine::ProgressLine() : enabled_(::isatty(STDOUT_FILENO) && ::isatty(STDERR_FILENO)) {}

void ProgressLine::update(const char *phase, uint64_t done, uint64_t total) {
  if (!enabled_) return;
  std::fprintf(stderr, "\r\033[K%s: %llu", phase, static_cast<unsigned long long>(done));
  if (total > 0) std::fprintf(stderr, " / %llu", static_cast<unsigned long long>(total));
  std::fflush(stderr);
  shown_ = true;
}

void ProgressLine::clear() {
  if (!shown_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  shown_ = false;
}

pyenv::host::Options host_options(const std::string &job_id,
                                  const std::vector<std::string> &tmp_dirs, bool verbose,
                                  ProgressLine &progress) {
  pyenv::host::Options options;
  options.job_id = job_id;
  options.tmp_dirs = tmp_dirs;
  if (options.tmp_dirs.empty()) {
    const char *tmp = std::getenv("TMPDIR");
    options.tmp_dirs.push_back(tmp && *tmp ? tmp : "/tmp");
  }
  for (char **e = environ; *e != nullptr; ++e) {
    if (std::strchr(*e, '=') != nullptr && **e != '=') options.system_env.emplace_back(*e);
  }
  const int min_level = verbose ? 1 : 2;
  options.log = [&progress, min_level](int level, const char *message) {
    if (level < min_level) return;
    progress.clear();
    static const char *const kNames[] = {"debug", "info", "warn", "error"};
    std::fprintf(stderr, "pyenv %s: %s\n", kNames[level & 3], message);
  };
  options.progress = [&progress](const char *phase, uint64_t done, uint64_t total) {
    progress.update(phase, done, total);
  };
  return options;
}

void usage_error(const std::string &message, const char *usage) {
  std::cerr << "pyenv-host: " << message << "\n\n" << usage;
  std::exit(2);
}

}  // namespace pyenv_host
