// The content-addressed archive cache (DESIGN.md 5.3): each distinct archive is extracted
// once per machine and its tree shared, read-only, by every task, job and process.
//
// Layout under Options::dir, a private directory of the effective uid (private_dir.hpp;
// DESIGN.md 5.4), every part of it reached with openat-family calls from the root's
// descriptor and checked before it is read back:
//   trees/<key>/         published trees, sealed: no directory has a write bit, so no entry
//                        can be added, removed or replaced; files keep the archive's modes
//                        minus group and other write. <key> = hex SHA-256 of the archive.
//                        A tree that is not a private directory of ours is discarded and
//                        extracted again, never used.
//   locks/<key>.lock     one lock file per key; its content is the tree's size in bytes
//                        (decimal), its modification time the tree's last use (for LRU)
//   info/<key>           what the tree is ("kind archive|requirements") and the paths it was
//                        opened from ("source <path>", the most recently first seen first,
//                        at most kMaxSources), for operators
//   staging/<key>.<uuid>/  extractions in progress, and trees being evicted
//   memo/<dev>-<ino>-<size>-<mtime ns>-<ctime ns>   holds the key of that file's bytes
//   evict.lock           serialises eviction passes
// Lock files, memo and info records are used only when they are private files of ours
// (regular, ours, writable by nobody else, one name): a hard link planted there cannot make
// a write of ours land in a file elsewhere. Others are removed and made anew.
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
#include <optional>
#include <string>
#include <vector>

#include "cache/file_lock.hpp"
#include "cache/private_dir.hpp"
#include "util/log.hpp"

namespace pyenv::cache {

namespace fs = std::filesystem;

struct Options {
  fs::path dir;        // pyenv.cache.dir (created 0700 if missing, when `create`)
  uint64_t max_bytes;  // pyenv.cache.max-bytes: budget of published trees, in bytes on disk
  bool create = true;  // false: a missing cache is Error(kIo) with ENOENT
};

// How long a file must have been left alone before its (identity -> key) is memoised.
constexpr std::chrono::milliseconds kMemoSettle{100};

// What a cached tree holds, for operators (info/<key>).
enum class Kind { kArchive, kRequirements };
const char *kind_name(Kind kind);

// What an acquire records about the tree it returns: its kind and the path the job named
// (the archive, or the requirements file of an install).
struct Source {
  Kind kind = Kind::kArchive;
  fs::path path;
};

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

// One published tree as operators see it.
struct EntryInfo {
  std::string key;
  std::string kind;                  // "archive", "requirements" or "unknown"
  uint64_t bytes = 0;                // on disk
  int64_t last_use_ns = 0;           // CLOCK_REALTIME of the last acquire
  unsigned leases = 0;               // locks held on it now (a task's open holds one)
  unsigned processes = 0;            // distinct processes holding them (those this user may see)
  std::vector<std::string> sources;  // paths it was opened from, most recently first seen first
};

class ArchiveCache {
 public:
  // Opens the cache, creating its directories when missing (and `options.create`). Throws
  // Untrusted (naming the directory, its owner and mode) when the cache directory, one of
  // its ancestors or one of its parts fails the checks of private_dir.hpp; Error(kIo)
  // naming the path for file-system failures (a read-only file system included), or
  // Error(kConfig) for an empty `options.dir`.
  ArchiveCache(Options options, Logger log);

  // Creates `destination` (which does not exist) holding the archive's tree. Returns the
  // disk space the tree takes when it sealed the tree itself while writing it (no directory
  // below the root writable: archive::Limits::seal, archive::Stats::disk_bytes), or nullopt
  // for the cache to seal and measure it with a walk of the tree.
  using Extract = std::function<std::optional<uint64_t>(const fs::path &destination)>;

  // The extracted tree of `archive`. When the tree is absent, exactly one caller on the
  // machine (threads and processes) runs `extract(destination)`; the other callers wait and
  // then use its result. An exception from `extract` propagates unchanged, after its staging
  // is removed; callers that were waiting then try the extraction themselves. After
  // publishing, evicts the least recently used trees not in use while the total exceeds
  // max_bytes (eviction failures are logged, never thrown). `source` is recorded for
  // list() (by default: an archive at `archive`). Throws Error(kConfig) when `archive` does
  // not exist, Error(kIo) for other file-system failures.
  Lease acquire(const fs::path &archive, const Extract &extract,
                const std::optional<Source> &source = std::nullopt);

  // Every published tree, least recently used first.
  std::vector<EntryInfo> list();

  struct Pruned {
    std::vector<EntryInfo> removed;  // least recently used first
    std::vector<EntryInfo> in_use;   // would have gone, but are in use
    uint64_t remaining_bytes = 0;    // of all trees left
  };
  // Evicts unused trees: those last used before `older_than` ago, then, least recently
  // used first, while the total exceeds `max_bytes`. Never one in use.
  Pruned prune(uint64_t max_bytes, std::optional<std::chrono::nanoseconds> older_than);

  // Removes the unused tree whose key starts with `key_prefix`. Throws Error(kInvalid) when
  // no key or more than one starts with it, Error(kState) naming the entry when it is in use.
  EntryInfo remove(const std::string &key_prefix);

  // How many archives this object has hashed (memo lookups that hit do not count).
  uint64_t hash_count() const { return hashes_.load(); }

  const fs::path &dir() const { return root_.path(); }

 private:
  struct Identity;
  enum class TreeState { kAbsent, kGood, kBad };
  enum class Evicted { kYes, kBusy, kFailed };

  std::string key_of(const fs::path &archive, Identity &identity);
  std::optional<std::string> read_memo(const std::string &name);
  void write_memo(const std::string &name, const std::string &key);
  uint64_t extract_and_publish(int lock_fd, const std::string &key, const fs::path &archive,
                               const Identity &identity, const Extract &extract);
  TreeState tree_state(const std::string &key, std::string *why = nullptr);
  void discard_tree(const std::string &key, const std::string &why);
  void record_source(const std::string &key, const Source &source);
  LockResult lock_key(const std::string &key, LockType type, LockRange range, bool wait,
                      bool create, UniqueFd &out);
  void sweep_staging();
  void remove_staging_of(const std::string &key);
  void evict(const std::string &keep);
  void open_evict_lock(UniqueFd &out);
  Evicted try_evict(const std::string &key);
  void remove_orphan_locks();
  std::vector<EntryInfo> entries(bool count_holders);
  void remove_logged(const std::string &staging_name);

  fs::path tree_path(const std::string &key) const;
  fs::path lock_path(const std::string &key) const;

  PrivateDir root_;
  PrivateDir trees_, locks_, staging_, memo_, info_;
  uint64_t max_bytes_;
  Logger log_;
  std::atomic<uint64_t> hashes_{0};
};

}  // namespace pyenv::cache
