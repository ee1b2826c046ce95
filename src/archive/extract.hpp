// Archive extraction: zip (zip_reader.cpp) and tar in all its compressions (libarchive),
// chosen by content, written safely into a staging directory and published with one rename.
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

// How zip workers share the files (tests/bench/extract_bench.cpp measures them; see
// README, Benchmarks). kPipeline: the reading thread creates every file in archive order and
// the workers inflate and write; kEntries: the workers also create the files they take, in
// any order; kDirectories: as kEntries, but all the files of one directory go to one worker.
enum class Distribution { kPipeline, kEntries, kDirectories };

struct Limits {
  uint64_t max_bytes = 16ull << 30;
  uint64_t max_entries = 1000000;
  SymlinkPolicy symlinks = SymlinkPolicy::kPreserve;
  unsigned threads = 0;  // zip extraction workers; 0: one per core
  // Seal the tree while writing it: every directory below the root ends without write bits
  // (mode & 0555, set when the writer is done with it), files and links lose the group and
  // other write bits (mode & ~022). The root stays as it was made (writable).
  bool seal = false;
  Distribution distribution = Distribution::kPipeline;
};

struct Stats {
  uint64_t entries = 0;
  uint64_t bytes = 0;  // uncompressed bytes of the files
  // Disk space the tree takes, counted while writing, not by walking it: each file's size
  // rounded up to the file system's block size, each directory's own size (fstat when the
  // writer is done with it), link targets of 60 bytes or more one block each (shorter ones
  // live in the inode on ext4), hard links nothing. Not counted: extent-tree blocks of large
  // fragmented files and extended attributes, so it is a slight underestimate of st_blocks.
  uint64_t disk_bytes = 0;
};

// Extracts `archive` to `destination`, which must not exist yet. Everything is written into
// a staging directory beside `destination` and renamed into place at the end, so a failure
// leaves nothing behind. The staging directory (so `destination`) is made with mode 0755 and
// left writable. Throws Error(kArchive) naming the archive and the entry.
Stats extract(const fs::path &archive, const fs::path &destination, const Limits &limits,
              const Logger &log);

}  // namespace pyenv::archive
