// The cache as operators see it (DESIGN.md 5.5): listing, pruning and removing entries,
// with the same locks as jobs, so that it is safe while jobs run.
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <optional>
#include <utility>

#include "cache/archive_cache.hpp"
#include "cache/cache_files.hpp"
#include "cache/holders.hpp"
#include "cache/tree_walk.hpp"
#include "error.hpp"

namespace pyenv::cache {
namespace {

std::string describe(const EntryInfo &entry) {
  std::string out = entry.key.substr(0, 12) + " (" + entry.kind;
  if (!entry.sources.empty()) out += " from " + entry.sources.front();
  return out + ")";
}

std::string plural(unsigned n, const std::string &word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

std::vector<EntryInfo> ArchiveCache::entries(bool count_holders_now) {
  std::vector<EntryInfo> out;
  std::vector<LockFile> files;
  std::vector<std::optional<std::pair<dev_t, ino_t>>> lock_ids;  // one per entry of `out`
  for (const std::string &key : list_names(trees_.fd(), trees_.path(), log_)) {
    // A tree that is not a private directory of ours is no entry: the next acquire of its
    // key discards it.
    if (!is_key(key) || tree_state(key) != TreeState::kGood) continue;
    EntryInfo entry;
    entry.key = key;
    const Record record = read_record(info_.fd(), key);
    entry.kind = record.kind.empty() ? "unknown" : record.kind;
    entry.sources = record.sources;
    std::optional<uint64_t> size;
    std::optional<std::pair<dev_t, ino_t>> lock_id;
    UniqueFd fd(::openat(locks_.fd(), (key + ".lock").c_str(),
                         O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat st {};
    if (fd.valid() && ::fstat(fd.get(), &st) == 0 && why_not_private_file(st).empty()) {
      size = read_size(fd.get());
      entry.last_use_ns = ns_of(st.st_mtim);
      files.push_back(LockFile{st.st_dev, st.st_ino, lock_path(key)});
      lock_id = {st.st_dev, st.st_ino};
    }
    if (!size) {
      // Only a tree tampered with lacks its record: measure it, and let it go first.
      try {
        size = TreeWalk(false).run(tree_path(key));
      } catch (const Error &) {
        continue;  // evicted meanwhile
      }
      entry.last_use_ns = 0;
    }
    entry.bytes = *size;
    out.push_back(std::move(entry));
    lock_ids.push_back(lock_id);
  }
  if (count_holders_now) {
    const auto holders = count_holders(files);
    for (size_t i = 0; i < out.size(); ++i) {
      auto it = lock_ids[i] ? holders.find(*lock_ids[i]) : holders.end();
      if (it == holders.end()) continue;
      out[i].leases = it->second.locks;
      out[i].processes = it->second.processes;
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const EntryInfo &a, const EntryInfo &b) {
    return a.last_use_ns < b.last_use_ns;
  });
  return out;
}

std::vector<EntryInfo> ArchiveCache::list() { return entries(/*count_holders=*/true); }

ArchiveCache::Pruned ArchiveCache::prune(uint64_t max_bytes,
                                         std::optional<std::chrono::nanoseconds> older_than) {
  UniqueFd pass;
  open_evict_lock(pass);
  Pruned result;
  std::vector<EntryInfo> all = entries(/*count_holders=*/true);
  uint64_t total = 0;
  for (const EntryInfo &entry : all) total += entry.bytes;
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const int64_t cutoff = older_than ? ns_of(now) - older_than->count() : 0;
  for (const EntryInfo &entry : all) {  // least recently used first
    const bool old = older_than && entry.last_use_ns < cutoff;
    if (!old && total <= max_bytes) continue;
    switch (try_evict(entry.key)) {
      case Evicted::kYes:
        total -= std::min(total, entry.bytes);
        log_.info("archive cache: pruned " + describe(entry) + ", " + std::to_string(entry.bytes) +
                  " bytes");
        result.removed.push_back(entry);
        break;
      case Evicted::kBusy:
        result.in_use.push_back(entry);
        break;
      case Evicted::kFailed:
        break;  // logged
    }
  }
  result.remaining_bytes = total;
  remove_orphan_locks();
  return result;
}

EntryInfo ArchiveCache::remove(const std::string &key_prefix_text) {
  std::string prefix = key_prefix_text;
  std::transform(prefix.begin(), prefix.end(), prefix.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (prefix.empty() || prefix.size() > kKeyLength ||
      prefix.find_first_not_of("0123456789abcdef") != std::string::npos) {
    fail(Status::kInvalid, "cache key \"" + key_prefix_text +
                               "\": expected 1 to 64 hex digits (the KEY column of cache list)");
  }
  UniqueFd pass;
  open_evict_lock(pass);
  std::vector<EntryInfo> all = entries(/*count_holders=*/true);
  std::vector<EntryInfo> matches;
  for (const EntryInfo &entry : all) {
    if (entry.key.compare(0, prefix.size(), prefix) == 0) matches.push_back(entry);
  }
  if (matches.empty()) {
    fail(Status::kInvalid, "no entry of the cache " + dir().string() + " has a key starting with " +
                               prefix + " (it holds " + plural(all.size(), "entry") + ")");
  }
  if (matches.size() > 1) {
    std::string keys;
    for (const EntryInfo &entry : matches) keys += (keys.empty() ? "" : ", ") + describe(entry);
    fail(Status::kInvalid, "cache key " + prefix + " is ambiguous: it starts " +
                               plural(matches.size(), "key") + ", " + keys + "; give more digits");
  }
  const EntryInfo &entry = matches.front();
  switch (try_evict(entry.key)) {
    case Evicted::kYes:
      log_.info("archive cache: removed " + describe(entry));
      return entry;
    case Evicted::kBusy:
      fail(Status::kState, "cache entry " + describe(entry) + " is in use (" +
                               plural(entry.processes, "process") + " holding " +
                               plural(entry.leases, "lock") +
                               "); it can be removed once the jobs using it have closed");
    case Evicted::kFailed:
      break;
  }
  fail(Status::kIo, "cache entry " + describe(entry) + " could not be removed (see the log)");
}

}  // namespace pyenv::cache
