// The one exception barrier every exported function goes through, and the per-thread
// last-error buffer behind pyenv_last_error().
#pragma once

#include <pyenv/pyenv.h>

#include <new>
#include <string>

#include "error.hpp"

namespace pyenv::abi {

// Stores `message` as this thread's last error (truncated to the buffer, never NULL).
void set_last_error(const char *message) noexcept;
const char *last_error() noexcept;

inline pyenv_status to_status(Status s) { return static_cast<pyenv_status>(s); }

// Runs `body`, turning every exception into a status and this thread's last error.
template <class Body>
pyenv_status guard(Body &&body) noexcept {
  try {
    body();
    return PYENV_OK;
  } catch (const Error &e) {
    set_last_error(e.what());
    return to_status(e.status());
  } catch (const std::bad_alloc &) {
    set_last_error("out of memory");
    return PYENV_ENOMEM;
  } catch (const std::exception &e) {
    set_last_error(e.what());
    return PYENV_ERROR;
  } catch (...) {
    set_last_error("unknown error");
    return PYENV_ERROR;
  }
}

// Fails with PYENV_EINVAL naming the argument when `p` is NULL.
template <class T>
void require(const T *p, const char *function, const char *argument) {
  if (p == nullptr) {
    fail(Status::kInvalid, std::string(function) + ": " + argument + " must not be NULL");
  }
}

}  // namespace pyenv::abi
