#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "archive/libarchive.hpp"
#include "archive/readers.hpp"
#include "error.hpp"
#include "util/unique_fd.hpp"

namespace pyenv::archive {
namespace {

struct ArchiveCloser {
  void operator()(struct archive *a) const { libarchive().archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<struct archive, ArchiveCloser>;

// libarchive's message for the last failure. Some failures have none (a .tar.gz whose gzip
// trailer is cut short, found by tests/fuzz/archive_fuzz): NULL must never reach a string.
std::string error_of(struct archive *a) {
  const char *message = libarchive().archive_error_string(a);
  return message != nullptr ? message : "unknown error";
}

struct StreamError {
  Status status;
  std::string message;
};

// The decompressed bytes of a compressed tar, read to the very end of the compressed data,
// so that every integrity check it carries is verified: libarchive's tar reader stops at
// the end-of-archive blocks, before the compressed stream ends, and its gzip filter never
// checks a member's trailer. Never throws (libarchive's C code is between it and us);
// a failure ends the stream and is kept in error().
class TarStream {
 public:
  virtual ~TarStream() = default;
  // The next piece of decompressed bytes, valid until the next call; empty at the end or
  // after a failure.
  virtual std::string_view read() = 0;
  const std::optional<StreamError> &error() const { return error_; }

 protected:
  std::string_view failed(Status status, std::string message) {
    if (!error_) error_ = StreamError{status, std::move(message)};
    return {};
  }

 private:
  std::optional<StreamError> error_;
};

// gzip (RFC 1952) through zlib, which checks each member's CRC-32 and length. Members
// follow one another as in `cat a.gz b.gz`; bytes after the last member that do not start
// another are ignored, as gzip and Java's GZIPInputStream ignore them.
class GzipStream final : public TarStream {
 public:
  explicit GzipStream(const fs::path &path) : in_(kBuffer), out_(kBuffer) {
    fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_.valid()) {
      failed(Status::kIo, errno_message("cannot open it", errno));
      return;
    }
    // 16 + the largest window: gzip only, with its header and trailer.
    if (::inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) {
      failed(Status::kNoMemory, "cannot allocate a gzip decoder");
      return;
    }
    initialised_ = true;
  }
  GzipStream(const GzipStream &) = delete;
  GzipStream &operator=(const GzipStream &) = delete;
  ~GzipStream() override {
    if (initialised_) ::inflateEnd(&z_);
  }

  std::string_view read() override {
    if (pending_) return failed(pending_->status, pending_->message);
    while (initialised_ && !done_ && !error()) {
      if (between_members_) {
        if (!have(2)) {
          done_ = true;
          break;
        }
        if (z_.next_in[0] != 0x1f || z_.next_in[1] != 0x8b) {
          done_ = true;  // trailing bytes
          break;
        }
        ::inflateReset(&z_);
        between_members_ = false;
      }
      if (z_.avail_in == 0 && !eof_) fill();
      z_.next_out = out_.data();
      z_.avail_out = static_cast<uInt>(out_.size());
      const int rc = ::inflate(&z_, Z_NO_FLUSH);
      const size_t produced = out_.size() - z_.avail_out;
      std::optional<StreamError> problem;
      if (rc == Z_STREAM_END) {
        between_members_ = true;
      } else if (rc == Z_BUF_ERROR && produced == 0) {
        // No progress: zlib needs more input than there is.
        if (eof_ && z_.avail_in == 0) problem = {Status::kArchive, "the gzip data is truncated"};
        if (z_.avail_in != 0) problem = {Status::kArchive, "the gzip data is corrupt"};
      } else if (rc == Z_MEM_ERROR) {
        problem = {Status::kNoMemory, "out of memory decoding the gzip data"};
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        problem = {Status::kArchive, std::string("the gzip data is corrupt: ") +
                                         (z_.msg != nullptr ? z_.msg : "zlib error")};
      }
      // What was decoded before a failure is delivered first, so that the failure is
      // reported in the entry it hit.
      if (produced > 0) {
        pending_ = std::move(problem);
        return {reinterpret_cast<const char *>(out_.data()), produced};
      }
      if (problem) return failed(problem->status, problem->message);
    }
    return {};
  }

 private:
  static constexpr size_t kBuffer = 256 * 1024;

  // Moves what is left of the input to the front of the buffer and reads more after it.
  void fill() {
    if (z_.avail_in > 0 && z_.next_in != in_.data()) {
      std::memmove(in_.data(), z_.next_in, z_.avail_in);
    }
    z_.next_in = in_.data();
    for (;;) {
      const ssize_t n = ::read(fd_.get(), in_.data() + z_.avail_in, in_.size() - z_.avail_in);
      if (n > 0) {
        z_.avail_in += static_cast<uInt>(n);
        return;
      }
      if (n == 0) {
        eof_ = true;
        return;
      }
      if (errno != EINTR) {
        eof_ = true;
        failed(Status::kIo, errno_message("cannot read it", errno));
        return;
      }
    }
  }

  // At least `n` bytes of input, unless the file ends first.
  bool have(size_t n) {
    while (z_.avail_in < n && !eof_) fill();
    return z_.avail_in >= n;
  }

  UniqueFd fd_;
  z_stream z_{};
  bool initialised_ = false;
  bool eof_ = false;
  bool between_members_ = true;
  bool done_ = false;
  std::optional<StreamError> pending_;  // a failure after the last bytes delivered
  std::vector<unsigned char> in_;
  std::vector<unsigned char> out_;
};

// bzip2, xz and zstd through libarchive's own filters, read as one raw stream to its end:
// libbz2, liblzma and libzstd check their CRCs and checksums as the end is reached.
class FilterStream final : public TarStream {
 public:
  explicit FilterStream(const fs::path &path)
      : archive_(libarchive().archive_read_new()), buffer_(kBuffer) {
    if (!archive_) {
      failed(Status::kNoMemory, "cannot allocate a reader");
      return;
    }
    libarchive().archive_read_support_filter_all(archive_.get());
    libarchive().archive_read_support_format_raw(archive_.get());
    struct archive_entry *entry = nullptr;
    if (libarchive().archive_read_open_filename(archive_.get(), path.c_str(), kBuffer) !=
            ARCHIVE_OK ||
        libarchive().archive_read_next_header(archive_.get(), &entry) != ARCHIVE_OK) {
      failed(Status::kArchive, error_of(archive_.get()));
    }
  }

