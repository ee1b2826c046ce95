#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "archive/readers.hpp"
#include "error.hpp"

namespace pyenv::archive {
namespace {

struct ArchiveCloser {
  void operator()(struct archive *a) const { archive_read_free(a); }
};

// libarchive's message for the last failure. Some failures have none (a .tar.gz whose gzip
// trailer is cut short, found by tests/fuzz/archive_fuzz): NULL must never reach a string.
std::string error_of(struct archive *a) {
  const char *message = archive_error_string(a);
  return message != nullptr ? message : "unknown error";
}

}  // namespace

void read_tar(const fs::path &archive, TreeWriter &out, const Logger &log) {
  const std::string label = "archive " + archive.string();
  std::unique_ptr<struct archive, ArchiveCloser> in(archive_read_new());
  if (!in) fail(Status::kNoMemory, label + ": cannot allocate a reader");
  archive_read_support_filter_all(in.get());
  archive_read_support_format_tar(in.get());
  archive_read_support_format_gnutar(in.get());
  if (archive_read_open_filename(in.get(), archive.c_str(), 256 * 1024) != ARCHIVE_OK) {
    fail(Status::kArchive, label + ": not a readable tar: " + error_of(in.get()));
  }
  std::vector<char> buffer(TreeWriter::kBufferSize);
  for (;;) {
    struct archive_entry *entry = nullptr;
    int rc = archive_read_next_header(in.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      fail(Status::kArchive, label + ": corrupt or truncated after " +
                                 std::to_string(out.stats().entries) +
                                 " entries: " + error_of(in.get()));
    }
    const char *raw_name = archive_entry_pathname(entry);
    const std::string name = raw_name ? raw_name : "";
    if (archive_entry_is_encrypted(entry)) out.refuse(name, "is encrypted");
    const mode_t mode = archive_entry_perm(entry);
    const time_t mtime = archive_entry_mtime(entry);
    if (const char *target = archive_entry_hardlink(entry)) {
      out.hardlink(name, target);
      continue;
    }
    switch (archive_entry_filetype(entry)) {
      case AE_IFDIR:
        out.directory(name, mode, mtime);
        break;
      case AE_IFLNK: {
        const char *target = archive_entry_symlink(entry);
        out.symlink(name, target ? target : "", mtime);
        break;
      }
      case AE_IFREG: {
        const la_int64_t size = archive_entry_size(entry);
        out.file(name, mode, mtime, size < 0 ? 0 : static_cast<uint64_t>(size),
                 [&]() -> std::string_view {
                   la_ssize_t n = archive_read_data(in.get(), buffer.data(), buffer.size());
                   if (n < 0) {
                     out.refuse(name,
                                std::string("is corrupt or truncated: ") + error_of(in.get()));
                   }
                   return std::string_view(buffer.data(), static_cast<size_t>(n));
                 });
        break;
      }
      default:
        out.refuse(name, "is a device, fifo or socket");
    }
  }
  log.debug(label + ": " + std::to_string(out.stats().entries) + " tar entries");
}

}  // namespace pyenv::archive
