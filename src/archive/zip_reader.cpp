// Zip: the central directory is read as a stream, one record at a time, and every entry is
// read with pread from one shared descriptor. Nothing of an entry is kept after it has been
// written, so memory does not grow with the archive (libzip keeps its whole central
// directory in memory, once per handle, and seeks before every read).
//
// Read: stored and deflated entries, ZIP64, data descriptors (the central directory's sizes
// and CRC are the ones used), Info-ZIP's extended timestamp, Unix modes. Refused: encryption
// (traditional and AES), other compression methods, archives spanning several disks.
#include <fcntl.h>
#include <libdeflate.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <exception>
#include <iterator>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "archive/readers.hpp"
#include "error.hpp"
#include "util/unique_fd.hpp"
#include "util/utf8.hpp"

namespace pyenv::archive {
namespace {

constexpr uint64_t kMaxLinkText = 4096;
// Below this many files per worker, another thread costs more than it saves.
constexpr uint64_t kFilesPerWorker = 32;
// Deflated entries up to this size are inflated whole by libdeflate (2.1x faster than zlib
// here, see tests/bench/inflate_bench.cpp); larger ones stream through zlib in kBufferSize
// pieces. A worker's buffers never grow past twice this.
constexpr uint64_t kWholeEntryLimit = 4u << 20;
// Files waiting for a worker, at most: each holds a descriptor and its directory open.
constexpr size_t kQueuePerWorker = 32;
// Idle workers are woken when this many files wait, not for each one.
constexpr size_t kWakeBatch = 8;
constexpr size_t kLocalHeader = 30;
constexpr size_t kCentralHeader = 46;
constexpr size_t kEndRecord = 22;

uint16_t le16(const unsigned char *p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t le32(const unsigned char *p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}
uint64_t le64(const unsigned char *p) {
  return static_cast<uint64_t>(le32(p)) | static_cast<uint64_t>(le32(p + 4)) << 32;
}

// CP437, bytes 0x80-0xff, as Unicode: names without the UTF-8 flag that are not UTF-8.
constexpr char16_t kCp437[128] = {
    0xc7,   0xfc,   0xe9,   0xe2,   0xe4,   0xe0,   0xe5,   0xe7,   0xea,   0xeb,   0xe8,   0xef,
    0xee,   0xec,   0xc4,   0xc5,   0xc9,   0xe6,   0xc6,   0xf4,   0xf6,   0xf2,   0xfb,   0xf9,
    0xff,   0xd6,   0xdc,   0xa2,   0xa3,   0xa5,   0x20a7, 0x192,  0xe1,   0xed,   0xf3,   0xfa,
    0xf1,   0xd1,   0xaa,   0xba,   0xbf,   0x2310, 0xac,   0xbd,   0xbc,   0xa1,   0xab,   0xbb,
    0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556, 0x2555, 0x2563, 0x2551, 0x2557,
    0x255d, 0x255c, 0x255b, 0x2510, 0x2514, 0x2534, 0x252c, 0x251c, 0x2500, 0x253c, 0x255e, 0x255f,
    0x255a, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256c, 0x2567, 0x2568, 0x2564, 0x2565, 0x2559,
    0x2558, 0x2552, 0x2553, 0x256b, 0x256a, 0x2518, 0x250c, 0x2588, 0x2584, 0x258c, 0x2590, 0x2580,
    0x3b1,  0xdf,   0x393,  0x3c0,  0x3a3,  0x3c3,  0xb5,   0x3c4,  0x3a6,  0x398,  0x3a9,  0x3b4,
    0x221e, 0x3c6,  0x3b5,  0x2229, 0x2261, 0xb1,   0x2265, 0x2264, 0x2320, 0x2321, 0xf7,   0x2248,
    0xb0,   0x2219, 0xb7,   0x221a, 0x207f, 0xb2,   0x25a0, 0xa0};

std::string cp437_to_utf8(const std::string &s) {
  std::string out;
  for (unsigned char c : s) {
    const char16_t u = c < 0x80 ? c : kCp437[c - 0x80];
    if (u < 0x80) {
      out += static_cast<char>(u);
    } else if (u < 0x800) {
      out += static_cast<char>(0xc0 | (u >> 6));
      out += static_cast<char>(0x80 | (u & 0x3f));
    } else {
      out += static_cast<char>(0xe0 | (u >> 12));
      out += static_cast<char>(0x80 | ((u >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (u & 0x3f));
    }
  }
  return out;
}

// An MS-DOS date and time, which zip stores in local time, as libzip reads it.
time_t dos_time(uint16_t time, uint16_t date) {
  struct tm tm {};
  tm.tm_year = ((date >> 9) & 0x7f) + 80;
  tm.tm_mon = ((date >> 5) & 0x0f) - 1;
  tm.tm_mday = date & 0x1f;
  tm.tm_hour = (time >> 11) & 0x1f;
  tm.tm_min = (time >> 5) & 0x3f;
  tm.tm_sec = (time << 1) & 0x3e;
  tm.tm_isdst = -1;
  const time_t t = std::mktime(&tm);
  return t < 0 ? 0 : t;
}

// Reads exactly `size` bytes at `offset`; false when the file ends first.
bool pread_all(int fd, void *buffer, size_t size, uint64_t offset, const std::string &label) {
  auto *p = static_cast<char *>(buffer);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(Status::kIo, errno_message(label + ": cannot read it", errno));
    }
    if (n == 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

// One entry of the central directory, as far as extraction needs it.
struct Entry {
  std::string name;
  uint16_t flags = 0;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t local_offset = 0;
  mode_t mode = 0;  // with its type bits; 0 when the archive has no Unix mode
  time_t mtime = 0;
  size_t local_guess = 0;  // name and extra field lengths, to read the local header at once
};

// A regular file created by the reading thread, for a worker to fill.
struct FileJob {
  Entry entry;
  TreeWriter::Placed placed;
};

class ZipFile {
 public:
  ZipFile(const fs::path &path, std::string label) : label_(std::move(label)) {
    fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_.valid()) fail(Status::kIo, errno_message(label_ + ": cannot open it", errno));
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) fail(Status::kIo, errno_message(label_, errno));
    size_ = static_cast<uint64_t>(st.st_size);
    find_central_directory();
  }

  int fd() const { return fd_.get(); }
  uint64_t entries() const { return entries_; }
  const std::string &label() const { return label_; }
  // Where entries' data may lie: before the central directory.
  uint64_t data_end() const { return cd_offset_; }

  // The next record of the central directory; call entries() times.
  Entry next(uint64_t index) {
    unsigned char *h = take(kCentralHeader, index);
    if (le32(h) != 0x02014b50) broken("central directory record #" + std::to_string(index));
    Entry e;
    const uint16_t made_by = le16(h + 4);
    e.flags = le16(h + 8);
    e.method = le16(h + 10);
    const uint16_t time = le16(h + 12);
    const uint16_t date = le16(h + 14);
    e.crc = le32(h + 16);
    e.compressed_size = le32(h + 20);
    e.size = le32(h + 24);
    const uint16_t name_length = le16(h + 28);
    const uint16_t extra_length = le16(h + 30);
    const uint16_t comment_length = le16(h + 32);
    const uint16_t disk = le16(h + 34);
    const uint32_t external = le32(h + 38);
    e.local_offset = le32(h + 42);
    const unsigned char *name = take(name_length, index);
    e.name.assign(reinterpret_cast<const char *>(name), name_length);
    if (!(e.flags & (1u << 11)) && !is_utf8(e.name)) e.name = cp437_to_utf8(e.name);
    e.local_guess = name_length + extra_length;
    const unsigned char *extra = take(extra_length, index);
    bool have_time = false;
    for (size_t at = 0; at + 4 <= extra_length;) {
      const uint16_t id = le16(extra + at);
      const uint16_t length = le16(extra + at + 2);
      const unsigned char *field = extra + at + 4;
      if (at + 4 + length > extra_length) break;
      if (id == 0x0001) {  // ZIP64: the 64-bit values of the fields that overflowed, in order
        size_t p = 0;
        auto wide = [&](uint64_t &value) {
          if (value != 0xffffffffu) return;
          if (p + 8 > length) broken("ZIP64 field of entry \"" + e.name + "\"");
          value = le64(field + p);
          p += 8;
        };
        wide(e.size);
        wide(e.compressed_size);
        wide(e.local_offset);
      } else if (id == 0x5455 && length >= 5 && (field[0] & 1)) {  // extended timestamp
        e.mtime = static_cast<time_t>(static_cast<int32_t>(le32(field + 1)));
        have_time = true;
      }
      at += 4 + length;
    }
    take(comment_length, index);
    if (!have_time) e.mtime = dos_time(time, date);
    if (disk != 0 && disk != 0xffff) broken("entry \"" + e.name + "\" on another disk");
    e.mode = (made_by >> 8) == 3 ? static_cast<mode_t>(external >> 16) : 0;
    return e;
  }

 private:
  [[noreturn]] void broken(const std::string &what) const {
    fail(Status::kArchive, label_ + ": not a readable zip: " + what + " is damaged or missing");
  }

  void find_central_directory() {
    const uint64_t tail = std::min<uint64_t>(size_, kEndRecord + 0xffff + 20);
    std::vector<unsigned char> buffer(tail);
    if (tail < kEndRecord || !pread_all(fd_.get(), buffer.data(), tail, size_ - tail, label_)) {
      fail(Status::kArchive, label_ + ": not a readable zip: Not a zip archive");
    }
    // The last end record whose comment ends at or before the end of the file.
    size_t at = tail - kEndRecord + 1;
    bool found = false;
    while (at-- > 0) {
      if (le32(&buffer[at]) == 0x06054b50 && at + kEndRecord + le16(&buffer[at + 20]) <= tail) {
        found = true;
        break;
      }
    }
    if (!found) fail(Status::kArchive, label_ + ": not a readable zip: Not a zip archive");
    const unsigned char *end = &buffer[at];
    const uint64_t end_offset = size_ - tail + at;
    if (le16(end + 4) != 0 || le16(end + 6) != 0 || le16(end + 8) != le16(end + 10)) {
      fail(Status::kArchive, label_ + ": not a readable zip: archives on several disks");
    }
    entries_ = le16(end + 10);
    cd_size_ = le32(end + 12);
    cd_offset_ = le32(end + 16);
    uint64_t cd_end = end_offset;
    if (at >= 20 && le32(end - 20) == 0x07064b50) {  // ZIP64 end of central directory locator
      const uint64_t record = le64(end - 20 + 8);
      unsigned char z[56];
      if (record + sizeof z > end_offset - 20 ||
          !pread_all(fd_.get(), z, sizeof z, record, label_) || le32(z) != 0x06064b50) {
        broken("ZIP64 end of central directory");
      }
      if (le32(z + 16) != 0 || le32(z + 20) != 0 || le64(z + 24) != le64(z + 32)) {
        fail(Status::kArchive, label_ + ": not a readable zip: archives on several disks");
      }
      entries_ = le64(z + 32);
      cd_size_ = le64(z + 40);
      cd_offset_ = le64(z + 48);
      cd_end = record;
    }
    if (cd_offset_ > cd_end || cd_size_ > cd_end - cd_offset_ ||
        entries_ > cd_size_ / kCentralHeader) {
      fail(Status::kArchive,
           label_ + ": not a readable zip: the central directory is not where the end record says");
    }
    cd_next_ = cd_offset_;
  }

  // The next `n` bytes of the central directory, read ahead in kBufferSize pieces; valid
  // until the next call.
  unsigned char *take(size_t n, uint64_t index) {
    if (cd_next_ + n > cd_offset_ + cd_size_) {
      broken("central directory record #" + std::to_string(index));
    }
    if (pos_ + n > fill_) {
      if (fill_ > pos_) std::memmove(window_.data(), window_.data() + pos_, fill_ - pos_);
      fill_ -= pos_;
      pos_ = 0;
      const uint64_t left = cd_offset_ + cd_size_ - (cd_next_ + fill_);
      const size_t want = static_cast<size_t>(
          std::min<uint64_t>(std::max(n, TreeWriter::kBufferSize), fill_ + left) - fill_);
      if (window_.size() < fill_ + want) window_.resize(fill_ + want);
      if (!pread_all(fd_.get(), window_.data() + fill_, want, cd_next_ + fill_, label_)) {
        broken("central directory");
      }
      fill_ += want;
    }
    unsigned char *p = window_.data() + pos_;
    pos_ += n;
    cd_next_ += n;
    return p;
  }

  std::string label_;
  UniqueFd fd_;
  uint64_t size_ = 0;
  uint64_t entries_ = 0;
  uint64_t cd_offset_ = 0;
  uint64_t cd_size_ = 0;
  uint64_t cd_next_ = 0;
  std::vector<unsigned char> window_;
  size_t pos_ = 0;
  size_t fill_ = 0;
};

// Reads entries' data, each worker its own, with buffers reused from one entry to the next.
class EntryReader {
 public:
  EntryReader(const ZipFile &zip, TreeWriter &out)
      : zip_(zip), out_(out), inflater_(libdeflate_alloc_decompressor()) {
    if (inflater_ == nullptr) fail(Status::kNoMemory, "cannot allocate a decompressor");
  }
  ~EntryReader() {
    libdeflate_free_decompressor(inflater_);
    if (z_ready_) ::inflateEnd(&z_);
  }
  EntryReader(const EntryReader &) = delete;
  EntryReader &operator=(const EntryReader &) = delete;

  void write(FileJob &job) {
    const Entry &e = job.entry;
    const uint64_t start = data_start(e);
    const std::string &name = e.name;
    if (e.method == 8 && e.size <= kWholeEntryLimit && e.compressed_size <= kWholeEntryLimit) {
      inflate_whole(e, start);
      bool given = false;
      out_.write_file(name, job.placed, e.mtime, e.size, [&] {
        std::string_view chunk =
            given ? std::string_view() : std::string_view(plain_.data(), e.size);
        given = true;
        return chunk;
      });
      return;
    }
    Stream stream{start, e.compressed_size, 0, false};
    if (e.method == 8) reset_inflate(e);
    out_.write_file(name, job.placed, e.mtime, e.size, [&] { return next_piece(e, stream); });
    if (stream.crc != e.crc) out_.refuse(name, "is corrupt: CRC mismatch");
  }

  // The whole content of a small entry (a link's target).
  std::string read_small(const Entry &e, uint64_t limit) {
    if (e.size > limit) return {};
    const uint64_t start = data_start(e);
    std::string text;
    if (e.method == 8) {
      inflate_whole(e, start);
      text.assign(plain_.data(), e.size);
    } else {
      Stream stream{start, e.compressed_size, 0, false};
      for (std::string_view piece = next_piece(e, stream); !piece.empty();
           piece = next_piece(e, stream)) {
        text.append(piece);
        if (text.size() > e.size) out_.refuse(e.name, "holds more than its declared size");
      }
      if (text.size() != e.size) out_.refuse(e.name, "is truncated");
      if (stream.crc != e.crc) out_.refuse(e.name, "is corrupt: CRC mismatch");
    }
    return text;
  }

 private:
  struct Stream {
    uint64_t offset;  // of the next compressed byte
    uint64_t left;    // compressed bytes not read yet
    uint32_t crc;     // of what was given so far
    bool ended;
  };

  // Checks the local header (reading it together with the start of the data, into in_) and
  // returns where the data starts.
  uint64_t data_start(const Entry &e) {
    const uint64_t end = zip_.data_end();
    if (e.local_offset > end || end - e.local_offset < kLocalHeader) {
      out_.refuse(e.name, "points past the end of the archive's data");
    }
    const size_t want = static_cast<size_t>(std::min<uint64_t>(
        end - e.local_offset,
        kLocalHeader + e.local_guess + 64 + std::min(e.compressed_size, kWholeEntryLimit)));
    if (in_.size() < want) in_.resize(want);
    if (!pread_all(zip_.fd(), in_.data(), want, e.local_offset, zip_.label())) {
      out_.refuse(e.name, "is truncated");
    }
    const auto *h = reinterpret_cast<const unsigned char *>(in_.data());
    if (le32(h) != 0x04034b50) out_.refuse(e.name, "has no local header where it should");
    const uint64_t start = e.local_offset + kLocalHeader + le16(h + 26) + le16(h + 28);
    if (start > end || end - start < e.compressed_size) {
      out_.refuse(e.name, "is truncated: its data runs past the end of the archive's data");
    }
    in_start_ = start;
    in_have_ = e.local_offset + want - std::min(start, e.local_offset + want);
    in_skip_ = static_cast<size_t>(start - e.local_offset);
    return start;
  }

  void inflate_whole(const Entry &e, uint64_t start) {
    const size_t compressed = static_cast<size_t>(e.compressed_size);
    if (in_have_ < compressed) {
      if (in_.size() < in_skip_ + compressed) in_.resize(in_skip_ + compressed);
      if (!pread_all(zip_.fd(), in_.data() + in_skip_ + in_have_, compressed - in_have_,
                     start + in_have_, zip_.label())) {
        out_.refuse(e.name, "is truncated");
      }
    }
    if (plain_.size() < e.size) plain_.resize(e.size);
    size_t produced = 0;
    // The output is exactly the declared size, so a lying header cannot make this write
    // more than it says.
    const libdeflate_result rc = libdeflate_deflate_decompress(
        inflater_, in_.data() + in_skip_, compressed, plain_.data(), e.size, &produced);
    if (rc == LIBDEFLATE_INSUFFICIENT_SPACE) {
      out_.refuse(e.name, "holds more than its declared " + std::to_string(e.size) + " bytes");
    }
    if (rc != LIBDEFLATE_SUCCESS || produced != e.size) {
      out_.refuse(e.name, "is corrupt: invalid deflate data or size");
    }
    if (libdeflate_crc32(0, plain_.data(), produced) != e.crc) {
      out_.refuse(e.name, "is corrupt: CRC mismatch");
    }
  }

  void reset_inflate(const Entry &e) {
    const int rc = z_ready_ ? ::inflateReset(&z_) : ::inflateInit2(&z_, -MAX_WBITS);
    if (rc != Z_OK) out_.refuse(e.name, "cannot be inflated: out of memory");
    z_ready_ = true;
    z_.avail_in = 0;
  }

  // The next compressed piece of a streamed entry: what data_start read first, then reads.
  std::string_view compressed_piece(const Entry &e, Stream &s) {
    if (s.left == 0) return {};
    if (in_have_ > 0 && s.offset == in_start_) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(in_have_, s.left));
      in_have_ = 0;
      s.offset += n;
      s.left -= n;
      return {in_.data() + in_skip_, n};
    }
    const size_t n = static_cast<size_t>(std::min<uint64_t>(TreeWriter::kBufferSize, s.left));
    if (in_.size() < n) in_.resize(n);
    if (!pread_all(zip_.fd(), in_.data(), n, s.offset, zip_.label())) {
      out_.refuse(e.name, "is truncated");
    }
    s.offset += n;
    s.left -= n;
    return {in_.data(), n};
  }

  std::string_view next_piece(const Entry &e, Stream &s) {
    if (e.method == 0) {
      if (e.compressed_size != e.size) {
        out_.refuse(e.name, "is stored with a size that differs from its declared size");
      }
      const std::string_view piece = compressed_piece(e, s);
      // Never with an empty piece: libdeflate_crc32(crc, NULL, 0) starts over at 0.
      if (!piece.empty()) s.crc = libdeflate_crc32(s.crc, piece.data(), piece.size());
      return piece;
    }
    if (s.ended) return {};
    if (plain_.size() < TreeWriter::kBufferSize) plain_.resize(TreeWriter::kBufferSize);
    for (;;) {
      if (z_.avail_in == 0) {
        const std::string_view piece = compressed_piece(e, s);
        z_.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(piece.data()));
        z_.avail_in = static_cast<uInt>(piece.size());
      }
      z_.next_out = reinterpret_cast<Bytef *>(plain_.data());
      z_.avail_out = static_cast<uInt>(TreeWriter::kBufferSize);
      const int rc = ::inflate(&z_, Z_NO_FLUSH);
      const size_t produced = TreeWriter::kBufferSize - z_.avail_out;
      if (rc == Z_STREAM_END) {
        s.ended = true;
      } else if (rc == Z_BUF_ERROR && produced == 0) {
        out_.refuse(e.name, "is truncated: its deflate data ends early");
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        out_.refuse(e.name,
                    std::string("is corrupt: ") + (z_.msg ? z_.msg : "invalid deflate data"));
      }
      if (produced > 0 || s.ended) {
        if (produced > 0) s.crc = libdeflate_crc32(s.crc, plain_.data(), produced);
        return {plain_.data(), produced};
      }
    }
  }

