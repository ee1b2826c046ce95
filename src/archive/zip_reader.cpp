#include <sys/stat.h>
#include <zip.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "archive/readers.hpp"
#include "error.hpp"

namespace pyenv::archive {
namespace {

constexpr uint64_t kMaxLinkText = 4096;
// Below this many files per worker, another thread costs more than it saves.
constexpr size_t kFilesPerWorker = 32;

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

ZipHandle open_zip(const fs::path &archive, const std::string &label) {
  int code = 0;
  // No ZIP_CHECKCONS: it refuses zips written with data descriptors (Java, libarchive),
  // which are common; every entry's size and CRC are still checked while it is read.
  ZipHandle zip(zip_open(archive.c_str(), ZIP_RDONLY, &code));
  if (!zip) fail(Status::kArchive, label + ": not a readable zip: " + zip_message(code));
  return zip;
}

// A regular file placed by the planning pass, written by a worker.
struct FileJob {
  zip_uint64_t index;
  std::string name;
  fs::path path;
  mode_t mode;
  time_t mtime;
  uint64_t size;
};

// Reads entry `index` through `read`, refusing it on corrupt data (CRC, inflate errors).
TreeWriter::Reader entry_reader(TreeWriter &out, zip_file_t *file, const std::string &name) {
  return [&out, file, &name](char *buffer, size_t capacity) -> size_t {
    zip_int64_t n = zip_fread(file, buffer, capacity);
    if (n < 0) out.refuse(name, std::string("is corrupt: ") + zip_file_strerror(file));
    return static_cast<size_t>(n);
  };
}

void write_job(zip_t *zip, TreeWriter &out, const FileJob &job, std::vector<char> &buffer) {
  ZipFileHandle file(zip_fopen_index(zip, job.index, 0));
  if (!file) out.refuse(job.name, std::string("cannot be read: ") + zip_strerror(zip));
  out.write_file(job.name, job.path, job.mode, job.mtime, job.size,
                 entry_reader(out, file.get(), job.name), buffer.data(), buffer.size());
}

std::string read_link_text(zip_t *zip, TreeWriter &out, zip_uint64_t index,
                           const std::string &name, uint64_t size) {
  if (size > kMaxLinkText) out.refuse(name, "is a symbolic link with an overlong target");
  ZipFileHandle file(zip_fopen_index(zip, index, 0));
  if (!file) out.refuse(name, std::string("cannot be read: ") + zip_strerror(zip));
  TreeWriter::Reader read = entry_reader(out, file.get(), name);
  std::string target(size, '\0');
  size_t got = 0;
  while (got < target.size()) {
    size_t n = read(target.data() + got, target.size() - got);
    if (n == 0) break;
    got += n;
  }
  char extra;
  if (got != target.size() || read(&extra, 1) != 0) {
    out.refuse(name, "is a symbolic link whose size does not match its header");
  }
  return target;
}

}  // namespace

void read_zip(const fs::path &archive, TreeWriter &out, const Logger &log, unsigned threads) {
  const std::string label = "archive " + archive.string();
  ZipHandle zip = open_zip(archive, label);
  const zip_int64_t count = zip_get_num_entries(zip.get(), 0);

  // Planning pass, in archive order: every name is checked and every directory made before
  // any file is written, and links wait for the end (TreeWriter::finish).
  std::vector<FileJob> jobs;
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
    const mode_t mode = opsys == ZIP_OPSYS_UNIX ? static_cast<mode_t>(attributes >> 16) : 0;
    const mode_t type = mode & S_IFMT;
    const bool named_dir = !name.empty() && name.back() == '/';
    const time_t mtime = (st.valid & ZIP_STAT_MTIME) ? st.mtime : 0;

    if (type == S_IFDIR || (type == 0 && named_dir)) {
      out.directory(name, (mode & 07777) ? mode : 0755, mtime);
    } else if (type == S_IFLNK) {
      out.symlink(name, read_link_text(zip.get(), out, index, name, st.size), mtime);
    } else if (type == 0 || type == S_IFREG) {
      jobs.push_back(FileJob{index, name, out.place_file(name), (mode & 07777) ? mode : 0644u,
                             mtime, st.size});
    } else {
      out.refuse(name, "is a device, fifo or socket");
    }
  }

  // Writing pass: workers share the files, each through its own libzip handle.
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  const size_t workers = std::clamp<size_t>(jobs.size() / kFilesPerWorker, 1, threads);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto work = [&](zip_t *handle) {
    try {
      ZipHandle own;
      if (handle == nullptr) {
        own = open_zip(archive, label);
        handle = own.get();
      }
      std::vector<char> buffer(TreeWriter::kBufferSize);
      for (size_t i = next++; i < jobs.size() && !failed; i = next++) {
        write_job(handle, out, jobs[i], buffer);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> pool;
  for (size_t w = 1; w < workers; ++w) pool.emplace_back(work, nullptr);
  work(zip.get());
  for (std::thread &t : pool) t.join();
  if (first_error) std::rethrow_exception(first_error);
  log.debug(label + ": " + std::to_string(count) + " zip entries, " + std::to_string(workers) +
            " workers");
}

}  // namespace pyenv::archive
