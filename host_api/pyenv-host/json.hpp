// A small JSON reader for what the plugin returns (pyenv.h: objects, arrays, strings,
// integers, booleans, null). pyenv-host is built from the public headers only, so it reads
// the plugin's JSON itself rather than borrowing the core's.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace pyenv_host {

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  // Throws std::runtime_error on malformed text.
  static Json parse(const std::string &text);

  // Members of an object; a missing one reads as null.
  const Json &operator[](const std::string &key) const;
  uint64_t as_u64() const { return number < 0 ? 0 : static_cast<uint64_t>(number); }
};

}  // namespace pyenv_host
