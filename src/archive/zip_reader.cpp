#include <sys/stat.h>
#include <zip.h>

#include <memory>
#include <string>

#include "archive/readers.hpp"
#include "error.hpp"

namespace pyenv::archive {
namespace {

constexpr uint64_t kMaxLinkText = 4096;

std::string zip_message(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string message = zip_error_strerror(&error);
  zip_error_fini(&error);
  return message;
}

struct ZipCloser {
  void operator()(zip_t *z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t *f) const { zip_fclose(f); }
};
using ZipHandle = std::unique_ptr<zip_t, ZipCloser>;
using ZipFileHandle = std::unique_ptr<zip_file_t, ZipFileCloser>;

}  // namespace

void read_zip(const fs::path &archive, TreeWriter &out, const Logger &log) {
  const std::string label = "archive " + archive.string();
  int code = 0;
  // No ZIP_CHECKCONS: it refuses zips written with data descriptors (Java, libarchive),
  // which are common; every entry's size and CRC are still checked while it is read.
  ZipHandle zip(zip_open(archive.c_str(), ZIP_RDONLY, &code));
  if (!zip) fail(Status::kArchive, label + ": not a readable zip: " + zip_message(code));
  zip_int64_t count = zip_get_num_entries(zip.get(), 0);
  log.debug(label + ": " + std::to_string(count) + " zip entries");
  for (zip_int64_t i = 0; i < count; ++i) {
    const auto index = static_cast<zip_uint64_t>(i);
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(zip.get(), index, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME)) {
      fail(Status::kArchive, label + ": entry #" + std::to_string(i) + " is unreadable: " +
                                 zip_strerror(zip.get()));
    }
    const std::string name = st.name;
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
      out.refuse(name, "is encrypted");
    }
    zip_uint8_t opsys = 0;
    zip_uint32_t attributes = 0;
    zip_file_get_external_attributes(zip.get(), index, 0, &opsys, &attributes);
    mode_t mode = opsys == ZIP_OPSYS_UNIX ? static_cast<mode_t>(attributes >> 16) : 0;
    const bool named_dir = !name.empty() && name.back() == '/';
    const time_t mtime = (st.valid & ZIP_STAT_MTIME) ? st.mtime : 0;
    const mode_t type = mode & S_IFMT;

    if (type == S_IFDIR || (type == 0 && named_dir)) {
      out.directory(name, (mode & 07777) ? mode : 0755, mtime);
      continue;
    }
    if (type != 0 && type != S_IFREG && type != S_IFLNK) {
      out.refuse(name, "is a device, fifo or socket");
    }
    ZipFileHandle file(zip_fopen_index(zip.get(), index, 0));
    if (!file) out.refuse(name, std::string("cannot be read: ") + zip_strerror(zip.get()));
    auto read = [&](char *buffer, size_t capacity) -> size_t {
      zip_int64_t n = zip_fread(file.get(), buffer, capacity);
      if (n < 0) out.refuse(name, std::string("is corrupt: ") + zip_file_strerror(file.get()));
      return static_cast<size_t>(n);
    };
    if (type == S_IFLNK) {
      if (st.size > kMaxLinkText) out.refuse(name, "is a symbolic link with an overlong target");
      std::string target(st.size, '\0');
      size_t got = 0;
      while (got < target.size()) {
        size_t n = read(target.data() + got, target.size() - got);
        if (n == 0) break;
        got += n;
      }
      if (got != target.size()) out.refuse(name, "is a truncated symbolic link");
      char extra;
      if (read(&extra, 1) != 0) out.refuse(name, "holds more than its declared size");
      out.symlink(name, target, mtime);
      continue;
    }
    out.file(name, (mode & 07777) ? mode : 0644, mtime, st.size, read);
  }
}

}  // namespace pyenv::archive
