// SHA-256 through OpenSSL's libcrypto, which uses the CPU's SHA extensions (SHA-NI) when it
// has them: about 10x coreutils' sha256sum, whose portable C code is the benchmark's peer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace pyenv::cache {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256 &) = delete;
  Sha256 &operator=(const Sha256 &) = delete;

  void update(const void *data, size_t size);
  // The digest as 64 lower-case hex digits. Ends the computation: call once.
  std::string hex_digest();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// The hex SHA-256 of everything `fd` reads from its current offset to its end, read in
// fixed-size blocks so that memory stays constant whatever the size. `what` names the file
// in errors (Error(kIo)). `bytes`, when given, receives the number of bytes hashed.
std::string sha256_fd(int fd, const std::string &what, uint64_t *bytes = nullptr);

}  // namespace pyenv::cache
