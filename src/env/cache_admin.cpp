#include "env/cache_admin.hpp"

#include "cache/archive_cache.hpp"
#include "env/environment.hpp"
#include "env/staging.hpp"

namespace pyenv {
namespace {

std::unique_ptr<cache::ArchiveCache> open_for_operator(const Config &config,
                                                       const std::vector<fs::path> &tmp_dirs,
                                                       const Logger &log) {
  if (!config.cache_enabled) fail(Status::kConfig, "pyenv.cache.enabled is false: no cache");
  return open_cache(config, tmp_dirs, log, /*required=*/true);
}

std::string entry_json(const cache::EntryInfo &entry) {
  std::string out = "{\"key\": " + json_string(entry.key) +
                    ", \"kind\": " + json_string(entry.kind) +
                    ", \"bytes\": " + std::to_string(entry.bytes) +
                    ", \"last_use_ms\": " + std::to_string(entry.last_use_ns / 1000000) +
                    ", \"in_use\": " + std::to_string(entry.processes) +
                    ", \"locks\": " + std::to_string(entry.leases) + ", \"sources\": [";
  for (size_t i = 0; i < entry.sources.size(); ++i) {
    out += (i ? ", " : "") + json_string(entry.sources[i]);
  }
  return out + "]}";
}

std::string entries_json(const std::vector<cache::EntryInfo> &entries, uint64_t *bytes) {
  std::string out = "[";
  for (size_t i = 0; i < entries.size(); ++i) {
    out += (i ? ", " : "") + entry_json(entries[i]);
    if (bytes != nullptr) *bytes += entries[i].bytes;
  }
  return out + "]";
}

}  // namespace

std::string cache_list_json(const Config &config, const std::vector<fs::path> &tmp_dirs,
                            const Logger &log) {
  auto cache = open_for_operator(config, tmp_dirs, log);
  const std::vector<cache::EntryInfo> entries = cache->list();
  uint64_t total = 0, in_use = 0;
  for (const cache::EntryInfo &entry : entries) {
    total += entry.bytes;
    if (entry.leases > 0) in_use += entry.bytes;
  }
  return "{\"dir\": " + json_string(cache->dir().string()) +
         ", \"entries\": " + entries_json(entries, nullptr) +
         ", \"total_bytes\": " + std::to_string(total) +
         ", \"in_use_bytes\": " + std::to_string(in_use) + "}";
}

std::string cache_prune_json(const Config &config, const std::vector<fs::path> &tmp_dirs,
                             std::optional<uint64_t> max_bytes,
                             std::optional<std::chrono::milliseconds> older_than,
                             const Logger &log) {
  auto cache = open_for_operator(config, tmp_dirs, log);
  const uint64_t budget = max_bytes ? *max_bytes : older_than ? UINT64_MAX : config.cache_max_bytes;
  std::optional<std::chrono::nanoseconds> age;
  if (older_than) age = *older_than;
  const cache::ArchiveCache::Pruned pruned = cache->prune(budget, age);
  uint64_t freed = 0;
  const std::string removed = entries_json(pruned.removed, &freed);
  return "{\"dir\": " + json_string(cache->dir().string()) + ", \"removed\": " + removed +
         ", \"freed_bytes\": " + std::to_string(freed) +
         ", \"in_use\": " + entries_json(pruned.in_use, nullptr) +
         ", \"remaining_bytes\": " + std::to_string(pruned.remaining_bytes) + "}";
}

std::string cache_remove_json(const Config &config, const std::vector<fs::path> &tmp_dirs,
                              const std::string &key_prefix, const Logger &log) {
  auto cache = open_for_operator(config, tmp_dirs, log);
  const cache::EntryInfo removed = cache->remove(key_prefix);
  return "{\"dir\": " + json_string(cache->dir().string()) + ", \"removed\": [" +
         entry_json(removed) + "], \"freed_bytes\": " + std::to_string(removed.bytes) + "}";
}

}  // namespace pyenv
