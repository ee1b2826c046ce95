// libFuzzer target: arbitrary strings (any bytes, invalid UTF-8 included) as the members,
// paths, keys and values of a pyenv::Environment; Environment::to_json must give valid JSON.
//
// The validator below is strict RFC 8259 with no extension: well-formed UTF-8 only (no
// overlong forms, no surrogates, nothing past U+10FFFF), no raw control characters in
// strings, only the standard escapes, \u surrogates only in valid pairs, no trailing bytes.
// Beyond validity, the document must have exactly the members of DESIGN.md section 2, in
// order, and every string that was valid UTF-8 must come back unchanged.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "env/environment.hpp"

namespace {

[[noreturn]] void violated(const std::string &what, const std::string &json) {
  std::fprintf(stderr, "json_fuzz: invariant violated: %s\nin: %s\n", what.c_str(), json.c_str());
  std::abort();
}

// Length of the well-formed UTF-8 sequence at s[i] (Unicode table 3-7), 0 when there is none.
size_t utf8_sequence(const std::string &s, size_t i) {
  auto at = [&](size_t k) -> int { return k < s.size() ? static_cast<unsigned char>(s[k]) : -1; };
  auto in = [](int b, int lo, int hi) { return b >= lo && b <= hi; };
  const int b0 = at(i);
  if (in(b0, 0x00, 0x7f)) return 1;
  if (in(b0, 0xc2, 0xdf)) return in(at(i + 1), 0x80, 0xbf) ? 2 : 0;
  int lo = 0x80, hi = 0xbf;
  if (b0 == 0xe0) lo = 0xa0;
  if (b0 == 0xed) hi = 0x9f;  // no surrogates
  if (in(b0, 0xe0, 0xef)) {
    return in(at(i + 1), lo, hi) && in(at(i + 2), 0x80, 0xbf) ? 3 : 0;
  }
  if (b0 == 0xf0) lo = 0x90;
  if (b0 == 0xf4) hi = 0x8f;  // nothing past U+10FFFF
  if (in(b0, 0xf0, 0xf4)) {
    return in(at(i + 1), lo, hi) && in(at(i + 2), 0x80, 0xbf) && in(at(i + 3), 0x80, 0xbf) ? 4 : 0;
  }
  return 0;
}

bool valid_utf8(const std::string &s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void append_utf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// A parsed JSON value: just enough of a DOM to compare with what went in.
struct Value {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  std::string text;  // a string's decoded bytes
  std::vector<Value> items;
  std::vector<std::pair<std::string, Value>> members;  // in document order
};

// Strict recursive-descent parser; any deviation from RFC 8259 is an invariant violation.
class Parser {
 public:
  explicit Parser(const std::string &json) : s_(json) {}

  Value document() {
    Value v = value(0);
    space();
    if (i_ != s_.size()) fail("trailing bytes");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string &why) const {
    violated(why + " at byte " + std::to_string(i_), s_);
  }
  int peek() const { return i_ < s_.size() ? static_cast<unsigned char>(s_[i_]) : -1; }
  void expect(char c) {
    if (peek() != static_cast<unsigned char>(c)) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  void space() {
    while (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r') ++i_;
  }
  void literal(const char *word) {
    for (const char *p = word; *p; ++p) expect(*p);
  }

  Value value(int depth) {
    if (depth > 64) fail("nested too deeply");
    space();
    Value v;
    switch (peek()) {
      case '{':
        v.kind = Value::kObject;
        ++i_;
        space();
        if (peek() == '}') {
          ++i_;
          return v;
        }
        for (;;) {
          space();
          std::string key = string();
          space();
          expect(':');
          v.members.emplace_back(std::move(key), value(depth + 1));
          space();
          if (peek() == '}') {
            ++i_;
            return v;
          }
          expect(',');
        }
      case '[':
        v.kind = Value::kArray;
        ++i_;
        space();
        if (peek() == ']') {
          ++i_;
          return v;
        }
        for (;;) {
          v.items.push_back(value(depth + 1));
          space();
          if (peek() == ']') {
            ++i_;
            return v;
          }
          expect(',');
        }
      case '"':
        v.kind = Value::kString;
        v.text = string();
        return v;
      case 't':
        literal("true");
        v.kind = Value::kBool;
        return v;
      case 'f':
        literal("false");
        v.kind = Value::kBool;
        return v;
      case 'n':
        literal("null");
        return v;
      default:
        number();
        v.kind = Value::kNumber;
        return v;
    }
  }

  void digits() {
    if (peek() < '0' || peek() > '9') fail("expected a digit");
    while (peek() >= '0' && peek() <= '9') ++i_;
  }

  void number() {
    if (peek() == '-') ++i_;
    if (peek() == '0') {
      ++i_;
    } else {
      digits();
    }
    if (peek() == '.') {
      ++i_;
      digits();
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      digits();
    }
  }

  uint32_t hex4() {
    uint32_t cp = 0;
    for (int k = 0; k < 4; ++k) {
      int c = peek();
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) fail("expected a hex digit");
      cp = cp * 16 + static_cast<uint32_t>(d);
      ++i_;
    }
    return cp;
  }

  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      int c = peek();
      if (c < 0) fail("unterminated string");
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c < 0x20) fail("raw control character in a string");
      if (c == '\\') {
        ++i_;
        int e = peek();
        ++i_;
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out += static_cast<char>(e);
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'n':
            out += '\n';
            break;
          case 'r':
            out += '\r';
            break;
          case 't':
            out += '\t';
            break;
          case 'u': {
            uint32_t cp = hex4();
            if (cp >= 0xdc00 && cp <= 0xdfff) fail("lone low surrogate escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
              expect('\\');
              expect('u');
              uint32_t low = hex4();
              if (low < 0xdc00 || low > 0xdfff) fail("high surrogate escape without its low");
              cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            }
            append_utf8(out, cp);
            break;
          }
          default:
            fail("invalid escape");
        }
        continue;
      }
      size_t n = utf8_sequence(s_, i_);
      if (n == 0) fail("invalid UTF-8");
      out.append(s_, i_, n);
      i_ += n;
    }
  }

  const std::string &s_;
  size_t i_ = 0;
};

