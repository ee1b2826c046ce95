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

#include "cache/cache_files.hpp"
#include "cache/sha256.hpp"
#include "cache/tree_walk.hpp"
#include "error.hpp"
#include "util/fs.hpp"

namespace pyenv::cache {
namespace {

constexpr LockRange kUseByte{0, 1};
constexpr LockRange kExtractByte{1, 1};
constexpr LockRange kBothBytes{0, 2};
constexpr LockRange kWholeFile{0, 0};

int64_t realtime_ns() {
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return ns_of(now);
}

void write_size(int fd, uint64_t bytes, const fs::path &path) {
  std::string text = std::to_string(bytes) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    fail(Status::kIo, errno_message("cannot write " + path.string(), errno));
  }
}

// Marks the tree whose lock file is `fd` as just used. An explicit time keeps LRU order
// finer than the file system's clock tick.
void touch(int fd) {
  struct timespec times[2] = {};
  times[0].tv_nsec = UTIME_OMIT;
  ::clock_gettime(CLOCK_REALTIME, &times[1]);
  ::futimens(fd, times);
}

}  // namespace

const char *kind_name(Kind kind) {
  return kind == Kind::kRequirements ? "requirements" : "archive";
}

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
  const fs::path dir = fs::absolute(options.dir, ec);
  if (ec) fail(Status::kIo, "cache directory " + options.dir.string() + ": " + ec.message());
  root_ = PrivateDir::open(dir, options.create);
  trees_ = root_.sub("trees", true);
  locks_ = root_.sub("locks", true);
  staging_ = root_.sub("staging", true);
  memo_ = root_.sub("memo", true);
  info_ = root_.sub("info", true);
  // A cache made earlier on a file system now read-only gets this far.
  if (::faccessat(locks_.fd(), ".", W_OK, AT_EACCESS) != 0) {
    fail(Status::kIo, errno_message("archive cache " + root_.path().string(), errno));
  }
}

fs::path ArchiveCache::lock_path(const std::string &key) const {
  return locks_.path() / (key + ".lock");
}

fs::path ArchiveCache::tree_path(const std::string &key) const { return trees_.path() / key; }

LockResult ArchiveCache::lock_key(const std::string &key, LockType type, LockRange range, bool wait,
                                  bool create, UniqueFd &out) {
  const std::string name = key + ".lock";
  for (int attempt = 1;; ++attempt) {
    std::string why;
    const LockResult result =
        open_locked(locks_.fd(), name, lock_path(key), type, range, wait, create, out, &why);
    if (result != LockResult::kUntrusted) return result;
    // Only we can write in locks/, so this was planted by root or left by a tampering
    // tool: it is not ours to trust, and not someone else's to keep.
    if (attempt == 3) throw Untrusted(lock_path(key), why);
    log_.warn("archive cache: lock file " + lock_path(key).string() + " " + why + "; replacing it");
    if (::unlinkat(locks_.fd(), name.c_str(), 0) != 0 && errno != ENOENT) {
      fail(Status::kIo, errno_message("cannot remove " + lock_path(key).string(), errno));
    }
  }
}

