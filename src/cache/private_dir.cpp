#include "cache/private_dir.hpp"

#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

namespace pyenv::cache {
namespace {

std::string octal_mode(mode_t mode) {
  char text[16];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// "group", "others" or "group and others", for the write bits of `mode`.
std::string writers(mode_t mode) {
  if ((mode & S_IWGRP) && (mode & S_IWOTH)) return "group and others";
  return (mode & S_IWGRP) ? "group" : "others";
}

// An ancestor may be root's or ours, and writable by nobody else unless sticky: then no
// other user can rename or replace what lies below it.
std::string why_not_safe_ancestor(const struct stat &st) {
  if (!S_ISDIR(st.st_mode)) return "is not a directory";
  const uid_t me = ::geteuid();
  if (st.st_uid != 0 && st.st_uid != me) {
    return "is owned by " + describe_uid(st.st_uid) + " (mode " + octal_mode(st.st_mode) +
           "), neither root nor " + describe_uid(me);
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return "is writable by " + writers(st.st_mode) + " and not sticky (mode " +
           octal_mode(st.st_mode) + ", owner " + describe_uid(st.st_uid) + ")";
  }
  return "";
}

UniqueFd open_ancestor(int parent, const std::string &name, const fs::path &shown) {
  UniqueFd fd(::openat(parent, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) fail(Status::kIo, errno_message("cannot open " + shown.string(), errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    fail(Status::kIo, errno_message("cannot stat " + shown.string(), errno));
  }
  if (std::string why = why_not_safe_ancestor(st); !why.empty()) {
    throw Untrusted(shown, why + ": another user could replace what lies below it");
  }
  return fd;
}

fs::path real_path(const fs::path &path) {
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(path.c_str(), nullptr), &std::free);
  if (!real) fail(Status::kIo, errno_message("cannot resolve " + path.string(), errno));
  return fs::path(real.get());
}

}  // namespace

std::string describe_uid(uid_t uid) {
  std::string out = "uid " + std::to_string(uid);
  struct passwd entry {};
  struct passwd *found = nullptr;
  std::vector<char> buffer(4096);
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    out += std::string(" (") + found->pw_name + ")";
  }
  return out;
}

std::string why_not_private_dir(const struct stat &st) {
  if (S_ISLNK(st.st_mode)) return "is a symbolic link";
  if (!S_ISDIR(st.st_mode)) return "is not a directory";
  const uid_t me = ::geteuid();
  if (st.st_uid != me) {
    return "is owned by " + describe_uid(st.st_uid) + " with mode " + octal_mode(st.st_mode) +
           "; it must be owned by " + describe_uid(me);
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "has mode " + octal_mode(st.st_mode) + " (writable by " + writers(st.st_mode) +
           "), owner " + describe_uid(st.st_uid) + "; it must not be writable by group or others";
  }
  return "";
}

std::string why_not_private_file(const struct stat &st) {
  if (!S_ISREG(st.st_mode)) return "is not a regular file";
  const uid_t me = ::geteuid();
  if (st.st_uid != me) {
    return "is owned by " + describe_uid(st.st_uid) + ", not by " + describe_uid(me);
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "has mode " + octal_mode(st.st_mode) + " (writable by " + writers(st.st_mode) + ")";
  }
  if (st.st_nlink != 1) {
    return "has " + std::to_string(st.st_nlink) + " names (a hard link to a file elsewhere?)";
  }
  return "";
}

UniqueFd open_private_dir_at(int parent_fd, const std::string &name, const fs::path &shown,
                             bool create) {
  if (create && ::mkdirat(parent_fd, name.c_str(), 0700) != 0 && errno != EEXIST) {
    fail(Status::kIo, errno_message("cannot create directory " + shown.string(), errno));
  }
  UniqueFd fd(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    struct stat st {};
    if ((err == ELOOP || err == ENOTDIR) &&
        ::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX] = {};
        const ssize_t n = ::readlinkat(parent_fd, name.c_str(), target, sizeof target - 1);
        throw Untrusted(shown, "is a symbolic link" +
                                   (n > 0 ? " (to " + std::string(target, n) + ")" : "") +
                                   " owned by " + describe_uid(st.st_uid));
      }
      throw Untrusted(shown, "is not a directory");
    }
    fail(Status::kIo, errno_message("cannot open " + shown.string(), err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    fail(Status::kIo, errno_message("cannot stat " + shown.string(), errno));
  }
  if (std::string why = why_not_private_dir(st); !why.empty()) throw Untrusted(shown, why);
  return fd;
}

PrivateDir PrivateDir::open(const fs::path &path, bool create) {
  fs::path wanted = path.lexically_normal();
  if (!wanted.has_filename()) wanted = wanted.parent_path();
  if (!wanted.is_absolute() || wanted == wanted.root_path()) {
    fail(Status::kIo, "directory " + path.string() + ": must be an absolute path below /");
  }
  const std::string last = wanted.filename().string();
  // The deepest ancestor that exists; the ones below it are created.
  std::vector<std::string> missing;
  fs::path existing = wanted.parent_path();
  for (struct stat st{}; ::stat(existing.c_str(), &st) != 0; existing = existing.parent_path()) {
    if (errno != ENOENT || !create) {
      fail(Status::kIo, errno_message("directory " + wanted.string(), errno));
    }
    missing.insert(missing.begin(), existing.filename().string());
  }

  const fs::path real = real_path(existing);
  UniqueFd dir(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) fail(Status::kIo, errno_message("cannot open /", errno));
  {
    struct stat st {};
    if (::fstat(dir.get(), &st) != 0) fail(Status::kIo, errno_message("cannot stat /", errno));
    if (std::string why = why_not_safe_ancestor(st); !why.empty()) throw Untrusted("/", why);
  }
  fs::path at = "/";
  for (const fs::path &part : real.relative_path()) {
    at /= part;
    dir = open_ancestor(dir.get(), part.string(), at);
  }
  for (const std::string &part : missing) {
    at /= part;
    if (::mkdirat(dir.get(), part.c_str(), 0700) != 0 && errno != EEXIST) {
      fail(Status::kIo, errno_message("cannot create directory " + at.string(), errno));
    }
    dir = open_ancestor(dir.get(), part, at);
  }
  at /= last;
  UniqueFd fd = open_private_dir_at(dir.get(), last, at, create);
  return PrivateDir(std::move(fd), at);
}

PrivateDir PrivateDir::sub(const std::string &name, bool create) const {
  const fs::path shown = path_ / name;
  return PrivateDir(open_private_dir_at(fd_.get(), name, shown, create), shown);
}

}  // namespace pyenv::cache
