// Archive extraction: zip (libzip) and tar in all its compressions (libarchive), chosen by
// content, written safely into a staging directory and published with one rename.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "config/config.hpp"
#include "util/log.hpp"

namespace pyenv::archive {

namespace fs = std::filesystem;

// kTarGzip: inflated by zlib; kTarCompressed: bzip2, xz or zstd, through libarchive.
enum class Format { kZip, kTar, kTarGzip, kTarCompressed };

// Decides the format from the file's first bytes: zip, or tar (plain, gzip, bzip2, xz,
// zstd). Throws Error(kArchive) for anything else, Error(kConfig) when it does not exist.
Format detect_format(const fs::path &archive);

struct Limits {
  uint64_t max_bytes = 16ull << 30;
  uint64_t max_entries = 1000000;
  SymlinkPolicy symlinks = SymlinkPolicy::kPreserve;
  unsigned threads = 0;  // zip extraction workers; 0: one per core
};

struct Stats {
  uint64_t entries = 0;
  uint64_t bytes = 0;
};

// Extracts `archive` to `destination`, which must not exist yet. Everything is written into
// a staging directory beside `destination` and renamed into place at the end, so a failure
// leaves nothing behind. Throws Error(kArchive) naming the archive and the entry.
Stats extract(const fs::path &archive, const fs::path &destination, const Limits &limits,
              const Logger &log);

}  // namespace pyenv::archive