  const ZipFile &zip_;
  TreeWriter &out_;
  libdeflate_decompressor *inflater_;
  z_stream z_{};
  bool z_ready_ = false;
  std::vector<char> in_;     // compressed bytes: the local header, then data
  std::vector<char> plain_;  // inflated bytes
  uint64_t in_start_ = 0;    // archive offset of in_[in_skip_]
  size_t in_skip_ = 0;
  size_t in_have_ = 0;  // data bytes in in_ from in_skip_ on, not yet used
};

// Files waiting for workers, bounded: the reading thread waits when it is full. Sleepers
// are woken only when there is something for them (a worker: a file; the reader: half the
// queue free again), so that a thread switch is not paid per file.
class JobQueue {
 public:
  JobQueue(size_t queues, size_t capacity) : queues_(queues), capacity_(capacity) {}

  // False when the extraction failed meanwhile.
  bool push(size_t queue, FileJob job) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (queues_[queue].size() >= capacity_) {
      ++reader_waiting_;
      space_.wait(lock, [&] { return failed_ || queues_[queue].size() <= capacity_ / 2; });
      --reader_waiting_;
    }
    if (failed_) return false;
    queues_[queue].push_back(std::move(job));
    if (idle_ > 0 && queues_[queue].size() >= kWakeBatch) {
      // One queue for all: any worker will do. One queue each: only its owner will.
      if (queues_.size() == 1) {
        ready_.notify_one();
      } else {
        ready_.notify_all();
      }
    }
    return true;
  }
  // False when there is nothing more for `queue`.
  bool pop(size_t queue, FileJob &job) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!failed_ && !closed_ && queues_[queue].empty()) {
      ++idle_;
      ready_.wait(lock, [&] { return failed_ || closed_ || !queues_[queue].empty(); });
      --idle_;
    }
    if (failed_ || queues_[queue].empty()) return false;
    job = std::move(queues_[queue].front());
    queues_[queue].pop_front();
    if (reader_waiting_ > 0 && queues_[queue].size() <= capacity_ / 2) space_.notify_one();
    return true;
  }
  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    ready_.notify_all();
  }
  void fail(std::exception_ptr error) {
    std::deque<FileJob> dropped;  // destroyed outside the lock: that finishes directories
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::move(error);
      failed_ = true;
      for (auto &q : queues_) {
        std::move(q.begin(), q.end(), std::back_inserter(dropped));
        q.clear();
      }
      ready_.notify_all();
      space_.notify_all();
    }
  }
  std::exception_ptr error() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_, space_;
  std::vector<std::deque<FileJob>> queues_;
  size_t capacity_;
  size_t idle_ = 0;
  size_t reader_waiting_ = 0;
  bool closed_ = false;
  bool failed_ = false;
  std::exception_ptr error_;
};

}  // namespace