// A string that went in: when it was valid UTF-8 it must come back exactly.
void same(const std::string &in, const Value &out, const std::string &what,
          const std::string &json) {
  if (out.kind != Value::kString) violated(what + " is not a string", json);
  if (valid_utf8(in) && out.text != in) violated(what + " changed on the way", json);
}

void same_optional(const std::optional<std::string> &in, const Value &out, const std::string &what,
                   const std::string &json) {
  if (!in) {
    if (out.kind != Value::kNull) violated(what + " should be null", json);
  } else {
    same(*in, out, what, json);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FuzzedDataProvider in(data, size);
  pyenv::Environment env;
  auto text = [&] { return in.ConsumeRandomLengthString(256); };
  if (in.ConsumeBool()) env.exec_type = text();
  env.python_exec = text();
  if (in.ConsumeBool()) env.python_home = text();
  if (in.ConsumeBool()) env.working_directory = text();
  for (size_t n = in.ConsumeIntegralInRange<size_t>(0, 8); n > 0; --n) env.paths.push_back(text());
  while (in.remaining_bytes() > 0) {
    std::string key = text();
    env.variables[key] = text();
  }

  const std::string json = env.to_json();
  const Value doc = Parser(json).document();

  static const char *const kMembers[] = {"exec_type",         "python_exec", "python_home",
                                         "working_directory", "paths",       "env"};
  if (doc.kind != Value::kObject || doc.members.size() != 6) {
    violated("not an object of the six members", json);
  }
  for (size_t i = 0; i < 6; ++i) {
    if (doc.members[i].first != kMembers[i]) violated("member " + std::to_string(i), json);
  }
  same(env.exec_type, doc.members[0].second, "exec_type", json);
  same(env.python_exec, doc.members[1].second, "python_exec", json);
  same_optional(env.python_home, doc.members[2].second, "python_home", json);
  same_optional(env.working_directory, doc.members[3].second, "working_directory", json);

  const Value &paths = doc.members[4].second;
  if (paths.kind != Value::kArray || paths.items.size() != env.paths.size()) {
    violated("paths is not an array of every path", json);
  }
  for (size_t i = 0; i < env.paths.size(); ++i) {
    same(env.paths[i], paths.items[i], "paths[" + std::to_string(i) + "]", json);
  }

  const Value &vars = doc.members[5].second;
  if (vars.kind != Value::kObject || vars.members.size() != env.variables.size()) {
    violated("env is not an object of every variable", json);
  }
  size_t i = 0;
  for (const auto &[key, value] : env.variables) {
    const auto &[out_key, out_value] = vars.members[i++];
    if (valid_utf8(key) && out_key != key) violated("a key changed on the way", json);
    same(value, out_value, "the value of a variable", json);
  }
  return 0;
}
