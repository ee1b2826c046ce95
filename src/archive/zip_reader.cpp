#include <libdeflate.h>
#include <sys/stat.h>
#include <zip.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "archive/readers.hpp"
#include "error.hpp"

namespace pyenv::archive {
namespace {

constexpr uint64_t kMaxLinkText = 4096;
// Below this many files per worker, another thread costs more than it saves.
constexpr size_t kFilesPerWorker = 32;
// Deflated entries up to this size are inflated whole by libdeflate (2.1x faster than
// libzip's zlib here, see tests/bench/inflate_bench.cpp); larger ones stream through libzip,
// so a worker never holds more than twice this in memory.
constexpr uint64_t kWholeEntryLimit = 8u << 20;

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
  uint64_t compressed_size;
  uint16_t method;
  uint32_t crc;
};

// Reads one entry at a time, each worker its own.
class EntryReader {
 public:
  EntryReader() : inflater_(libdeflate_alloc_decompressor()), buffer_(TreeWriter::kBufferSize) {
    if (inflater_ == nullptr) fail(Status::kNoMemory, "cannot allocate a decompressor");
  }
  ~EntryReader() { libdeflate_free_decompressor(inflater_); }
  EntryReader(const EntryReader &) = delete;
  EntryReader &operator=(const EntryReader &) = delete;

  void write(zip_t *zip, TreeWriter &out, const FileJob &job) {
    if (job.method == ZIP_CM_DEFLATE && job.size <= kWholeEntryLimit &&
        job.compressed_size <= kWholeEntryLimit) {
      inflate_whole(zip, out, job);
      bool given = false;
      out.write_file(job.name, job.path, job.mode, job.mtime, job.size, [&] {
        std::string_view chunk =
            given ? std::string_view() : std::string_view(plain_.data(), job.size);
        given = true;
        return chunk;
      });
      return;
    }
    ZipFileHandle file(open(zip, out, job, 0));
    out.write_file(job.name, job.path, job.mode, job.mtime, job.size,
                   [&] { return stream(out, file.get(), job.name); });
  }

  // The next piece of an entry read through libzip, which checks its CRC at the end.
  std::string_view stream(TreeWriter &out, zip_file_t *file, const std::string &name) {
    zip_int64_t n = zip_fread(file, buffer_.data(), buffer_.size());
    if (n < 0) out.refuse(name, std::string("is corrupt: ") + zip_file_strerror(file));
    return std::string_view(buffer_.data(), static_cast<size_t>(n));
  }

  static zip_file_t *open(zip_t *zip, TreeWriter &out, const FileJob &job, zip_flags_t flags) {
    zip_file_t *file = zip_fopen_index(zip, job.index, flags);
    if (file == nullptr) out.refuse(job.name, std::string("cannot be read: ") + zip_strerror(zip));
    return file;
  }

 private:
  void inflate_whole(zip_t *zip, TreeWriter &out, const FileJob &job) {
    compressed_.resize(job.compressed_size + 1);
    plain_.resize(job.size);
    ZipFileHandle file(open(zip, out, job, ZIP_FL_COMPRESSED));
    uint64_t got = 0;
    for (;;) {
      zip_int64_t n = zip_fread(file.get(), compressed_.data() + got, compressed_.size() - got);
      if (n < 0) out.refuse(job.name, std::string("is corrupt: ") + zip_file_strerror(file.get()));
      if (n == 0) break;
      got += static_cast<uint64_t>(n);
      if (got > job.compressed_size) out.refuse(job.name, "holds more than its declared size");
    }
    if (got != job.compressed_size) out.refuse(job.name, "is truncated");
    size_t produced = 0;
    // The output buffer is exactly the declared size, so a lying header cannot make this
    // write more than it says.
    libdeflate_result rc = libdeflate_deflate_decompress(inflater_, compressed_.data(), got,
                                                         plain_.data(), job.size, &produced);
    if (rc == LIBDEFLATE_INSUFFICIENT_SPACE) {
      out.refuse(job.name, "holds more than its declared " + std::to_string(job.size) + " bytes");
    }
    if (rc != LIBDEFLATE_SUCCESS || produced != job.size) {
      out.refuse(job.name, "is corrupt: invalid deflate data or size");
    }
    if (libdeflate_crc32(0, plain_.data(), produced) != job.crc) {
      out.refuse(job.name, "is corrupt: CRC mismatch");
    }
  }

  libdeflate_decompressor *inflater_;
  std::vector<char> buffer_;
  std::vector<char> compressed_;
  std::vector<char> plain_;
};

std::string read_link_text(zip_t *zip, TreeWriter &out, zip_uint64_t index, const std::string &name,
                           uint64_t size) {
  if (size > kMaxLinkText) out.refuse(name, "is a symbolic link with an overlong target");
  ZipFileHandle file(zip_fopen_index(zip, index, 0));
  if (!file) out.refuse(name, std::string("cannot be read: ") + zip_strerror(zip));
  char text[kMaxLinkText + 1];
  size_t got = 0;
  for (zip_int64_t n;
       got < sizeof text && (n = zip_fread(file.get(), text + got, sizeof text - got)) != 0;) {
    if (n < 0) out.refuse(name, std::string("is corrupt: ") + zip_file_strerror(file.get()));
    got += static_cast<size_t>(n);
  }
  if (got != size) out.refuse(name, "is a symbolic link whose size does not match its header");
  std::string target(text, got);
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
      fail(Status::kArchive,
           label + ": entry #" + std::to_string(i) + " is unreadable: " + zip_strerror(zip.get()));
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
                             mtime, st.size, st.comp_size, st.comp_method, st.crc});
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
      EntryReader reader;
      for (size_t i = next++; i < jobs.size() && !failed; i = next++) {
        reader.write(handle, out, jobs[i]);
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
