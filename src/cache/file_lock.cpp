#include "cache/file_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

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

LockResult open_locked(const fs::path &path, LockType type, LockRange range, bool wait, bool create,
                       UniqueFd &out) {
  for (;;) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0666));
    if (!fd.valid()) {
      if (!create && errno == ENOENT) return LockResult::kMissing;
      fail(Status::kIo, errno_message("cannot open lock file " + path.string(), errno));
    }
    if (!lock_range(fd.get(), type, range, wait, path)) return LockResult::kBusy;
    struct stat held {};
    struct stat named {};
    if (::fstat(fd.get(), &held) != 0) {
      fail(Status::kIo, errno_message("cannot stat lock file " + path.string(), errno));
    }
    if (::stat(path.c_str(), &named) == 0) {
      if (named.st_dev == held.st_dev && named.st_ino == held.st_ino) {
        out = std::move(fd);
        return LockResult::kLocked;
      }
    } else if (errno != ENOENT) {
      fail(Status::kIo, errno_message("cannot stat lock file " + path.string(), errno));
    }
    // We locked a file that was unlinked (and perhaps replaced) meanwhile: start again.
  }
}

}  // namespace pyenv::cache