ArchiveCache::TreeState ArchiveCache::tree_state(const std::string &key, std::string *why) {
  struct stat st {};
  if (::fstatat(trees_.fd(), key.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return TreeState::kAbsent;
    fail(Status::kIo, errno_message("cannot stat " + tree_path(key).string(), errno));
  }
  std::string problem = why_not_private_dir(st);
  if (problem.empty()) return TreeState::kGood;
  if (why != nullptr) *why = std::move(problem);
  return TreeState::kBad;
}

void ArchiveCache::discard_tree(const std::string &key, const std::string &why) {
  log_.warn("archive cache: " + tree_path(key).string() + " " + why +
            "; discarded, never used, and extracted again");
  const std::string trash = key + "." + fsx::random_uuid();
  // Moved out whole first (a link is moved, not followed), then removed below staging/.
  if (::renameat(trees_.fd(), key.c_str(), staging_.fd(), trash.c_str()) != 0) {
    fail(Status::kIo,
         errno_message("archive cache: cannot discard " + tree_path(key).string(), errno));
  }
  remove_logged(trash);
}

void ArchiveCache::remove_logged(const std::string &staging_name) {
  for (const std::string &failure : fsx::remove_tree(staging_.path() / staging_name)) {
    log_.warn("archive cache: cleanup: " + failure);
  }
}

Lease ArchiveCache::acquire(const fs::path &archive, const Extract &extract,
                            const std::optional<Source> &source) {
  const auto start = std::chrono::steady_clock::now();
  sweep_staging();
  Identity identity;
  const std::string key = key_of(archive, identity);
  const fs::path lock = lock_path(key);
  const fs::path tree = tree_path(key);

  UniqueFd fd;
  lock_key(key, LockType::kShared, kUseByte, /*wait=*/true, /*create=*/true, fd);
  bool hit = tree_state(key) == TreeState::kGood;
  bool waited = false;
  std::optional<uint64_t> bytes;
  if (!hit) {
    if (!lock_range(fd.get(), LockType::kExclusive, kExtractByte, false, lock)) {
      log_.debug("archive cache: waiting for another extraction of " + key);
      waited = true;
      lock_range(fd.get(), LockType::kExclusive, kExtractByte, true, lock);
    }
    std::string why;
    const TreeState state = tree_state(key, &why);
    hit = state == TreeState::kGood;
    if (!hit) {
      try {
        if (state == TreeState::kBad) discard_tree(key, why);
        bytes = extract_and_publish(fd.get(), key, archive, identity, extract);
      } catch (...) {
        // Leave no lock file behind, unless someone else is waiting on it.
        try {
          if (lock_range(fd.get(), LockType::kExclusive, kBothBytes, false, lock) &&
              tree_state(key) == TreeState::kAbsent) {
            ::unlinkat(locks_.fd(), (key + ".lock").c_str(), 0);
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
  try {
    record_source(key, source.value_or(Source{Kind::kArchive, archive}));
  } catch (const Error &e) {
    log_.warn(std::string("archive cache: ") + e.what());
  }

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

void ArchiveCache::record_source(const std::string &key, const Source &source) {
  Record record = read_record(info_.fd(), key);
  const std::string path = source.path.string();
  const std::string kind = kind_name(source.kind);
  // Written only for a path not yet recorded: a warm open writes nothing, since a file
  // created and renamed on a disk busy writing back can take milliseconds.
  const bool known =
      std::find(record.sources.begin(), record.sources.end(), path) != record.sources.end();
  if (record.kind == kind && known) return;
  record.kind = kind;
  if (!known) record.sources.insert(record.sources.begin(), path);
  if (record.sources.size() > kMaxSources) record.sources.resize(kMaxSources);
  write_record(info_.fd(), key, info_.path(), record);
}

std::optional<std::string> ArchiveCache::read_memo(const std::string &name) {
  std::string why;
  std::optional<std::string> text = read_private_file(memo_.fd(), name, kKeyLength + 1, &why);
  if (!why.empty()) {
    log_.warn("archive cache: memo " + (memo_.path() / name).string() + " " + why +
              "; ignored and removed");
    ::unlinkat(memo_.fd(), name.c_str(), 0);
    return std::nullopt;
  }
  if (!text || text->size() != kKeyLength + 1 || text->back() != '\n') return std::nullopt;
  text->pop_back();
  if (!is_key(*text)) return std::nullopt;
  return text;
}

void ArchiveCache::write_memo(const std::string &name, const std::string &key) {
  try {
    write_private_file(memo_.fd(), name, memo_.path(), key + "\n");
  } catch (const Error &e) {
    log_.warn(std::string("archive cache: cannot write memo: ") + e.what());
  }
}

std::string ArchiveCache::key_of(const fs::path &archive, Identity &identity) {
  const std::string what = "archive " + archive.string();
  struct stat st {};
  if (::stat(archive.c_str(), &st) != 0) {
    fail(errno == ENOENT || errno == ENOTDIR ? Status::kConfig : Status::kIo,
         errno_message(what, errno));
  }
  if (!S_ISREG(st.st_mode)) fail(Status::kIo, what + ": not a regular file");

  if (std::optional<std::string> known = read_memo(Identity::of(st).memo_name())) {
    identity = Identity::of(st);
    log_.debug("archive cache: " + archive.string() + " known (memo), not hashed");
    return *known;
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
        write_memo(identity.memo_name(), key);
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
  const std::string stage_name = key + "." + fsx::random_uuid();
  const fs::path stage = staging_.path() / stage_name;
  const fs::path destination = stage / "tree";
  UniqueFd stage_fd = open_private_dir_at(staging_.fd(), stage_name, stage, /*create=*/true);
  uint64_t bytes = 0;
  struct stat root {};
  try {
    const std::optional<uint64_t> sealed = extract(destination);
    if (::fstatat(stage_fd.get(), "tree", &root, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISDIR(root.st_mode)) {
      fail(Status::kIo, "extraction of archive " + archive.string() +
                            " did not create the directory " + destination.string());
    }
    struct stat now {};
    if (::stat(archive.c_str(), &now) != 0 || !identity.same_content(Identity::of(now))) {
      fail(Status::kIo, "archive " + archive.string() +
                            " changed while being extracted; the extracted tree was discarded");
    }
    bytes = sealed ? *sealed : TreeWalk(true).run(destination);
    write_size(lock_fd, bytes, lock_path(key));
    if (::renameat(stage_fd.get(), "tree", trees_.fd(), key.c_str()) != 0) {
      fail(Status::kIo, errno_message("cannot publish " + tree_path(key).string(), errno));
    }
  } catch (...) {
    stage_fd.reset();
    remove_logged(stage_name);
    throw;
  }
  // Published: nothing below undoes that, so failures are only reported.
  if (::fchmodat(trees_.fd(), key.c_str(), root.st_mode & 07555, 0) != 0) {
    log_.warn(errno_message("archive cache: cannot make " + tree_path(key).string() + " read-only",
                            errno));
  }
  stage_fd.reset();
  remove_logged(stage_name);
  return bytes;
}

void ArchiveCache::remove_staging_of(const std::string &key) {
  for (const std::string &name : list_names(staging_.fd(), staging_.path(), log_)) {
    if (key_prefix(name) != key) continue;
    log_.info("archive cache: removing stale staging " + (staging_.path() / name).string());
    remove_logged(name);
  }
}

void ArchiveCache::sweep_staging() {
  for (const std::string &name : list_names(staging_.fd(), staging_.path(), log_)) {
    const std::string key = key_prefix(name);
    if (key.empty()) continue;
    // A live extractor (or evictor) holds the extract byte for as long as its staging
    // exists, and its lock file cannot be unlinked meanwhile.
    UniqueFd fd;
    if (lock_key(key, LockType::kExclusive, kExtractByte, false, false, fd) == LockResult::kBusy) {
      continue;
    }
    log_.info("archive cache: removing stale staging " + (staging_.path() / name).string());
    remove_logged(name);
  }
}

void ArchiveCache::evict(const std::string &keep) {
  // One pass at a time on the machine, so that two passes do not both evict for one excess.
  UniqueFd pass;
  open_evict_lock(pass);
  std::vector<EntryInfo> all = entries(/*count_holders=*/false);
  uint64_t total = 0;
  for (const EntryInfo &entry : all) total += entry.bytes;
  if (total > max_bytes_) {
    for (const EntryInfo &entry : all) {  // least recently used first
      if (total <= max_bytes_) break;
      if (entry.key == keep || try_evict(entry.key) != Evicted::kYes) continue;
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

void ArchiveCache::open_evict_lock(UniqueFd &out) {
  for (int attempt = 1;; ++attempt) {
    std::string why;
    if (open_locked(root_.fd(), "evict.lock", root_.path() / "evict.lock", LockType::kExclusive,
                    kWholeFile, true, true, out, &why) == LockResult::kLocked) {
      return;
    }
    if (attempt == 3) throw Untrusted(root_.path() / "evict.lock", why);
    log_.warn("archive cache: " + (root_.path() / "evict.lock").string() + " " + why +
              "; replacing it");
    ::unlinkat(root_.fd(), "evict.lock", 0);
  }
}

ArchiveCache::Evicted ArchiveCache::try_evict(const std::string &key) {
  UniqueFd fd;
  if (lock_key(key, LockType::kExclusive, kBothBytes, false, true, fd) != LockResult::kLocked) {
    return Evicted::kBusy;  // in use, or being extracted
  }
  const std::string lock_name = key + ".lock";
  struct stat st {};
  if (::fstatat(trees_.fd(), key.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    ::unlinkat(locks_.fd(), lock_name.c_str(), 0);
    ::unlinkat(info_.fd(), key.c_str(), 0);
    return Evicted::kYes;  // another pass evicted it before us
  }
  // Moved out first, so that a crash in the middle of the removal leaves staging (swept
  // later), never a half-removed tree looking published. Moving a directory to another
  // parent needs it writable; a link (planted) is moved as it is.
  const std::string trash = key + "." + fsx::random_uuid();
  if ((S_ISDIR(st.st_mode) &&
       ::fchmodat(trees_.fd(), key.c_str(), (st.st_mode & 07777) | S_IRWXU, 0) != 0) ||
      ::renameat(trees_.fd(), key.c_str(), staging_.fd(), trash.c_str()) != 0) {
    log_.warn(errno_message("archive cache: cannot evict " + tree_path(key).string(), errno));
    return Evicted::kFailed;
  }
  remove_logged(trash);
  ::unlinkat(locks_.fd(), lock_name.c_str(), 0);
  ::unlinkat(info_.fd(), key.c_str(), 0);
  return Evicted::kYes;
}

void ArchiveCache::remove_orphan_locks() {
  // Lock files without a tree: left by failed extractions that had waiters, and by sweeps.
  for (const std::string &name : list_names(locks_.fd(), locks_.path(), log_)) {
    const std::string key = key_prefix(name);
    if (key.empty() || name != key + ".lock" || tree_state(key) != TreeState::kAbsent) continue;
    UniqueFd fd;
    if (lock_key(key, LockType::kExclusive, kBothBytes, false, false, fd) == LockResult::kLocked &&
        tree_state(key) == TreeState::kAbsent) {
      ::unlinkat(locks_.fd(), name.c_str(), 0);
      ::unlinkat(info_.fd(), key.c_str(), 0);
    }
  }
}

}  // namespace pyenv::cache
