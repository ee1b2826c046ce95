// The calling user's cache as operators see it (DESIGN.md 5.5): list, prune and remove,
// for the configuration and tmp dirs of a manager, with the trust checks and locks of a job.
// Results are JSON, for hosts and for pyenv-host to print. (Warming is warm_job, staging.hpp.)
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "util/log.hpp"

namespace pyenv {

// {"dir": "...", "entries": [ENTRY...], "total_bytes": N, "in_use_bytes": N}, entries least
// recently used first; ENTRY = {"key": "<64 hex>", "kind": "archive"|"requirements"|"unknown",
// "bytes": N, "last_use_ms": <ms since the epoch>, "in_use": <processes>, "locks": N,
// "sources": ["<path>", ...]}.
std::string cache_list_json(const Config &config, const std::vector<fs::path> &tmp_dirs,
                            const Logger &log);

// Evicts unused entries last used more than `older_than` ago, then, least recently used
// first, while the cache holds more than `max_bytes` (default: pyenv.cache.max-bytes, unless
// `older_than` alone is given). {"dir", "removed": [ENTRY...], "freed_bytes": N,
// "in_use": [ENTRY...] (would have gone, but in use), "remaining_bytes": N}.
std::string cache_prune_json(const Config &config, const std::vector<fs::path> &tmp_dirs,
                             std::optional<uint64_t> max_bytes,
                             std::optional<std::chrono::milliseconds> older_than,
                             const Logger &log);

// Removes the unused entry whose key starts with `key_prefix`: {"dir", "removed": [ENTRY],
// "freed_bytes": N}. Throws Error(kInvalid) for no match or several, Error(kState) naming
// the entry when it is in use.
std::string cache_remove_json(const Config &config, const std::vector<fs::path> &tmp_dirs,
                              const std::string &key_prefix, const Logger &log);

}  // namespace pyenv
