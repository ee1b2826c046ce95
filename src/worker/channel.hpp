// The host's end of a worker's channel: frames over a Unix stream socket (the protocol is
// written out in pyenv_worker.py, the worker's end). One small fixed header before each
// payload, read and written with loops that handle short reads and writes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "env/interpreter.hpp"
#include "util/unique_fd.hpp"

namespace pyenv::worker {

enum class Kind : int32_t {
  kScript = 0,  // host -> worker, first: pyenv_worker.py's text, for the bootstrap
  kExec = 1,
  kCallJson = 2,
  kCallBytes = 3,
  kCallBatch = 4,
  kInfo = 5,
  kReady = 64,
  kResult = 65,
  kError = 66,
};

// "EXEC", "RESULT", ... or the number.
std::string kind_name(int32_t kind);

constexpr size_t kHeaderSize = 16;  // u64 length | i32 kind | u32 sequence, little endian

// A received frame. The payload is malloc'd, so that call_bytes can hand it to the host.
struct Frame {
  int32_t kind = 0;
  uint32_t sequence = 0;
  Buffer payload;
};

// How a receive ended without a frame.
enum class Closed { kEof, kTimeout };

class Channel {
 public:
  explicit Channel(int fd) : fd_(fd) {}

  // Writes one frame whose payload is `parts`, in order. Throws Error(kPython) when the
  // worker is gone (EPIPE, ECONNRESET) and Error(kIo) for other failures.
  void send(Kind kind, uint32_t sequence, const std::vector<std::string_view> &parts);

  // The next frame, or why there is none: the worker closed its end (or the supervisor
  // shut ours down when the worker died), or `deadline` passed first.
  // Throws Error(kIo) for a failed read.
  std::optional<Frame> receive(std::optional<std::chrono::steady_clock::time_point> deadline,
                               Closed &why);

 private:
  // Waits until the socket is readable or `deadline`; false at the deadline.
  bool wait_readable(std::optional<std::chrono::steady_clock::time_point> deadline);
  // Reads at least one byte into `out` (up to `size`), waiting as receive() does. 0 at EOF,
  // -1 at the deadline.
  ssize_t read_some(char *out, size_t size,
                    std::optional<std::chrono::steady_clock::time_point> deadline);

  static constexpr size_t kReadSize = 1 << 16;

  int fd_;
  // Bytes read but not yet taken: a read takes what is there, up to kReadSize, so that a
  // small reply costs one system call.
  std::vector<char> buffer_ = std::vector<char>(kReadSize);
  size_t begin_ = 0;
  size_t end_ = 0;
};

// Payload helpers: a call's callable, then its data.
std::string u32_bytes(uint32_t value);
std::string u64_bytes(uint64_t value);
uint32_t read_u32(const char *p);
uint64_t read_u64(const char *p);
int32_t read_i32(const char *p);

}  // namespace pyenv::worker