void read_zip(const fs::path &archive, TreeWriter &out, const Logger &log) {
  ZipFile zip(archive, "archive " + archive.string());
  const Limits &limits = out.limits();
  const uint64_t count = zip.entries();
  unsigned threads = limits.threads == 0 ? std::thread::hardware_concurrency() : limits.threads;
  const size_t workers =
      static_cast<size_t>(std::clamp<uint64_t>(count / kFilesPerWorker, 1, std::max(1u, threads)));
  const bool by_directory = limits.distribution == Distribution::kDirectories;
  const bool workers_create = limits.distribution != Distribution::kPipeline;
  JobQueue queue(by_directory ? workers : 1, kQueuePerWorker * workers);

  auto work = [&](size_t which) {
    try {
      EntryReader reader(zip, out);
      FileJob job;
      while (queue.pop(by_directory ? which : 0, job)) {
        if (workers_create) out.create(job.entry.name, job.placed, job.entry.mode);
        reader.write(job);
        job = FileJob{};
      }
    } catch (...) {
      queue.fail(std::current_exception());
    }
  };
  std::vector<std::thread> pool;
  for (size_t w = 0; w < workers && workers > 1; ++w) pool.emplace_back(work, w);

  try {
    EntryReader reader(zip, out);  // links, and every file when there is no worker
    for (uint64_t i = 0; i < count; ++i) {
      Entry e = zip.next(i);
      if ((e.flags & 1u) || e.method == 99) out.refuse(e.name, "is encrypted");
      const mode_t type = e.mode & S_IFMT;
      const bool named_dir = !e.name.empty() && e.name.back() == '/';
      if (type == S_IFDIR || (type == 0 && named_dir)) {
        out.directory(e.name, (e.mode & 07777) ? e.mode : 0755, e.mtime);
        continue;
      }
      if (e.method != 0 && e.method != 8) {
        out.refuse(e.name, "is compressed with method " + std::to_string(e.method) +
                               ", which is not supported (only stored and deflated)");
      }
      if (type == S_IFLNK) {
        if (e.size > kMaxLinkText) out.refuse(e.name, "is a symbolic link with an overlong target");
        out.symlink(e.name, reader.read_small(e, kMaxLinkText), e.mtime);
      } else if (type == 0 || type == S_IFREG) {
        const mode_t mode = (e.mode & 07777) ? e.mode : 0644u;
        TreeWriter::Placed placed =
            workers_create ? out.place_parent(e.name) : out.place_file(e.name, mode);
        e.mode = mode;
        FileJob job{std::move(e), std::move(placed)};
        if (pool.empty()) {
          if (workers_create) out.create(job.entry.name, job.placed, mode);
          reader.write(job);
        } else {
          const size_t target =
              by_directory ? std::hash<const void *>()(job.placed.dir.get()) % workers : 0;
          if (!queue.push(target, std::move(job))) break;
        }
      } else {
        out.refuse(e.name, "is a device, fifo or socket");
      }
    }
  } catch (...) {
    queue.fail(std::current_exception());
  }
  queue.close();
  for (std::thread &t : pool) t.join();
  if (std::exception_ptr error = queue.error()) std::rethrow_exception(error);
  log.debug("archive " + archive.string() + ": " + std::to_string(count) + " zip entries, " +
            std::to_string(workers) + " workers");
}

}  // namespace pyenv::archive
