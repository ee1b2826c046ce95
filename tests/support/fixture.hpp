// Shared test support: temp dirs, real archives, and the built plugin loaded through dlopen.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <optional>
#include <pyenv/host.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace pyenv::test {

namespace fs = std::filesystem;

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  const fs::path &path() const { return path_; }
  fs::path operator/(const std::string &name) const { return path_ / name; }

 private:
  fs::path path_;
};

void write_file(const fs::path &path, const std::string &bytes, mode_t mode = 0644);
std::string read_file(const fs::path &path);
// Every path below `root`, relative to it, sorted (links are listed, not followed).
std::set<std::string> list_tree(const fs::path &root);
mode_t mode_of(const fs::path &path);  // permission bits, not following links

// One archive entry. `mode` holds the file type bits too (S_IFREG, S_IFDIR, S_IFLNK...);
// zero means "no Unix mode stored" for zips.
struct Entry {
  std::string name;
  std::string data;  // file bytes, or the link target for S_IFLNK
  mode_t mode = S_IFREG | 0644;
  std::string hardlink;  // tar only: target of a hard link
};
Entry file_entry(const std::string &name, const std::string &data, mode_t perm = 0644);
Entry dir_entry(const std::string &name, mode_t perm = 0755);
Entry link_entry(const std::string &name, const std::string &target);

// Writes a real zip with libzip (deflate, or stored when `stored`), Unix modes in the
// external attributes.
void write_zip(const fs::path &path, const std::vector<Entry> &entries, bool stored = false);
// Writes a real tar with libarchive; `filter` is "none", "gzip", "bzip2", "xz" or "zstd".
void write_tar(const fs::path &path, const std::vector<Entry> &entries,
               const std::string &filter = "gzip");

// Writes `<dir>/<name>-<version>-py3-none-any.whl`, a pure-Python wheel holding package
// `<name>` whose __init__.py is `init_py`. Returns its path.
fs::path write_wheel(const fs::path &dir, const std::string &name, const std::string &version,
                     const std::string &init_py);

// A call through host.hpp that must fail: its status and message (a test failure, and
// PYENV_OK, when it succeeds).
template <class Call>
std::pair<int, std::string> failure_of(Call &&call) {
  try {
    call();
  } catch (const pyenv::host::Error &e) {
    return {e.status(), e.what()};
  }
  ADD_FAILURE() << "the call succeeded";
  return {PYENV_OK, ""};
}

// The plugin under test, loaded once per process from the build tree.
const pyenv::host::Plugin &plugin();
const pyenv::host::Api &api();
std::string plugin_path();

// The raw options of pyenv_create for job `job_id` with one tmp dir, `tmp_dirs[0]`, and
// `yaml` (NULL: none). They point into the arguments, which must outlive the create.
pyenv_options job_options(const char *job_id, const char *const *tmp_dirs, const char *yaml);

// The archive cache's default directory in tmp dir `tmp`: <tmp>/pyenv-cache-<euid>.
fs::path default_cache_dir(const fs::path &tmp);

// The python-dist-* base directories in `dir`.
std::vector<fs::path> base_dirs_in(const fs::path &dir);

// The common fixture of CONFORMANCE.md: T with file0..file5, dir0, dir1, zip0, zip1.
class ConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override;
  // A fresh job id per call.
  static std::string new_job_id();
  // Creates a manager on tmp dir T with an empty system environment.
  pyenv::host::Manager create(const std::string &yaml,
                              const std::vector<std::string> &system_env = {},
                              const std::string &job_id = "");
  // The basic env of CONFORMANCE.md for base dir `base`.
  static std::map<std::string, std::string> basic_env(const fs::path &base,
                                                      const std::string &python = "python");
  // The one python-dist-* directory in T; fails the test when there is not exactly one.
  fs::path base_dir() const;
  std::vector<fs::path> base_dirs() const { return base_dirs_in(T); }
  // Everything in T but the archive cache (T/pyenv-cache-<euid> by default), which is the machine's
  // and outlives jobs by design; checks that the cache holds no staging left behind.
  std::set<std::string> job_files() const;

  TempDir tmp_;
  fs::path T;
};

}  // namespace pyenv::test
