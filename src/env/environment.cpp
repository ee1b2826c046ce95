#include "env/environment.hpp"

#include <cstdio>

#include "util/utf8.hpp"

namespace pyenv {
namespace {

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
