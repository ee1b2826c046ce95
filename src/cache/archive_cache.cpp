#include "cache/archive_cache.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "cache/sha256.hpp"
#include "error.hpp"
#include "util/fs.hpp"

namespace pyenv::cache {
namespace {

constexpr LockRange kUseByte{0, 1};
constexpr LockRange kExtractByte{1, 1};
constexpr LockRange kBothBytes{0, 2};
constexpr LockRange kWholeFile{0, 0};
constexpr size_t kKeyLength = 64;

bool is_key(const std::string &s) {
  return s.size() == kKeyLength && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// "<key>.<anything>" (staging entries) or "<key>.lock" (lock files): the key, or "".
std::string key_prefix(const std::string &name) {
  if (name.size() <= kKeyLength + 1 || name[kKeyLength] != '.') return "";
  std::string key = name.substr(0, kKeyLength);
  return is_key(key) ? key : "";
}

int64_t ns_of(const struct timespec &t) {
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

int64_t realtime_ns() {
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return ns_of(now);
}

bool is_dir_nofollow(const fs::path &path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Names in directory `dir` (without "." and ".."); empty when it cannot be read.
std::vector<std::string> list_names(const fs::path &dir, const Logger &log) {
  std::vector<std::string> names;
  DIR *d = ::opendir(dir.c_str());
  if (d == nullptr) {
    log.warn(errno_message("archive cache: cannot list " + dir.string(), errno));
    return names;
  }
  while (dirent *entry = ::readdir(d)) {
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    names.emplace_back(entry->d_name);
  }
  ::closedir(d);
  return names;
}

void make_directories(const fs::path &path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) fail(Status::kIo, "cannot create directory " + path.string() + ": " + ec.message());
}

void remove_logged(const fs::path &path, const Logger &log) {
  for (const std::string &failure : fsx::remove_tree(path)) {
    log.warn("archive cache: cleanup: " + failure);
  }
}

// The tree size recorded in a lock file, if any.
std::optional<uint64_t> read_size(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return std::nullopt;
  char *end = nullptr;
  errno = 0;
  unsigned long long value = std::strtoull(buf, &end, 10);
  if (errno != 0 || end == buf || *end != '\n') return std::nullopt;
  return value;
}

void write_size(int fd, uint64_t bytes, const fs::path &path) {
  std::string text = std::to_string(bytes) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    fail(Status::kIo, errno_message("cannot write " + path.string(), errno));
  }
}

// Marks the tree whose lock file is `fd` as just used. An explicit time keeps LRU order
// finer than the file system's clock tick; only the owner may set one, others get "now".
void touch(int fd) {
  struct timespec times[2] = {};
  times[0].tv_nsec = UTIME_OMIT;
  ::clock_gettime(CLOCK_REALTIME, &times[1]);
  if (::futimens(fd, times) != 0 && errno == EPERM) ::futimens(fd, nullptr);
}

// Adds up the disk space of a tree and, with `seal`, takes the write bits off everything
// below its root (the root itself must stay writable until it has been renamed into trees/:
// moving a directory to another parent rewrites its "..").
class TreeWalk {
 public:
  explicit TreeWalk(bool seal) : seal_(seal) {}

  uint64_t run(const fs::path &root) {
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

 private:
  void add(const struct stat &st) {
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && !seen_.insert({st.st_dev, st.st_ino}).second) {
      return;  // another name of a file already counted
    }
    bytes_ += static_cast<uint64_t>(st.st_blocks) * 512;
  }

  void walk(int dir_fd, const fs::path &where) {
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
      // Only directories are sealed: files keep the modes the archive gave them (CONFORMANCE
      // C3, A4), and without write access to its directory no entry can be added, removed
      // or replaced. A directory's write bits can go before or after its contents, since
      // changing a mode needs no write access to the parent.
      if (seal_ && S_ISDIR(st.st_mode) && (st.st_mode & 0222) != 0 &&
          ::fchmodat(dir_fd, name.c_str(), st.st_mode & 07555, 0) != 0) {
        fail(Status::kIo,
             errno_message("cannot make " + (where / name).string() + " read-only", errno));
      }
    }
  }

  bool seal_;
  uint64_t bytes_ = 0;
  std::set<std::pair<dev_t, ino_t>> seen_;
};

}  // namespace

// Who a file is, as far as the memo and the "changed meanwhile" checks are concerned.
struct ArchiveCache::Identity {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;

