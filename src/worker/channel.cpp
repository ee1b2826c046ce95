#include "worker/channel.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <limits.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "error.hpp"

namespace pyenv::worker {
namespace {

using Clock = std::chrono::steady_clock;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the channel's integers are little endian, as the host's own");

// Frames larger than this are refused: a worker that sends one is broken.
constexpr uint64_t kMaxFrame = uint64_t{1} << 40;

}  // namespace

std::string kind_name(int32_t kind) {
  switch (static_cast<Kind>(kind)) {
    case Kind::kScript:
      return "SCRIPT";
    case Kind::kExec:
      return "EXEC";
    case Kind::kCallJson:
      return "CALL_JSON";
    case Kind::kCallBytes:
      return "CALL_BYTES";
    case Kind::kCallBatch:
      return "CALL_BATCH";
    case Kind::kInfo:
      return "INFO";
    case Kind::kReady:
      return "READY";
    case Kind::kResult:
      return "RESULT";
    case Kind::kError:
      return "ERROR";
  }
  return std::to_string(kind);
}

std::string u32_bytes(uint32_t value) {
  std::string out(4, '\0');
  std::memcpy(out.data(), &value, 4);
  return out;
}

std::string u64_bytes(uint64_t value) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &value, 8);
  return out;
}

uint32_t read_u32(const char *p) {
  uint32_t value;
  std::memcpy(&value, p, 4);
  return value;
}

uint64_t read_u64(const char *p) {
  uint64_t value;
  std::memcpy(&value, p, 8);
  return value;
}

int32_t read_i32(const char *p) {
  int32_t value;
  std::memcpy(&value, p, 4);
  return value;
}

void Channel::send(Kind kind, uint32_t sequence, const std::vector<std::string_view> &parts) {
  uint64_t length = 0;
  for (std::string_view part : parts) length += part.size();
  char header[kHeaderSize];
  const int32_t kind_value = static_cast<int32_t>(kind);
  std::memcpy(header, &length, 8);
  std::memcpy(header + 8, &kind_value, 4);
  std::memcpy(header + 12, &sequence, 4);

  std::vector<iovec> vectors;
  vectors.reserve(parts.size() + 1);
  vectors.push_back(iovec{header, kHeaderSize});
  for (std::string_view part : parts) {
    if (!part.empty()) vectors.push_back(iovec{const_cast<char *>(part.data()), part.size()});
  }
  size_t first = 0;
  while (first < vectors.size()) {
    msghdr message{};
    message.msg_iov = vectors.data() + first;
    message.msg_iovlen = std::min<size_t>(vectors.size() - first, IOV_MAX);
    // MSG_NOSIGNAL: a worker that died must not raise SIGPIPE in the host.
    const ssize_t n = ::sendmsg(fd_, &message, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET) {
        fail(Status::kPython, "python: the worker closed its channel");
      }
      fail(Status::kIo, errno_message("python: writing to the worker's channel", errno));
    }
    size_t written = static_cast<size_t>(n);
    while (first < vectors.size() && written >= vectors[first].iov_len) {
      written -= vectors[first].iov_len;
      ++first;
    }
    if (written > 0) {
      vectors[first].iov_base = static_cast<char *>(vectors[first].iov_base) + written;
      vectors[first].iov_len -= written;
    }
  }
}

bool Channel::wait_readable(std::optional<Clock::time_point> deadline) {
  if (!deadline) return true;  // a blocking read waits
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
    if (left.count() < 0) return false;
    pollfd fd{fd_, POLLIN, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 1 << 30)));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) {
      fail(Status::kIo, errno_message("python: waiting for the worker", errno));
    }
  }
}

ssize_t Channel::read_some(char *out, size_t size, std::optional<Clock::time_point> deadline) {
  for (;;) {
    if (!wait_readable(deadline)) return -1;
    const ssize_t n = ::recv(fd_, out, size, 0);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) return 0;
    fail(Status::kIo, errno_message("python: reading from the worker's channel", errno));
  }
}

std::optional<Frame> Channel::receive(std::optional<Clock::time_point> deadline, Closed &why) {
  // The header, into the buffer.
  while (end_ - begin_ < kHeaderSize) {
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    const ssize_t n = read_some(buffer_.data() + end_, buffer_.size() - end_, deadline);
    if (n <= 0) {
      why = n == 0 ? Closed::kEof : Closed::kTimeout;
      return std::nullopt;
    }
    end_ += static_cast<size_t>(n);
  }
  const char *header = buffer_.data() + begin_;
  const uint64_t length = read_u64(header);
  Frame frame;
  frame.kind = read_i32(header + 8);
  frame.sequence = read_u32(header + 12);
  begin_ += kHeaderSize;
  if (length > kMaxFrame) {
    fail(Status::kPython, "python: the worker sent a " + kind_name(frame.kind) + " frame of " +
                              std::to_string(length) + " bytes; the channel is broken");
  }

  // The payload: what the buffer holds of it, then the rest straight into place.
  frame.payload = Buffer::allocate(static_cast<size_t>(length), "a reply from the worker");
  char *out = frame.payload.data();
  const size_t buffered = std::min<size_t>(end_ - begin_, length);
  if (buffered > 0) std::memcpy(out, buffer_.data() + begin_, buffered);
  begin_ += buffered;
  if (begin_ == end_) begin_ = end_ = 0;
  size_t have = buffered;
  while (have < length) {
    const ssize_t n = read_some(out + have, static_cast<size_t>(length) - have, deadline);
    if (n <= 0) {
      why = n == 0 ? Closed::kEof : Closed::kTimeout;
      return std::nullopt;
    }
    have += static_cast<size_t>(n);
  }
  return frame;
}

}  // namespace pyenv::worker
