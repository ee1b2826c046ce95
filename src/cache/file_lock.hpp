// Owned file descriptors and Linux open-file-description (OFD) byte-range locks.
//
// OFD locks (fcntl F_OFD_SETLK / F_OFD_SETLKW) belong to an open file description, not to a
// process: two open() calls of one file, even in one thread, are two independent owners, so
// the threads of a process exclude each other exactly as processes do. Unlike classic POSIX
// record locks, closing some other descriptor of the same file releases nothing, and unlike
// flock() a change of lock type on a range held by the same description is atomic. The
// kernel drops them when the last descriptor of the description closes, so a crashed
// process holds nothing. A fork()ed child shares its parent's descriptions (and so its
// locks) until it closes them or exits; every descriptor here is O_CLOEXEC.
#pragma once

#include <sys/types.h>

#include <filesystem>

#include "util/unique_fd.hpp"

namespace pyenv::cache {

namespace fs = std::filesystem;

using pyenv::UniqueFd;

enum class LockType { kShared, kExclusive };

// A byte range of a lock file; length 0 means "to the end of the file, however long".
struct LockRange {
  off_t start = 0;
  off_t length = 0;
};

// Takes (or converts to) `type` on `range` of the OFD `fd`. With `wait`, blocks until granted
// (retrying on EINTR) and returns true; without it, returns false when another owner holds a
// conflicting lock. Throws Error(kIo) naming `path` on any other failure.
bool lock_range(int fd, LockType type, LockRange range, bool wait, const fs::path &path);

// Releases `range` of `fd`. Throws Error(kIo) naming `path`.
void unlock_range(int fd, LockRange range, const fs::path &path);

enum class LockResult { kLocked, kBusy, kMissing, kUntrusted };

// Opens the lock file `name` in the directory `dir_fd` (never through a symbolic link;
// created with mode 0600 when `create`) and takes `type` on `range`. The file must be a
// private file of the effective uid (private_dir.hpp: a regular file of ours, writable by
// nobody else, with one name): anything else is kUntrusted, with the reason in `*why`, and
// nothing is locked. A lock file may be unlinked by whoever holds it exclusively, so after
// locking, the descriptor is checked to still be the file named `name`; if it is not, the
// open and lock are retried. On kLocked, `out` holds the locked descriptor. kBusy: `wait` was
// false and someone holds a conflicting lock. kMissing: `create` was false and there is no
// file `name`. `shown` names the file in messages. Throws Error(kIo) on failures.
LockResult open_locked(int dir_fd, const std::string &name, const fs::path &shown, LockType type,
                       LockRange range, bool wait, bool create, UniqueFd &out,
                       std::string *why = nullptr);

}  // namespace pyenv::cache
