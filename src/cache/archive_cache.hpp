// The content-addressed archive cache (DESIGN.md 5.3): each distinct archive is extracted
// once per machine and its tree shared, read-only, by every task, job and process.
//
// Layout under Options::dir:
//   trees/<key>/         published trees, sealed: no directory has a write bit, so no entry
//                        can be added, removed or replaced; files keep the archive's modes.
//                        <key> = hex SHA-256 of the archive
//   locks/<key>.lock     one lock file per key; its content is the tree's size in bytes
//                        (decimal), its modification time the tree's last use (for LRU)
//   staging/<key>.<uuid>/  extractions in progress, and trees being evicted
//   memo/<dev>-<ino>-<size>-<mtime ns>-<ctime ns>   holds the key of that file's bytes
//   evict.lock           serialises eviction passes
//
// Locking protocol (Linux OFD byte-range locks, see file_lock.hpp; one open() of the lock
// file per acquire, so every Lease is its own lock owner, threads included):
//   byte 0 "use":     shared by every Lease for its whole life and by an acquire from its
//                     first look at the tree on; exclusive only for eviction and clean-up.
//   byte 1 "extract": exclusive while extracting, and while staging of the key is removed.
// acquire: shared byte 0 (waits only for an eviction of that key) -> tree present: hit.
//   Absent: exclusive byte 1 (waits for a running extraction) -> look again (present: hit,
//   someone else extracted it) -> else remove the key's stale staging, extract into
//   staging/<key>.<uuid>/tree, seal it, record its size in the lock file, rename
//   it to trees/<key>, release byte 1. Byte 0 is held throughout, so no evictor can remove
//   the tree between its publication and its use: no lock is ever released and re-taken to
//   change its type.
// evict: exclusive bytes 0-1 without waiting (busy = in use: skip), then, still holding
//   them, rename the tree into staging/, remove it, and unlink the lock file. Whoever
//   opened the unlinked lock file meanwhile notices (the file at the path is another or
//   none) and opens it again; see open_locked().
// Stale staging: a staging/<key>.* entry whose byte 1 can be taken (or whose lock file is
//   gone) belongs to nobody alive and is removed; every acquire sweeps staging/.
//
// Key: the SHA-256 of the archive's bytes (OpenSSL, streamed in constant memory). The memo
// adds ctime to (device, inode, size, mtime): ctime cannot be set by users, so a file put
// back with the same size and an mtime copied from the old one (cp -p, tar) is still seen
// as new. A file is only memoised once its last change (mtime, ctime) is kMemoSettle older
// than the start of the hashing: a change within the same file-system clock tick as the
// hashing would leave the times as they were, and must not be mistaken for the old bytes.
//
// Files that change under us: one changed while being hashed is hashed again (twice at
// most, then Error(kIo)); one replaced while `extract` reads it is noticed afterwards (its
// identity is compared again) and the extraction thrown away with Error(kIo).
// Limits: published trees are not fsync'ed (a cache on local disk, not a store); memo/
// entries of files that no longer exist are never removed (about 100 bytes each); a waiter
// waits as long as the extraction it waits for takes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "cache/file_lock.hpp"
#include "util/log.hpp"

namespace pyenv::cache {

namespace fs = std::filesystem;

struct Options {
  fs::path dir;        // pyenv.cache.dir (created if missing)
  uint64_t max_bytes;  // pyenv.cache.max-bytes: budget of published trees, in bytes on disk
};

// How long a file must have been left alone before its (identity -> key) is memoised.
constexpr std::chrono::milliseconds kMemoSettle{100};

// A use of one published tree: holds a shared lock on it, so no eviction (in any process)
// removes the tree while the lease lives. Movable, not copyable. Releasing = destroying.
// A fork()ed child shares the lease's lock until it exits or closes its descriptors.
class Lease {
 public:
  Lease(Lease &&) noexcept = default;
  Lease &operator=(Lease &&) noexcept = default;
  Lease(const Lease &) = delete;
  Lease &operator=(const Lease &) = delete;
  ~Lease() = default;

  // Absolute path of the published, sealed tree.
  const fs::path &tree() const { return tree_; }
  // True when this acquire extracted nothing (also when it waited for another's extraction).
  bool hit() const { return hit_; }
  // Hex SHA-256 of the archive's bytes.
  const std::string &key() const { return key_; }
  // Space the tree takes on disk (allocated blocks; hard links counted once).
  uint64_t bytes() const { return bytes_; }

 private:
  friend class ArchiveCache;
  Lease(UniqueFd lock, fs::path tree, std::string key, bool hit, uint64_t bytes)
      : lock_(std::move(lock)),
        tree_(std::move(tree)),
        key_(std::move(key)),
        hit_(hit),
        bytes_(bytes) {}

  UniqueFd lock_;  // the lock file, with byte 0 held shared
  fs::path tree_;
  std::string key_;
  bool hit_ = false;
  uint64_t bytes_ = 0;
};

class ArchiveCache {
 public:
  // Creates the cache's directories when missing. Throws Error(kIo) naming the path, or
  // Error(kConfig) for an empty `options.dir`.
  ArchiveCache(Options options, Logger log);

  using Extract = std::function<void(const fs::path &destination)>;

  // The extracted tree of `archive`. When the tree is absent, exactly one caller on the
  // machine (threads and processes) runs `extract(destination)`; `destination` does not
  // exist and `extract` must create it (archive::extract does); the other callers wait and
  // then use its result. An exception from `extract` propagates unchanged, after its staging
  // is removed; callers that were waiting then try the extraction themselves. After
  // publishing, evicts the least recently used trees not in use while the total exceeds
  // max_bytes (eviction failures are logged, never thrown). Throws Error(kConfig) when
  // `archive` does not exist, Error(kIo) for other file-system failures.
  Lease acquire(const fs::path &archive, const Extract &extract);

  // How many archives this object has hashed (memo lookups that hit do not count).
  uint64_t hash_count() const { return hashes_.load(); }

  const fs::path &dir() const { return dir_; }

 private:
  struct Identity;

  std::string key_of(const fs::path &archive, Identity &identity);
  uint64_t extract_and_publish(int lock_fd, const std::string &key, const fs::path &archive,
                               const Identity &identity, const Extract &extract);
  void sweep_staging();
  void remove_staging_of(const std::string &key);
  void evict(const std::string &keep);
  bool try_evict(const std::string &key);
  void remove_orphan_locks();

  fs::path lock_path(const std::string &key) const;
  fs::path tree_path(const std::string &key) const;

  fs::path dir_;
  uint64_t max_bytes_;
  Logger log_;
  std::atomic<uint64_t> hashes_{0};
};

}  // namespace pyenv::cache
