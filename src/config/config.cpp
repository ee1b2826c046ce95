#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>
#include <stdexcept>

#include "error.hpp"

namespace pyenv {
namespace {

// One configured value, with what messages and relative paths need to know about it.
struct Value {
  YAML::Node node;
  std::string key;
  std::string origin;  // "config_file /x/y.yaml" or "config_yaml"
  fs::path base_dir;   // relative paths are resolved against this
};

[[noreturn]] void bad_value(const Value &v, const std::string &what) {
  fail(Status::kConfig, v.key + ": " + what + " (in " + v.origin + ")");
}

const char *kind_of(const YAML::Node &node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "a scalar";
  }
}

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string lower(std::string s) {
  for (char &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string scalar(const Value &v) {
  if (!v.node.IsScalar()) bad_value(v, std::string("expected a string, got ") + kind_of(v.node));
  return v.node.Scalar();
}

std::string non_empty(const Value &v) {
  std::string s = trim(scalar(v));
  if (s.empty()) bad_value(v, "must not be empty");
  return s;
}

// A YAML sequence of strings, or Flink's comma-separated string.
std::vector<std::string> string_list(const Value &v) {
  std::vector<std::string> out;
  if (v.node.IsSequence()) {
    for (size_t i = 0; i < v.node.size(); ++i) {
      if (!v.node[i].IsScalar()) {
        fail(Status::kConfig, v.key + "[" + std::to_string(i) + "]: expected a string, got " +
                                  kind_of(v.node[i]) + " (in " + v.origin + ")");
      }
      std::string item = trim(v.node[i].Scalar());
      if (!item.empty()) out.push_back(item);
    }
    return out;
  }
  if (!v.node.IsScalar()) bad_value(v, std::string("expected a list, got ") + kind_of(v.node));
  std::stringstream in(v.node.Scalar());
  std::string item;
  while (std::getline(in, item, ',')) {
    item = trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

bool boolean(const Value &v) {
  std::string s = lower(trim(scalar(v)));
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  bad_value(v, "expected true or false, got \"" + scalar(v) + "\"");
}

uint64_t integer(const Value &v, uint64_t min, uint64_t max) {
  std::string s = trim(scalar(v));
  uint64_t n = 0;
  bool ok = !s.empty() && s.size() <= 19 &&
            std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (ok) n = std::stoull(s);
  if (!ok || n < min || n > max) {
    bad_value(v, "expected a whole number from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", got \"" + s + "\"");
  }
  return n;
}

uint64_t size_value(const Value &v) {
  try {
    return parse_size(trim(scalar(v)));
  } catch (const std::invalid_argument &) {
    bad_value(v, "expected a size such as 512m or 10g, got \"" + scalar(v) + "\"");
  }
}

fs::path resolve(const Value &v, const std::string &path) {
  fs::path p(path);
  if (p.is_relative()) p = v.base_dir / p;
  return p.lexically_normal();
}

// Splits Flink's "path#name" at the first '#'.
std::pair<std::string, std::optional<std::string>> split_hash(const std::string &spec) {
  size_t hash = spec.find('#');
  if (hash == std::string::npos) return {spec, std::nullopt};
  return {spec.substr(0, hash), spec.substr(hash + 1)};
}

bool plain_name(const std::string &name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

std::string item_key(const Value &v, size_t i) { return v.key + "[" + std::to_string(i) + "]"; }

void set_files(Config &c, const Value &v) {
  c.files.clear();
  std::vector<std::string> items = string_list(v);
  for (size_t i = 0; i < items.size(); ++i) {
    auto [path, name] = split_hash(items[i]);
    if (path.empty()) {
      fail(Status::kConfig, item_key(v, i) + ": \"" + items[i] + "\": empty path (in " +
                                v.origin + ")");
    }
    PythonFile f{items[i], resolve(v, path), ""};
    f.original_name = name ? *name : f.path.filename().string();
    if (!plain_name(f.original_name)) {
      fail(Status::kConfig, item_key(v, i) + ": \"" + items[i] +
                                "\": the name after '#' must be one plain file name (in " +
                                v.origin + ")");
    }
    c.files.push_back(std::move(f));
  }
}

void set_archives(Config &c, const Value &v) {
  c.archives.clear();
  std::vector<std::string> items = string_list(v);
  for (size_t i = 0; i < items.size(); ++i) {
    auto [path, target] = split_hash(items[i]);
    if (path.empty()) {
      fail(Status::kConfig, item_key(v, i) + ": \"" + items[i] + "\": empty path (in " +
                                v.origin + ")");
    }
    PythonArchive a{items[i], resolve(v, path), ""};
    a.target = target ? *target : a.path.filename().string();
    if (a.target.empty()) {
      fail(Status::kConfig, item_key(v, i) + ": \"" + items[i] +
                                "\": empty target directory after '#' (in " + v.origin + ")");
    }
    if (!plain_name(a.target)) {
      fail(Status::kConfig, item_key(v, i) + ": \"" + items[i] +
                                "\": target directory must be a single plain name (in " +
                                v.origin + ")");
    }
    for (size_t j = 0; j < c.archives.size(); ++j) {
      if (c.archives[j].target == a.target) {
        fail(Status::kConfig, item_key(v, i) + ": \"" + items[i] + "\": target directory \"" +
                                  a.target + "\" is already used by " + item_key(v, j) +
                                  " \"" + c.archives[j].spec + "\" (in " + v.origin + ")");
      }
    }
    c.archives.push_back(std::move(a));
  }
}

void set_requirements(Config &c, const Value &v) {
  auto [file, cache] = split_hash(non_empty(v));
  if (file.empty()) bad_value(v, "empty requirements file before '#'");
  Requirements r{resolve(v, file), std::nullopt};
  if (cache) {
    if (cache->empty()) bad_value(v, "empty wheel cache directory after '#'");
    r.cache_dir = resolve(v, *cache);
  }
  c.requirements = std::move(r);
}

// A duration longer than zero; `examples` for the message ("30s or 10min").
std::chrono::milliseconds positive_duration(const Value &v, const char *examples) {
  std::chrono::milliseconds out{};
  try {
    out = parse_duration(trim(scalar(v)));
  } catch (const std::invalid_argument &) {
    bad_value(v, std::string("expected a duration such as ") + examples + ", got \"" + scalar(v) +
                     "\"");
  }
  if (out.count() <= 0) bad_value(v, "must be longer than zero");
  return out;
}

struct KeySpec {
  const char *key;
  void (*set)(Config &, const Value &);
};

const KeySpec kKeys[] = {
    {"python.executable", [](Config &c, const Value &v) { c.executable = non_empty(v); }},
    {"python.files", set_files},
    {"python.archives", set_archives},
    {"python.requirements", set_requirements},
    {"python.pythonpath", [](Config &c, const Value &v) { c.pythonpath = trim(scalar(v)); }},
    {"python.execution-mode",
     [](Config &c, const Value &v) {
       std::string mode = lower(trim(scalar(v)));
       if (mode != "thread" && mode != "process") {
         bad_value(v, "expected thread or process, got \"" + scalar(v) + "\"");
       }
       c.execution_mode = mode;
     }},
    {"python.systemenv.enabled",
     [](Config &c, const Value &v) { c.systemenv_enabled = boolean(v); }},
    {"pyenv.cache.enabled", [](Config &c, const Value &v) { c.cache_enabled = boolean(v); }},
    {"pyenv.cache.dir", [](Config &c, const Value &v) { c.cache_dir = resolve(v, non_empty(v)); }},
    {"pyenv.cache.max-bytes", [](Config &c, const Value &v) { c.cache_max_bytes = size_value(v); }},
    {"pyenv.archive.max-bytes",
     [](Config &c, const Value &v) { c.archive_max_bytes = size_value(v); }},
    {"pyenv.archive.max-entries",
     [](Config &c, const Value &v) { c.archive_max_entries = integer(v, 1, UINT32_MAX); }},
    {"pyenv.archive.symlinks",
     [](Config &c, const Value &v) {
       std::string s = lower(trim(scalar(v)));
       if (s == "preserve") {
         c.symlinks = SymlinkPolicy::kPreserve;
       } else if (s == "within") {
         c.symlinks = SymlinkPolicy::kWithin;
       } else if (s == "reject") {
         c.symlinks = SymlinkPolicy::kReject;
       } else {
         bad_value(v, "expected preserve, within or reject, got \"" + scalar(v) + "\"");
       }
     }},
    {"pyenv.extract.threads",
     [](Config &c, const Value &v) {
       c.extract_threads = static_cast<unsigned>(integer(v, 0, 256));
     }},
    {"pyenv.pip.timeout",
     [](Config &c, const Value &v) { c.pip_timeout = positive_duration(v, "30s or 10min"); }},
    {"pyenv.pip.attempts",
     [](Config &c, const Value &v) { c.pip_attempts = static_cast<unsigned>(integer(v, 1, 100)); }},
    {"pyenv.process.call-timeout",
     [](Config &c, const Value &v) { c.call_timeout = positive_duration(v, "500ms or 30s"); }},
};

const KeySpec *find_key(const std::string &key) {
  for (const KeySpec &spec : kKeys) {
    if (key == spec.key) return &spec;
  }
  return nullptr;
}

bool in_namespace(const std::string &key) {
  return key == "python" || key == "pyenv" || key.rfind("python.", 0) == 0 ||
         key.rfind("pyenv.", 0) == 0;
}

bool prefix_of_known(const std::string &key) {
  for (const KeySpec &spec : kKeys) {
    if (std::string(spec.key).rfind(key + ".", 0) == 0) return true;
  }
  return false;
}

size_t edit_distance(const std::string &a, const std::string &b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string closest_key(const std::string &key) {
  const char *best = kKeys[0].key;
  size_t best_distance = SIZE_MAX;
  for (const KeySpec &spec : kKeys) {
    size_t d = edit_distance(key, spec.key);
    if (d < best_distance) {
      best_distance = d;
      best = spec.key;
    }
  }
  return best;
}

struct Source {
  std::string origin;
  fs::path base_dir;
};

void flatten(const YAML::Node &map, const std::string &prefix, const Source &source,
             std::map<std::string, Value> &out) {
  for (const auto &entry : map) {
    if (!entry.first.IsScalar()) {
      fail(Status::kConfig, (prefix.empty() ? std::string("top level") : prefix) +
                                ": keys must be strings (in " + source.origin + ")");
    }
    std::string key = prefix.empty() ? entry.first.Scalar() : prefix + "." + entry.first.Scalar();
    if (!in_namespace(key)) continue;  // the host's own keys
    if (find_key(key) != nullptr) {
      if (!entry.second.IsNull()) out[key] = Value{entry.second, key, source.origin, source.base_dir};
    } else if (entry.second.IsMap()) {
      flatten(entry.second, key, source, out);
    } else if (!(entry.second.IsNull() && prefix_of_known(key))) {
      fail(Status::kConfig, key + ": unknown key (in " + source.origin +
                                "); the closest known key is " + closest_key(key));
    }
  }
}

void load(const YAML::Node &root, const Source &source, std::map<std::string, Value> &out) {
  if (root.IsNull()) return;
  if (!root.IsMap()) {
    fail(Status::kConfig, source.origin + ": expected a map of keys at the top level, got " +
                              kind_of(root));
  }
  flatten(root, "", source, out);
}

std::string yaml_error(const YAML::Exception &e) {
  if (e.mark.is_null()) return e.msg;
  return "line " + std::to_string(e.mark.line + 1) + ", column " +
         std::to_string(e.mark.column + 1) + ": " + e.msg;
}

}  // namespace

uint64_t parse_size(const std::string &text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 18) throw std::invalid_argument(text);
  uint64_t n = std::stoull(text.substr(0, digits));
  std::string unit = lower(trim(text.substr(digits)));
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  int shift = 0;
  if (unit == "") {
    shift = 0;
  } else if (unit == "k") {
    shift = 10;
  } else if (unit == "m") {
    shift = 20;
  } else if (unit == "g") {
    shift = 30;
  } else if (unit == "t") {
    shift = 40;
  } else {
    throw std::invalid_argument(text);
  }
  if (shift > 0 && n > (UINT64_MAX >> shift)) throw std::invalid_argument(text);
  return n << shift;
}

std::chrono::milliseconds parse_duration(const std::string &text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 12) throw std::invalid_argument(text);
  int64_t n = std::stoll(text.substr(0, digits));
  std::string unit = lower(trim(text.substr(digits)));
  if (unit == "" || unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "s" || unit == "sec") return std::chrono::seconds(n);
  if (unit == "min" || unit == "m") return std::chrono::minutes(n);
  if (unit == "h") return std::chrono::hours(n);
  throw std::invalid_argument(text);
}

std::vector<std::string> known_config_keys() {
  std::vector<std::string> keys;
  for (const KeySpec &spec : kKeys) keys.emplace_back(spec.key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

Config parse_config(const ConfigSources &sources) {
  std::map<std::string, Value> values;
  if (sources.file) {
    Source source{"config_file " + sources.file->string(),
                  fs::absolute(*sources.file).parent_path()};
    YAML::Node root;
    try {
      root = YAML::LoadFile(sources.file->string());
    } catch (const YAML::BadFile &) {
      fail(Status::kConfig, "config_file " + sources.file->string() + ": cannot be read");
    } catch (const YAML::Exception &e) {
      fail(Status::kConfig, source.origin + ": " + yaml_error(e));
    }
    load(root, source, values);
  }
  if (sources.text) {
    Source source{"config_yaml", sources.working_dir};
    YAML::Node root;
    try {
      root = YAML::Load(*sources.text);
    } catch (const YAML::Exception &e) {
      fail(Status::kConfig, "config_yaml: " + yaml_error(e));
    }
    load(root, source, values);
  }
  Config config;
  for (const auto &[key, value] : values) find_key(key)->set(config, value);
  // The executable is checked against the archives once both are known (X7).
  config.executable_home_in_archives();
  return config;
}

std::optional<ExecutableInArchive> Config::executable_home_in_archives() const {
  fs::path exe(executable);
  if (exe.is_absolute() || archives.empty()) return std::nullopt;
  std::vector<std::string> parts;
  for (const fs::path &part : exe) parts.push_back(part.string());
  bool from_archives = std::any_of(archives.begin(), archives.end(),
                                   [&](const PythonArchive &a) { return a.target == parts[0]; });
  if (!from_archives) return std::nullopt;
  // `bin` must be a directory on the way to the executable, not its name.
  size_t bin = parts.size();
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] == "bin") bin = i;
  }
  if (bin == parts.size() || bin == 0) {
    fail(Status::kConfig, "python.executable: \"" + executable + "\" is inside archive target \"" +
                              parts[0] +
                              "\" but has no \"bin\" directory to derive the python home from");
  }
  fs::path home;
  for (size_t i = 0; i < bin; ++i) home /= parts[i];
  return ExecutableInArchive{home, exe};
}

std::string Config::dependency_fingerprint() const {
  std::ostringstream out;
  const char sep = '\x1f';
  out << executable << sep;
  for (const PythonFile &f : files) out << "F" << f.path.string() << '#' << f.original_name << sep;
  for (const PythonArchive &a : archives) out << "A" << a.path.string() << '#' << a.target << sep;
  if (requirements) {
    out << "R" << requirements->file.string() << '#'
        << (requirements->cache_dir ? requirements->cache_dir->string() : "") << sep;
  }
  out << cache_enabled << sep << (cache_dir ? cache_dir->string() : "") << sep
      << archive_max_bytes << sep << archive_max_entries << sep << static_cast<int>(symlinks)
      << sep << pip_attempts << sep << pip_timeout.count();
  return out.str();
}

}  // namespace pyenv
