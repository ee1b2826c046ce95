// The small files of the archive cache (archive_cache.hpp's layout): keys, lock file
// contents, info records and memo entries, each read and written relative to a directory
// descriptor, and only when it is a private file of ours (private_dir.hpp).
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/log.hpp"

namespace pyenv::cache {

namespace fs = std::filesystem;

constexpr size_t kKeyLength = 64;
// Paths an info record keeps, the most recently first seen first.
constexpr size_t kMaxSources = 4;

// 64 lower-case hex digits.
bool is_key(const std::string &s);

// "<key>.<anything>" (staging entries) or "<key>.lock" (lock files): the key, or "".
std::string key_prefix(const std::string &name);

inline int64_t ns_of(const struct timespec &t) {
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// Names in the directory open as `dir_fd` (without "." and ".."); empty, with a warning
// naming `shown`, when it cannot be read.
std::vector<std::string> list_names(int dir_fd, const fs::path &shown, const Logger &log);

// The tree size recorded in a lock file, if any.
std::optional<uint64_t> read_size(int fd);

// The contents (at most `limit` bytes) of the file `name` in `dir_fd`; nullopt when it does
// not exist. A file that is not a private file of ours is not read: `*why` says what is
// wrong with it (and nullopt is returned).
std::optional<std::string> read_private_file(int dir_fd, const std::string &name, size_t limit,
                                             std::string *why);

// Replaces the file `name` in `dir_fd` with `text`, atomically (a private temporary file
// renamed over it). Throws Error(kIo) naming `dir_shown`/`name`.
void write_private_file(int dir_fd, const std::string &name, const fs::path &dir_shown,
                        const std::string &text);

// info/<key>: "kind <kind>" and "source <path>" lines.
struct Record {
  std::string kind;  // "" when unknown
  std::vector<std::string> sources;
};
// An absent or unreadable record is empty.
Record read_record(int info_fd, const std::string &key);
void write_record(int info_fd, const std::string &key, const fs::path &info_shown,
                  const Record &record);

}  // namespace pyenv::cache
