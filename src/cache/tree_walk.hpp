// Sizing and sealing a tree in the cache by walking it: what publishing does to a tree it
// did not write itself (a pip install), and how a tree missing its size record is measured.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <utility>

namespace pyenv::cache {

namespace fs = std::filesystem;

// Adds up the disk space of a tree and, with `seal`, takes the write bits off every
// directory below its root and group/other write off every file (the root itself must stay
// writable until it has been renamed into trees/: moving a directory to another parent
// rewrites its ".."). Throws Error(kIo) naming the path that failed.
class TreeWalk {
 public:
  explicit TreeWalk(bool seal) : seal_(seal) {}
  // Space taken on disk (allocated blocks; hard links counted once).
  uint64_t run(const fs::path &root);

 private:
  void add(const struct stat &st);
  void walk(int dir_fd, const fs::path &where);

  bool seal_;
  uint64_t bytes_ = 0;
  std::set<std::pair<dev_t, ino_t>> seen_;
};

}  // namespace pyenv::cache
