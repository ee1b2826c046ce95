// Writes the entries of one archive into a directory, refusing anything unsafe. Format
// readers feed it entries in archive order; it knows nothing of zip or tar.
//
// Threads: placing entries (directory, place_file, symlink, hardlink, finish) happens on
// one thread, in archive order, because that is where the safety rules are decided.
// write_file may then run on many threads at once, each on its own placed file.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "archive/extract.hpp"

namespace pyenv::archive {

class TreeWriter {
 public:
  // Gives the next piece of the current entry's bytes, empty at its end; the piece stays
  // valid until the next call. Throws Error(kArchive) on corrupt data.
  using Chunks = std::function<std::string_view()>;

  // `root` must be an existing, empty directory. `label` names the archive in messages.
  TreeWriter(fs::path root, std::string label, const Limits &limits);

  void directory(const std::string &name, mode_t mode, time_t mtime);
  // `expected_size` is what the archive declares; writing more or less is refused.
  void file(const std::string &name, mode_t mode, time_t mtime, uint64_t expected_size,
            const Chunks &next) {
    write_file(name, place_file(name), mode, mtime, expected_size, next);
  }
  // Validates a regular file's name and creates its parent directories; returns the path
  // that write_file fills.
  fs::path place_file(const std::string &name);
  // Thread-safe. Creates `path` (from place_file) with the bytes `next` gives.
  void write_file(const std::string &name, const fs::path &path, mode_t mode, time_t mtime,
                  uint64_t expected_size, const Chunks &next);

  // What streaming readers read at a time.
  static constexpr size_t kBufferSize = 256 * 1024;
  void symlink(const std::string &name, const std::string &target, time_t mtime);
  // A tar hard link to an earlier regular file of the same archive.
  void hardlink(const std::string &name, const std::string &target);
  // Creates the links and applies directory modes and times, deepest first.
  void finish();

  [[noreturn]] void refuse(const std::string &name, const std::string &why) const;

  Stats stats() const { return Stats{entries_, bytes_.load()}; }
  const Limits &limits() const { return limits_; }

 private:
  enum class Kind { kDirectory, kFile, kLink };

  // Validates `name`, creates its missing parent directories, and returns its path
  // relative to the root; an empty path means the root itself.
  fs::path place(const std::string &name, Kind kind);
  void count_entry(const std::string &name);

  fs::path root_;
  std::string label_;
  Limits limits_;
  uint64_t entries_ = 0;
  std::atomic<uint64_t> bytes_{0};
  std::map<fs::path, Kind> kinds_;
  struct Link {
    fs::path path;
    std::string target;
    time_t mtime;
  };
  std::vector<Link> links_;
  struct Dir {
    fs::path path;
    mode_t mode;
    time_t mtime;
  };
  std::map<fs::path, Dir> dirs_;
};

// Permission bits kept from an archive: no setuid, setgid or sticky bit.
inline mode_t safe_mode(mode_t mode) { return mode & 0777; }

}  // namespace pyenv::archive
