#include "cache/sha256.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "cache/libcrypto.hpp"
#include "error.hpp"

namespace pyenv::cache {

struct Sha256::Context {
  const LibCrypto &crypto = libcrypto();
  EVP_MD_CTX *ctx = nullptr;
  ~Context() { crypto.EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  const LibCrypto &c = context_->crypto;
  context_->ctx = c.EVP_MD_CTX_new();
  if (context_->ctx == nullptr ||
      c.EVP_DigestInit_ex(context_->ctx, c.EVP_sha256(), nullptr) != 1) {
    fail(Status::kNoMemory, "cannot start a SHA-256 computation (libcrypto)");
  }
}

Sha256::~Sha256() = default;

void Sha256::update(const void *data, size_t size) {
  if (context_->crypto.EVP_DigestUpdate(context_->ctx, data, size) != 1) {
    fail(Status::kError, "SHA-256 update failed (libcrypto)");
  }
}

std::string Sha256::hex_digest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (context_->crypto.EVP_DigestFinal_ex(context_->ctx, digest, &length) != 1) {
    fail(Status::kError, "SHA-256 final failed (libcrypto)");
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::string sha256_fd(int fd, const std::string &what, uint64_t *bytes) {
  // 256 KiB: large enough that read() calls cost little next to hashing, small enough to
  // stay in cache between the kernel's copy and the digest; 64 KiB and 1 MiB measured no
  // better. Constant memory whatever the archive's size.
  constexpr size_t kBlock = 256 << 10;
  std::vector<unsigned char> block(kBlock);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  Sha256 sha;
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, block.data(), block.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(Status::kIo, errno_message("cannot read " + what, errno));
    }
    if (n == 0) break;
    sha.update(block.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  if (bytes != nullptr) *bytes = total;
  return sha.hex_digest();
}

}  // namespace pyenv::cache
