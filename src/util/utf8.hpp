// UTF-8 checks for text that leaves the library (messages, JSON).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pyenv {

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
inline size_t utf8_length(const std::string &s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t len;
  uint32_t min;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) {
    len = 2;
    min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3;
    min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  uint32_t cp = c & (0x7f >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

inline bool is_utf8(const std::string &s) {
  for (size_t i = 0, n; i < s.size(); i += n) {
    if ((n = utf8_length(s, i)) == 0) return false;
  }
  return true;
}

}  // namespace pyenv