  static Identity of(const struct stat &st) {
    return Identity{st.st_dev, st.st_ino, st.st_size, ns_of(st.st_mtim), ns_of(st.st_ctim)};
  }
  // Same bytes, as far as can be told without reading them. ctime is left out: chmod or a
  // new hard link during an extraction change it, not the bytes.
  bool same_content(const Identity &o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
  }
  bool operator==(const Identity &o) const { return same_content(o) && ctime_ns == o.ctime_ns; }
  std::string memo_name() const {
    return std::to_string(static_cast<uint64_t>(dev)) + "-" +
           std::to_string(static_cast<uint64_t>(ino)) + "-" + std::to_string(size) + "-" +
           std::to_string(mtime_ns) + "-" + std::to_string(ctime_ns);
  }
};

ArchiveCache::ArchiveCache(Options options, Logger log)
    : max_bytes_(options.max_bytes), log_(std::move(log)) {
  if (options.dir.empty()) fail(Status::kConfig, "pyenv.cache.dir: empty path");
  std::error_code ec;
  dir_ = fs::absolute(options.dir, ec).lexically_normal();
  if (ec) fail(Status::kIo, "cache directory " + options.dir.string() + ": " + ec.message());
  if (!dir_.has_filename()) dir_ = dir_.parent_path();  // drop a trailing '/'
  for (const char *sub : {"trees", "locks", "staging", "memo"}) make_directories(dir_ / sub);
}

fs::path ArchiveCache::lock_path(const std::string &key) const {
  return dir_ / "locks" / (key + ".lock");
}

fs::path ArchiveCache::tree_path(const std::string &key) const { return dir_ / "trees" / key; }

Lease ArchiveCache::acquire(const fs::path &archive, const Extract &extract) {
  const auto start = std::chrono::steady_clock::now();
  sweep_staging();
  Identity identity;
  const std::string key = key_of(archive, identity);
  const fs::path lock = lock_path(key);
  const fs::path tree = tree_path(key);

  UniqueFd fd;
  open_locked(lock, LockType::kShared, kUseByte, /*wait=*/true, /*create=*/true, fd);
  bool hit = is_dir_nofollow(tree);
  bool waited = false;
  std::optional<uint64_t> bytes;
  if (!hit) {
    if (!lock_range(fd.get(), LockType::kExclusive, kExtractByte, false, lock)) {
      log_.debug("archive cache: waiting for another extraction of " + key);
      waited = true;
      lock_range(fd.get(), LockType::kExclusive, kExtractByte, true, lock);
    }
    hit = is_dir_nofollow(tree);
    if (!hit) {
      try {
        bytes = extract_and_publish(fd.get(), key, archive, identity, extract);
      } catch (...) {
        // Leave no lock file behind, unless someone else is waiting on it.
        try {
          if (lock_range(fd.get(), LockType::kExclusive, kBothBytes, false, lock) &&
              !is_dir_nofollow(tree)) {
            ::unlink(lock.c_str());
          }
        } catch (const Error &) {
        }
        throw;
      }
    }
    unlock_range(fd.get(), kExtractByte, lock);
  }
  if (!bytes) bytes = read_size(fd.get());
  if (!bytes) bytes = TreeWalk(false).run(tree);
  touch(fd.get());

  const std::string outcome = !hit     ? "miss, extracted " + std::to_string(*bytes) + " bytes"
                              : waited ? "hit after waiting for another extraction"
                                       : "hit";
  log_.info("archive cache: " + archive.string() + " [" + key.substr(0, 12) + "] " + outcome +
            " in " + format_seconds(seconds_since(start)));
  Lease lease(std::move(fd), tree, key, hit, *bytes);
  if (!hit) {
    try {
      evict(key);
    } catch (const Error &e) {
      log_.warn(std::string("archive cache: eviction failed: ") + e.what());
    }
  }
  return lease;
}

std::string ArchiveCache::key_of(const fs::path &archive, Identity &identity) {
  const std::string what = "archive " + archive.string();
  struct stat st {};
  if (::stat(archive.c_str(), &st) != 0) {
    fail(errno == ENOENT || errno == ENOTDIR ? Status::kConfig : Status::kIo,
         errno_message(what, errno));
  }
  if (!S_ISREG(st.st_mode)) fail(Status::kIo, what + ": not a regular file");

  const fs::path memo_dir = dir_ / "memo";
  {
    UniqueFd memo(::open((memo_dir / Identity::of(st).memo_name()).c_str(), O_RDONLY | O_CLOEXEC));
    char buf[kKeyLength + 1] = {};
    if (memo.valid() && ::read(memo.get(), buf, kKeyLength) == static_cast<ssize_t>(kKeyLength) &&
        is_key(std::string(buf, kKeyLength))) {
      identity = Identity::of(st);
      log_.debug("archive cache: " + archive.string() + " known (memo), not hashed");
      return std::string(buf, kKeyLength);
    }
  }

  for (int attempt = 1;; ++attempt) {
    const int64_t began = realtime_ns();
    const auto start = std::chrono::steady_clock::now();
    UniqueFd fd(::open(archive.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) fail(Status::kIo, errno_message(what, errno));
    struct stat before {};
    struct stat after {};
    if (::fstat(fd.get(), &before) != 0) fail(Status::kIo, errno_message(what, errno));
    uint64_t size = 0;
    std::string key = sha256_fd(fd.get(), what, &size);
    if (::fstat(fd.get(), &after) != 0) fail(Status::kIo, errno_message(what, errno));
    hashes_.fetch_add(1);
    const double seconds = seconds_since(start);
    log_.debug("archive cache: hashed " + archive.string() + ": " + std::to_string(size) +
               " bytes in " + format_seconds(seconds) + " (" +
               std::to_string(static_cast<uint64_t>(size / 1e6 / std::max(seconds, 1e-9))) +
               " MB/s)");
    if (Identity::of(before) == Identity::of(after)) {
      identity = Identity::of(before);
      const int64_t settle = std::chrono::nanoseconds(kMemoSettle).count();
      if (std::max(identity.mtime_ns, identity.ctime_ns) + settle <= began) {
        // Written under a temporary name and renamed, so readers see all of it or nothing.
        const fs::path temp = memo_dir / ("." + fsx::random_uuid() + ".tmp");
        const std::string text = key + "\n";
        UniqueFd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        bool written = out.valid() && ::write(out.get(), text.data(), text.size()) ==
                                          static_cast<ssize_t>(text.size());
        out.reset();
        if (!written || ::rename(temp.c_str(), (memo_dir / identity.memo_name()).c_str()) != 0) {
          log_.warn(errno_message("archive cache: cannot write memo " + temp.string(), errno));
          ::unlink(temp.c_str());
        }
      }
      return key;
    }
    if (attempt == 2) fail(Status::kIo, what + ": changed while being hashed");
  }
}

uint64_t ArchiveCache::extract_and_publish(int lock_fd, const std::string &key,
                                           const fs::path &archive, const Identity &identity,
                                           const Extract &extract) {
  // We hold the key's extract byte: any staging of this key is a dead extractor's.
  remove_staging_of(key);
  const fs::path stage = dir_ / "staging" / (key + "." + fsx::random_uuid());
  const fs::path destination = stage / "tree";
  const fs::path tree = tree_path(key);
  fsx::make_directory(stage);
  uint64_t bytes = 0;
  struct stat root {};
  try {
    extract(destination);
    if (::lstat(destination.c_str(), &root) != 0 || !S_ISDIR(root.st_mode)) {
      fail(Status::kIo, "extraction of archive " + archive.string() +
                            " did not create the directory " + destination.string());
    }
    struct stat now {};
    if (::stat(archive.c_str(), &now) != 0 || !identity.same_content(Identity::of(now))) {
      fail(Status::kIo, "archive " + archive.string() +
                            " changed while being extracted; the extracted tree was discarded");
    }
    bytes = TreeWalk(true).run(destination);
    write_size(lock_fd, bytes, lock_path(key));
    if (::rename(destination.c_str(), tree.c_str()) != 0) {
      fail(Status::kIo, errno_message("cannot publish " + tree.string(), errno));
    }
  } catch (...) {
    remove_logged(stage, log_);
    throw;
  }
  // Published: nothing below undoes that, so failures are only reported.
  if (::chmod(tree.c_str(), root.st_mode & 07555) != 0) {
    log_.warn(errno_message("archive cache: cannot make " + tree.string() + " read-only", errno));
  }
  remove_logged(stage, log_);
  return bytes;
}

void ArchiveCache::remove_staging_of(const std::string &key) {
  const fs::path staging = dir_ / "staging";
  for (const std::string &name : list_names(staging, log_)) {
    if (key_prefix(name) != key) continue;
    log_.info("archive cache: removing stale staging " + (staging / name).string());
    remove_logged(staging / name, log_);
  }
}

void ArchiveCache::sweep_staging() {
  const fs::path staging = dir_ / "staging";
  for (const std::string &name : list_names(staging, log_)) {
    const std::string key = key_prefix(name);
    if (key.empty()) continue;
    // A live extractor (or evictor) holds the extract byte for as long as its staging
    // exists, and its lock file cannot be unlinked meanwhile.
    UniqueFd fd;
    if (open_locked(lock_path(key), LockType::kExclusive, kExtractByte, false, false, fd) ==
        LockResult::kBusy) {
      continue;
    }
    log_.info("archive cache: removing stale staging " + (staging / name).string());
    remove_logged(staging / name, log_);
  }
}

void ArchiveCache::evict(const std::string &keep) {
  // One pass at a time on the machine, so that two passes do not both evict for one excess.
  UniqueFd pass;
  open_locked(dir_ / "evict.lock", LockType::kExclusive, kWholeFile, true, true, pass);

  struct Entry {
    std::string key;
    uint64_t bytes;
    int64_t last_use;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  for (const std::string &name : list_names(dir_ / "trees", log_)) {
    if (!is_key(name)) continue;
    Entry entry{name, 0, 0};
    std::optional<uint64_t> size;
    UniqueFd fd(::open(lock_path(name).c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (fd.valid() && ::fstat(fd.get(), &st) == 0) {
      size = read_size(fd.get());
      entry.last_use = ns_of(st.st_mtim);
    }
    if (!size) {
      // Only a tree tampered with lacks its record: measure it, and let it go first.
      try {
        size = TreeWalk(false).run(tree_path(name));
      } catch (const Error &) {
        continue;  // evicted meanwhile
      }
      entry.last_use = 0;
    }
    entry.bytes = *size;
    total += entry.bytes;
    entries.push_back(std::move(entry));
  }

  if (total > max_bytes_) {
    std::sort(entries.begin(), entries.end(),
              [](const Entry &a, const Entry &b) { return a.last_use < b.last_use; });
    for (const Entry &entry : entries) {
      if (total <= max_bytes_) break;
      if (entry.key == keep || !try_evict(entry.key)) continue;
      total -= std::min(total, entry.bytes);
      log_.info("archive cache: evicted " + entry.key.substr(0, 12) + " (" +
                std::to_string(entry.bytes) + " bytes)");
    }
    if (total > max_bytes_) {
      log_.warn("archive cache: " + std::to_string(total) + " bytes in trees in use, over " +
                "pyenv.cache.max-bytes = " + std::to_string(max_bytes_));
    }
  }
  remove_orphan_locks();
}

bool ArchiveCache::try_evict(const std::string &key) {
  const fs::path lock = lock_path(key);
  UniqueFd fd;
  if (open_locked(lock, LockType::kExclusive, kBothBytes, false, true, fd) != LockResult::kLocked) {
    return false;  // in use, or being extracted
  }
  const fs::path tree = tree_path(key);
  struct stat st {};
  if (::lstat(tree.c_str(), &st) != 0) {
    ::unlink(lock.c_str());
    return true;  // another pass evicted it before us
  }
  // Moved out first, so that a crash in the middle of the removal leaves staging (swept
  // later), never a half-removed tree looking published. Moving a directory to another
  // parent needs it writable.
  const fs::path trash = dir_ / "staging" / (key + "." + fsx::random_uuid());
  if (::chmod(tree.c_str(), (st.st_mode & 07777) | S_IRWXU) != 0 ||
      ::rename(tree.c_str(), trash.c_str()) != 0) {
    log_.warn(errno_message("archive cache: cannot evict " + tree.string(), errno));
    return false;
  }
  remove_logged(trash, log_);
  ::unlink(lock.c_str());
  return true;
}

void ArchiveCache::remove_orphan_locks() {
  // Lock files without a tree: left by failed extractions that had waiters, and by sweeps.
  for (const std::string &name : list_names(dir_ / "locks", log_)) {
    const std::string key = key_prefix(name);
    if (key.empty() || name != key + ".lock" || is_dir_nofollow(tree_path(key))) continue;
    UniqueFd fd;
    if (open_locked(lock_path(key), LockType::kExclusive, kBothBytes, false, false, fd) ==
            LockResult::kLocked &&
        !is_dir_nofollow(tree_path(key))) {
      ::unlink(lock_path(key).c_str());
    }
  }
}

}  // namespace pyenv::cache
