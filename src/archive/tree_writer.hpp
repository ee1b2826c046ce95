// Writes the entries of one archive into a directory, refusing anything unsafe. Format
// readers feed it entries in archive order; it knows nothing of zip or tar.
//
// Every name is resolved from the root one component at a time, each directory opened with
// O_NOFOLLOW and kept open while entries go into it, and every entry is made relative to
// its parent's descriptor (mkdirat, openat, symlinkat, linkat). So nothing is ever written
// through a symbolic link, whenever the link was made, and the kernel refuses what the
// archive repeats (O_EXCL): the writer keeps no record of the names it wrote.
//
// Directories are made 0700 and get their own mode and time when the writer is done with
// them (their last entry written and the readers moved on), deepest first: a directory
// stays writable while it is filled. A reader that comes back to a directory it left opens
// it again and restores its mode and time afterwards, so any entry order works.
//
// Threads: placing entries (directory, place_file, symlink, hardlink, finish) happens on
// one thread, in archive order, because that is where the safety rules are decided and
// where every name is created. write_file may then run on many threads at once, each on
// its own placed file.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "archive/extract.hpp"
#include "util/unique_fd.hpp"

namespace pyenv::archive {

class TreeWriter {
 public:
  // Gives the next piece of the current entry's bytes, empty at its end; the piece stays
  // valid until the next call. Throws Error(kArchive) on corrupt data.
  using Chunks = std::function<std::string_view()>;

  // An open directory of the tree; it gets its mode and time when the last reference goes.
  class Dir;
  using DirRef = std::shared_ptr<Dir>;

  // A regular file created by place_file, to be filled by write_file. Holds its directory
  // open (and unfinished) until it is written or dropped.
  struct Placed {
    DirRef dir;
    std::string leaf;
    UniqueFd fd;  // invalid until create()
  };

  // `root` must be an existing, empty directory. `label` names the archive in messages.
  TreeWriter(const fs::path &root, std::string label, const Limits &limits);
  ~TreeWriter();
  TreeWriter(const TreeWriter &) = delete;
  TreeWriter &operator=(const TreeWriter &) = delete;

  void directory(const std::string &name, mode_t mode, time_t mtime);
  // `expected_size` is what the archive declares; writing more or less is refused.
  void file(const std::string &name, mode_t mode, time_t mtime, uint64_t expected_size,
            const Chunks &next) {
    Placed placed = place_file(name, mode);
    write_file(name, placed, mtime, expected_size, next);
  }
  // Validates a regular file's name, creates its parent directories and the file itself
  // (with `mode`, as the archive gives it), empty.
  Placed place_file(const std::string &name, mode_t mode) {
    Placed placed = place_parent(name);
    create(name, placed, mode);
    return placed;
  }
  // place_file in two steps: the name and the parents (in archive order), then the file.
  // Thread-safe: create may run on another thread than place_parent.
  Placed place_parent(const std::string &name);
  void create(const std::string &name, Placed &placed, mode_t mode);
  // Thread-safe. Fills a file from place_file with the bytes `next` gives, sets its time and
  // closes it (also when it throws).
  void write_file(const std::string &name, Placed &placed, time_t mtime, uint64_t expected_size,
                  const Chunks &next);

  // What streaming readers read at a time.
  static constexpr size_t kBufferSize = 256 * 1024;
  void symlink(const std::string &name, const std::string &target, time_t mtime);
  // A tar hard link to an earlier regular file of the same archive.
  void hardlink(const std::string &name, const std::string &target);
  // Finishes every directory still open, deepest first; throws what went wrong with any.
  void finish();

  [[noreturn]] void refuse(const std::string &name, const std::string &why) const;

  Stats stats() const { return Stats{entries_, bytes_.load(), disk_bytes_.load()}; }
  const Limits &limits() const { return limits_; }

 private:
  friend class Dir;

  // Validates `name` and opens (creating when missing) its parent directories; returns the
  // parent and leaves the last component in `leaf`, empty when `name` is the root itself.
  DirRef place(const std::string &name, std::string &leaf);
  void count_entry(const std::string &name);
  DirRef open_child(const DirRef &parent, const std::string &component, const std::string &entry,
                    bool is_leaf);
  // Rounds a file's size up to the file system's blocks.
  uint64_t blocks_of(uint64_t size) const { return (size + block_ - 1) / block_ * block_; }
  void finish_dir(Dir &dir) noexcept;
  void failed_io(const std::string &message) noexcept;

  std::string root_path_;
  std::string label_;
  Limits limits_;
  mode_t umask_;
  uint64_t block_ = 4096;
  uint64_t entries_ = 0;
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> disk_bytes_{0};
  // The directories from the root down to the last entry's parent.
  std::vector<DirRef> cursor_;
  // Directories still open, by path, so that coming back to one while a worker still holds
  // it reuses it instead of finishing it twice. Guards opening and finishing directories.
  std::recursive_mutex dirs_mutex_;
  std::unordered_map<std::string, std::weak_ptr<Dir>> open_dirs_;
  std::mutex error_mutex_;
  std::string io_error_;  // a failure while finishing a directory, thrown by finish()
};

// Permission bits kept from an archive: no setuid, setgid or sticky bit.
inline mode_t safe_mode(mode_t mode) { return mode & 0777; }

}  // namespace pyenv::archive
