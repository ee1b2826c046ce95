// Directories and files that only the calling user can change (DESIGN.md 5.4).
//
// The archive cache is shared by every job of a user on the machine, so whatever it reads
// back decides what code those jobs run. It is trusted only when nobody else can write it:
// a real directory (not a symbolic link), owned by the effective uid, not writable by group
// or others; every directory above it owned by root or the effective uid and writable by
// nobody else unless sticky (/tmp), so that no other user can swap it for another directory
// after the check (OpenSSH's rule for ~/.ssh). Checks are made on opened descriptors
// (O_NOFOLLOW, fstat) and what lies below is reached with openat-family calls from them, so
// a component swapped between a check and its use cannot redirect the use.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <filesystem>
#include <string>

#include "error.hpp"
#include "util/unique_fd.hpp"

namespace pyenv::cache {

namespace fs = std::filesystem;

// A directory exists but may not be trusted. what() names it and says why (owner, mode or
// link); status() is kIo.
class Untrusted : public Error {
 public:
  Untrusted(const fs::path &path, const std::string &why)
      : Error(Status::kIo, path.string() + " " + why), path_(path), why_(why) {}
  const fs::path &path() const { return path_; }
  const std::string &why() const { return why_; }

 private:
  fs::path path_;
  std::string why_;
};

// "uid 65534 (nobody)".
std::string describe_uid(uid_t uid);

// Why `st` is not a private directory of the effective uid ("is owned by uid 65534
// (nobody), mode 0777"), or "" when it is one.
std::string why_not_private_dir(const struct stat &st);

// Why `st` is not a private regular file of the effective uid (owner, group/other write,
// more than one name: a hard link could make a write land in a file outside), or "".
std::string why_not_private_file(const struct stat &st);

// An open directory that passed the checks above.
class PrivateDir {
 public:
  PrivateDir() = default;

  // Opens the absolute directory `path`, creating it (and missing parents) with mode 0700
  // when `create`. Its existing ancestors are resolved (symbolic links followed) and checked
  // one by one from "/"; `path()` is then the resolved path, which no other user can
  // redirect. Throws Untrusted for a directory that fails a check, Error(kIo) for any other
  // failure (ENOENT when missing and not `create`).
  static PrivateDir open(const fs::path &path, bool create);

  // The subdirectory `name` (one component), created 0700 when missing and `create`.
  // Throws as open().
  PrivateDir sub(const std::string &name, bool create) const;

  int fd() const { return fd_.get(); }
  const fs::path &path() const { return path_; }
  bool valid() const { return fd_.valid(); }

 private:
  PrivateDir(UniqueFd fd, fs::path path) : fd_(std::move(fd)), path_(std::move(path)) {}

  UniqueFd fd_;
  fs::path path_;
};

// Opens directory `name` in `parent_fd` without following a link and checks it; creates it
// 0700 first when `create`. `shown` names it in messages.
UniqueFd open_private_dir_at(int parent_fd, const std::string &name, const fs::path &shown,
                             bool create);

}  // namespace pyenv::cache
