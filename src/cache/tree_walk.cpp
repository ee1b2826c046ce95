#include "cache/tree_walk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "error.hpp"
#include "util/unique_fd.hpp"

namespace pyenv::cache {

uint64_t TreeWalk::run(const fs::path &root) {
  struct stat st {};
  if (::lstat(root.c_str(), &st) != 0) {
    fail(Status::kIo, errno_message("cannot stat " + root.string(), errno));
  }
  add(st);
  UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) fail(Status::kIo, errno_message("cannot open " + root.string(), errno));
  walk(fd.get(), root);
  return bytes_;
}

void TreeWalk::add(const struct stat &st) {
  if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && !seen_.insert({st.st_dev, st.st_ino}).second) {
    return;  // another name of a file already counted
  }
  bytes_ += static_cast<uint64_t>(st.st_blocks) * 512;
}

void TreeWalk::walk(int dir_fd, const fs::path &where) {
  std::vector<std::string> names;
  {
    UniqueFd copy(::dup(dir_fd));  // closedir() closes the descriptor it was given
    DIR *dir = copy.valid() ? ::fdopendir(copy.get()) : nullptr;
    if (dir == nullptr) fail(Status::kIo, errno_message("cannot list " + where.string(), errno));
    copy.release();
    while (dirent *entry = ::readdir(dir)) {
      if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) {
        continue;
      }
      names.emplace_back(entry->d_name);
    }
    ::closedir(dir);
  }
  for (const std::string &name : names) {
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      fail(Status::kIo, errno_message("cannot stat " + (where / name).string(), errno));
    }
    add(st);
    if (S_ISDIR(st.st_mode)) {
      UniqueFd child(
          ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!child.valid()) {
        fail(Status::kIo, errno_message("cannot open " + (where / name).string(), errno));
      }
      walk(child.get(), where / name);
    }
    // Directories lose every write bit: without write access to its directory no entry
    // can be added, removed or replaced. Files keep the modes the archive gave them
    // (CONFORMANCE C3, A4) but for group and other write, which would let another user
    // change what every job of ours runs. A directory's write bits can go before or after
    // its contents, since changing a mode needs no write access to the parent.
    const mode_t sealed = S_ISDIR(st.st_mode) ? (st.st_mode & 07555) : (st.st_mode & ~022);
    if (seal_ && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) &&
        (sealed & 07777) != (st.st_mode & 07777) &&
        ::fchmodat(dir_fd, name.c_str(), sealed & 07777, 0) != 0) {
      fail(Status::kIo,
           errno_message("cannot make " + (where / name).string() + " read-only", errno));
    }
  }
}

}  // namespace pyenv::cache
