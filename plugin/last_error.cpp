#include <cstring>

#include "guard.hpp"

namespace pyenv::abi {
namespace {

// Trivially destructible on purpose: a thread_local with a destructor (std::string) would
// register a TLS destructor that pins the plugin in memory after dlclose.
constexpr size_t kCapacity = 16 * 1024;
thread_local char t_message[kCapacity] = "no error";

}  // namespace

void set_last_error(const char *message) noexcept {
  if (message == nullptr) message = "unknown error";
  size_t len = std::strlen(message);
  if (len >= kCapacity) {
    static const char kMark[] = "\n...(truncated)";
    // Keep the start (what failed, where) and the end (the last lines of a tool's output).
    size_t head = (kCapacity - sizeof kMark) / 2;
    size_t tail = kCapacity - sizeof kMark - head;
    std::memcpy(t_message, message, head);
    std::memcpy(t_message + head, kMark, sizeof kMark - 1);
    std::memcpy(t_message + head + sizeof kMark - 1, message + len - tail, tail);
    t_message[kCapacity - 1] = '\0';
    return;
  }
  std::memcpy(t_message, message, len + 1);
}

const char *last_error() noexcept { return t_message; }

}  // namespace pyenv::abi
