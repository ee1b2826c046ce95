#include "archive/extract.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "archive/readers.hpp"
#include "error.hpp"
#include "util/fs.hpp"

namespace pyenv::archive {

Format detect_format(const fs::path &archive) {
  int fd = ::open(archive.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail(errno == ENOENT ? Status::kConfig : Status::kIo,
         errno_message("archive " + archive.string(), errno));
  }
  unsigned char head[512] = {};
  ssize_t n = ::pread(fd, head, sizeof head, 0);
  ::close(fd);
  if (n < 0) fail(Status::kIo, errno_message("archive " + archive.string(), errno));
  auto starts = [&](const char *magic, size_t len) {
    return static_cast<size_t>(n) >= len && std::memcmp(head, magic, len) == 0;
  };
  if (starts("PK\x03\x04", 4) || starts("PK\x05\x06", 4)) return Format::kZip;
  if (starts("\x1f\x8b", 2)) return Format::kTarGzip;
  if (starts("BZh", 3) ||
      starts("\xfd"
             "7zXZ\x00",
             6) ||
      starts("\x28\xb5\x2f\xfd", 4)) {
    return Format::kTarCompressed;
  }
  if (n >= 262 && std::memcmp(head + 257, "ustar", 5) == 0) return Format::kTar;
  fail(Status::kArchive, "archive " + archive.string() +
                             ": neither a zip nor a tar (plain, gzip, bzip2, xz or zstd) archive");
}

Stats extract(const fs::path &archive, const fs::path &destination, const Limits &limits,
              const Logger &log) {
  const Format format = detect_format(archive);
  const fs::path staging = destination.parent_path() / ("." + destination.filename().string() +
                                                        ".staging-" + fsx::random_uuid());
  fsx::make_directory(staging);
  try {
    TreeWriter writer(staging, "archive " + archive.string(), limits);
    if (format == Format::kZip) {
      read_zip(archive, writer, log);
    } else {
      read_tar(archive, format, writer, log);
    }
    writer.finish();
    if (::rename(staging.c_str(), destination.c_str()) != 0) {
      fail(Status::kIo, errno_message("cannot publish " + destination.string(), errno));
    }
    return writer.stats();
  } catch (...) {
    for (const std::string &failure : fsx::remove_tree(staging)) log.warn("cleanup: " + failure);
    throw;
  }
}

}  // namespace pyenv::archive
