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
#include <vector>

#include "archive/extract.hpp"

namespace pyenv::archive {

class TreeWriter {
 public:
  // Reads up to `capacity` bytes of the current entry into `buffer`; returns 0 at its end.
  // Throws Error(kArchive) on corrupt data.
  using Reader = std::function<size_t(char *buffer, size_t capacity)>;

  // `root` must be an existing, empty directory. `label` names the archive in messages.
  TreeWriter(fs::path root, std::string label, const Limits &limits);

  void directory(const std::string &name, mode_t mode, time_t mtime);
  // `expected_size` is what the archive declares; writing more or less is refused.
  void file(const std::string &name, mode_t mode, time_t mtime, uint64_t expected_size,
            const Reader &read) {
    if (buffer_.empty()) buffer_.resize(kBufferSize);
    write_file(name, place_file(name), mode, mtime, expected_size, read, buffer_.data(),
               buffer_.size());
  }
  // Validates a regular file's name and creates its parent directories; returns the path
  // that write_file fills.
  fs::path place_file(const std::string &name);
  // Thread-safe. Creates `path` (from place_file) with the bytes `read` gives, through the
  // caller's `buffer`.
  void write_file(const std::string &name, const fs::path &path, mode_t mode, time_t mtime,
                  uint64_t expected_size, const Reader &read, char *buffer, size_t capacity);

  static constexpr size_t kBufferSize = 256 * 1024;
  void symlink(const std::string &name, const std::string &target, time_t mtime);
  // A tar hard link to an earlier regular file of the same archive.
  void hardlink(const std::string &name, const std::string &target);
  // Creates the links and applies directory modes and times, deepest first.
  void finish();

  [[noreturn]] void refuse(const std::string &name, const std::string &why) const;

  Stats stats() const { return Stats{entries_, bytes_.load()}; }

 private:
  enum class Kind { kDirectory, kFile, kLink };

  // Validates `name`, creates its missing parent directories, and returns its path
  // relative to the root; an empty path means the root itself.
  fs::path place(const std::string &name, Kind kind);
  void count_entry(const std::string &name);

  fs::path root_;
  std::string label_;
  Limits limits_;
  std::vector<char> buffer_;  // for file(), on the placing thread
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
