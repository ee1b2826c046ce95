#include "cache/file_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "cache/private_dir.hpp"
#include "error.hpp"

namespace pyenv::cache {

namespace {

bool set_lock(int fd, short lock_type, LockRange range, bool wait, const fs::path &path) {
  struct flock lock {};
  lock.l_type = lock_type;
  lock.l_whence = SEEK_SET;
  lock.l_start = range.start;
  lock.l_len = range.length;
  lock.l_pid = 0;  // required by OFD locks
  for (;;) {
    if (::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &lock) == 0) return true;
    if (errno == EINTR) continue;
    if (!wait && (errno == EAGAIN || errno == EACCES)) return false;
    fail(Status::kIo, errno_message("cannot lock " + path.string(), errno));
  }
}

}  // namespace

bool lock_range(int fd, LockType type, LockRange range, bool wait, const fs::path &path) {
  return set_lock(fd, type == LockType::kShared ? F_RDLCK : F_WRLCK, range, wait, path);
}

void unlock_range(int fd, LockRange range, const fs::path &path) {
  set_lock(fd, F_UNLCK, range, false, path);
}

LockResult open_locked(int dir_fd, const std::string &name, const fs::path &shown, LockType type,
                       LockRange range, bool wait, bool create, UniqueFd &out, std::string *why) {
  for (;;) {
    UniqueFd fd(::openat(dir_fd, name.c_str(),
                         O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0600));
    if (!fd.valid()) {
      if (!create && errno == ENOENT) return LockResult::kMissing;
      if (errno == ELOOP) {
        if (why != nullptr) *why = "is a symbolic link";
        return LockResult::kUntrusted;
      }
      fail(Status::kIo, errno_message("cannot open lock file " + shown.string(), errno));
    }
    struct stat held {};
    if (::fstat(fd.get(), &held) != 0) {
      fail(Status::kIo, errno_message("cannot stat lock file " + shown.string(), errno));
    }
    if (held.st_nlink == 0) continue;  // unlinked by an evictor between open and fstat
    // Checked before locking or writing: a lock file with a second name could make a write
    // of ours land in someone else's file.
    if (std::string problem = why_not_private_file(held); !problem.empty()) {
      if (why != nullptr) *why = problem;
      return LockResult::kUntrusted;
    }
    if (!lock_range(fd.get(), type, range, wait, shown)) return LockResult::kBusy;
    struct stat named {};
    if (::fstatat(dir_fd, name.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0) {
      if (named.st_dev == held.st_dev && named.st_ino == held.st_ino) {
        out = std::move(fd);
        return LockResult::kLocked;
      }
    } else if (errno != ENOENT) {
      fail(Status::kIo, errno_message("cannot stat lock file " + shown.string(), errno));
    }
    // We locked a file that was unlinked (and perhaps replaced) meanwhile: start again.
  }
}

}  // namespace pyenv::cache