  std::string_view read() override {
    if (error() || done_) return {};
    const la_ssize_t n =
        libarchive().archive_read_data(archive_.get(), buffer_.data(), buffer_.size());
    if (n < 0) return failed(Status::kArchive, error_of(archive_.get()));
    if (n == 0) done_ = true;
    return {buffer_.data(), static_cast<size_t>(n)};
  }

 private:
  static constexpr size_t kBuffer = 256 * 1024;
  ArchivePtr archive_;
  std::vector<char> buffer_;
  bool done_ = false;
};

// Decompresses ahead on a thread of its own, so that inflating overlaps with creating and
// writing the files (tests/bench: about a third of a cold open of a tar.gz is inflating).
// Holds at most kSlots pieces of the inner stream, copied; delivers them in order, then
// the inner stream's failure, if any.
class PrefetchStream final : public TarStream {
 public:
  explicit PrefetchStream(std::unique_ptr<TarStream> inner)
      : inner_(std::move(inner)), thread_([this] { produce(); }) {}
  PrefetchStream(const PrefetchStream &) = delete;
  PrefetchStream &operator=(const PrefetchStream &) = delete;
  ~PrefetchStream() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  std::string_view read() override {
    std::unique_lock<std::mutex> lock(mutex_);
    if (taken_) {  // the piece given last time is no longer needed
      taken_ = false;
      ++consumed_;
      changed_.notify_all();
    }
    changed_.wait(lock, [&] { return produced_ > consumed_ || ended_; });
    if (produced_ > consumed_) {
      taken_ = true;
      const Slot &slot = slots_[consumed_ % kSlots];
      return {slot.data.data(), slot.size};
    }
    if (inner_->error()) return failed(inner_->error()->status, inner_->error()->message);
    return {};
  }

 private:
  static constexpr size_t kSlots = 4;
  struct Slot {
    std::vector<char> data;
    size_t size = 0;
  };

  void produce() {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || produced_ - consumed_ < kSlots; });
        if (stop_) return;
      }
      // The slot is free: only this thread touches it until produced_ moves past it.
      const std::string_view piece = inner_->read();
      Slot &slot = slots_[produced_ % kSlots];
      if (!piece.empty()) {
        if (slot.data.size() < piece.size()) slot.data.resize(piece.size());
        std::memcpy(slot.data.data(), piece.data(), piece.size());
        slot.size = piece.size();
      }
      std::lock_guard<std::mutex> lock(mutex_);
      if (piece.empty()) {
        ended_ = true;
      } else {
        ++produced_;
      }
      changed_.notify_all();
      if (ended_) return;
    }
  }

  std::unique_ptr<TarStream> inner_;
  Slot slots_[kSlots];
  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t produced_ = 0;  // pieces filled
  uint64_t consumed_ = 0;  // pieces given and done with
  bool taken_ = false;
  bool ended_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: started once everything else is ready
};

