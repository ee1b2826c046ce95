// The core's one error family. plugin/ turns these into pyenv_status codes.
#pragma once

#include <stdexcept>
#include <string>

namespace pyenv {

// Values equal the C ABI's pyenv_status (plugin/ asserts it).
enum class Status : int {
  kError = -1,
  kInvalid = -2,
  kConfig = -3,
  kIo = -4,
  kArchive = -5,
  kState = -6,
  kPython = -7,
  kNoMemory = -8,
};

class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string &message)
      : std::runtime_error(message), status_(status) {}
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

[[noreturn]] inline void fail(Status status, const std::string &message) {
  throw Error(status, message);
}

// "<what>: <strerror(err)>", for failures of system calls.
std::string errno_message(const std::string &what, int err);

}  // namespace pyenv
