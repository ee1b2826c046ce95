#include "env/environment.hpp"

#include <cstdio>

namespace pyenv {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
size_t utf8_length(const std::string &s, size_t i) {
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

void append_optional(std::string &out, const std::optional<std::string> &value) {
  out += value ? json_string(*value) : "null";
}

}  // namespace

std::string json_string(const std::string &text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          size_t len = utf8_length(text, i);
          if (len == 0) {
            out += "\xef\xbf\xbd";
            ++i;
          } else {
            out.append(text, i, len);
            i += len;
          }
          continue;
        }
    }
    ++i;
  }
  out += '"';
  return out;
}

std::string Environment::to_json() const {
  std::string out = "{\"exec_type\": " + json_string(exec_type);
  out += ", \"python_exec\": " + json_string(python_exec);
  out += ", \"python_home\": ";
  append_optional(out, python_home);
  out += ", \"working_directory\": ";
  append_optional(out, working_directory);
  out += ", \"paths\": [";
  for (size_t i = 0; i < paths.size(); ++i) out += (i ? ", " : "") + json_string(paths[i]);
  out += "], \"env\": {";
  bool first = true;
  for (const auto &[key, value] : variables) {
    out += (first ? "" : ", ") + json_string(key) + ": " + json_string(value);
    first = false;
  }
  out += "}}";
  return out;
}

}  // namespace pyenv