// The stream that checks the compression of `archive`, or none for a plain tar.
std::unique_ptr<TarStream> open_stream(const fs::path &archive, Format format) {
  std::unique_ptr<TarStream> stream;
  if (format == Format::kTarGzip) stream = std::make_unique<GzipStream>(archive);
  if (format == Format::kTarCompressed) stream = std::make_unique<FilterStream>(archive);
  if (!stream || stream->error()) return stream;
  return std::make_unique<PrefetchStream>(std::move(stream));
}

// libarchive's read callback over a TarStream.
la_ssize_t read_stream(struct archive *a, void *client, const void **buffer) {
  auto *stream = static_cast<TarStream *>(client);
  const std::string_view piece = stream->read();
  *buffer = piece.data();
  if (piece.empty() && stream->error()) {
    libarchive().archive_set_error(a, EIO, "%s", stream->error()->message.c_str());
    return ARCHIVE_FATAL;
  }
  return static_cast<la_ssize_t>(piece.size());
}

}  // namespace

void read_tar(const fs::path &archive, Format format, TreeWriter &out, const Logger &log) {
  const std::string label = "archive " + archive.string();
  const LibArchive &la = [&]() -> const LibArchive & {
    try {
      return libarchive();
    } catch (const Error &e) {
      fail(e.status(), label + ": " + e.what());
    }
  }();
  ArchivePtr in(la.archive_read_new());
  if (!in) fail(Status::kNoMemory, label + ": cannot allocate a reader");
  la.archive_read_support_format_tar(in.get());
  la.archive_read_support_format_gnutar(in.get());
  const std::unique_ptr<TarStream> stream = open_stream(archive, format);
  // A failure of the stream itself (its status and message) rather than libarchive's.
  auto stream_failure = [&](const std::string &context) {
    if (stream && stream->error()) {
      fail(stream->error()->status, label + ": " + context + stream->error()->message);
    }
  };
  int opened = ARCHIVE_OK;
  if (stream) {
    opened = la.archive_read_open(in.get(), stream.get(), nullptr, read_stream, nullptr);
  } else {
    la.archive_read_support_filter_all(in.get());
    opened = la.archive_read_open_filename(in.get(), archive.c_str(), TreeWriter::kBufferSize);
  }
  if (opened != ARCHIVE_OK) {
    stream_failure("");
    fail(Status::kArchive, label + ": not a readable tar: " + error_of(in.get()));
  }
  std::vector<char> buffer(TreeWriter::kBufferSize);
  for (;;) {
    struct archive_entry *entry = nullptr;
    int rc = la.archive_read_next_header(in.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      const std::string after =
          "corrupt or truncated after " + std::to_string(out.stats().entries) + " entries: ";
      stream_failure(after);
      fail(Status::kArchive, label + ": " + after + error_of(in.get()));
    }
    const char *raw_name = la.archive_entry_pathname(entry);
    const std::string name = raw_name ? raw_name : "";
    if (la.archive_entry_is_encrypted(entry)) out.refuse(name, "is encrypted");
    const mode_t mode = la.archive_entry_perm(entry);
    const time_t mtime = la.archive_entry_mtime(entry);
    if (const char *target = la.archive_entry_hardlink(entry)) {
      out.hardlink(name, target);
      continue;
    }
    switch (la.archive_entry_filetype(entry)) {
      case AE_IFDIR:
        out.directory(name, mode, mtime);
        break;
      case AE_IFLNK: {
        const char *target = la.archive_entry_symlink(entry);
        out.symlink(name, target ? target : "", mtime);
        break;
      }
      case AE_IFREG: {
        const la_int64_t size = la.archive_entry_size(entry);
        out.file(name, mode, mtime, size < 0 ? 0 : static_cast<uint64_t>(size),
                 [&]() -> std::string_view {
                   la_ssize_t n = la.archive_read_data(in.get(), buffer.data(), buffer.size());
                   if (n < 0) {
                     // The stream's own failure says more than what libarchive made of it.
                     if (stream && stream->error()) {
                       if (stream->error()->status != Status::kArchive) {
                         stream_failure("reading entry \"" + name + "\": ");
                       }
                       out.refuse(name, "is corrupt or truncated: " + stream->error()->message);
                     }
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
  if (stream) {
    // The tar ended; its compressed data must end too, with every check passing. What
    // follows the end-of-archive blocks is bounded like the entries' bytes.
    uint64_t tail = 0;
    for (std::string_view piece = stream->read(); !piece.empty(); piece = stream->read()) {
      tail += piece.size();
      if (tail > out.limits().max_bytes) {
        fail(Status::kArchive, label + ": more than " + std::to_string(out.limits().max_bytes) +
                                   " bytes after the end of the tar (pyenv.archive.max-bytes)");
      }
    }
    stream_failure("after the last of " + std::to_string(out.stats().entries) + " entries: ");
  }
  log.debug(label + ": " + std::to_string(out.stats().entries) + " tar entries");
}

}  // namespace pyenv::archive
