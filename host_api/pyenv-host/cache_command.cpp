#include "cache_command.hpp"

#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "json.hpp"

namespace pyenv_host {
namespace {

const char kCacheUsage[] = R"(usage: pyenv-host cache COMMAND [options]

The calling user's cache of extracted archives and requirements installs: by default
<first tmp dir>/pyenv-cache-<uid>, used only when no other user can write it. Commands take
the same locks as jobs, so they are safe while jobs run; an entry in use is never removed.

commands:
  list      one row per entry: key, kind, size, last use, processes using it, sources
  warm      extract a job's archives and install its requirements into the cache
  prune     evict unused entries, least recently used first
  rm        remove unused entries by key prefix

options of every command (`pyenv-host cache COMMAND --help` shows its own):
  --tmp-dir DIR     the tmp dirs the jobs use; repeatable (default: $TMPDIR or /tmp)
  --cache-dir DIR   the cache directory (pyenv.cache.dir), instead of the default
  --config FILE     a job's YAML configuration (for warm; else for its pyenv.cache.* keys)
  --plugin PATH     libpyenv.so to load
  --verbose         print the plugin's info log lines on stderr
)";

const char kListUsage[] =
    R"(usage: pyenv-host cache list [--json] [--tmp-dir DIR]... [--cache-dir DIR]

One row per entry of the cache, least recently used first, then a totals line:
  KEY       the first 12 hex digits of its key (the archive's SHA-256)
  KIND      archive, or requirements (a pip install)
  SIZE      space on disk
  LAST USE  when a job last opened it (local time)
  IN USE    how many processes hold it now (-: none)
  SOURCES   the paths it was opened from, the most recently first seen first

options:
  --json            print the plugin's JSON instead (pyenv_cache_list)
  --tmp-dir DIR, --cache-dir DIR, --config FILE, --plugin PATH, --verbose: as for cache
)";

const char kWarmUsage[] =
    R"(usage: pyenv-host cache warm --config FILE [--tmp-dir DIR]... [--cache-dir DIR]

Extracts the job's archives and installs its requirements into the cache, without staging a
task, so that a deployment can prepare every machine before the job starts; a job opened
afterwards finds them there (cache hits). Progress shows on a terminal.

options:
  --config FILE     the job's YAML configuration (required)
  --tmp-dir DIR, --cache-dir DIR, --plugin PATH, --verbose: as for cache
)";

const char kPruneUsage[] =
    R"(usage: pyenv-host cache prune [--max-bytes SIZE] [--older-than DURATION] [--json] ...

Evicts unused entries: those last used longer than DURATION ago, then, least recently used
first, until the cache holds at most SIZE bytes. Entries in use are never evicted (they are
listed). With neither option, the cache is brought under pyenv.cache.max-bytes (10g unless
--config says otherwise). Prints what it freed.

options:
  --max-bytes SIZE      bytes, with an optional k, m, g or t suffix (powers of 1024): 20g
  --older-than DURATION with a unit: ms, s, min, h or d: 7d, 12h
  --json                print the plugin's JSON instead (pyenv_cache_prune)
  --tmp-dir DIR, --cache-dir DIR, --config FILE, --plugin PATH, --verbose: as for cache
)";

const char kRmUsage[] =
    R"(usage: pyenv-host cache rm KEY... [--json] [--tmp-dir DIR]... [--cache-dir DIR]

Removes the entries whose keys start with the given hex prefixes (the KEY column of
`cache list`). A prefix matching no entry or several, and an entry in use, are refused with
a message naming them; the other keys are still removed. Exit status 1 when any was refused.

options:
  --json            print the plugin's JSON of each removal instead (pyenv_cache_remove)
  --tmp-dir DIR, --cache-dir DIR, --config FILE, --plugin PATH, --verbose: as for cache
)";

struct CacheArgs {
  std::string command;
  std::vector<std::string> tmp_dirs;
  std::optional<std::string> cache_dir;
  std::optional<std::string> config;
  std::optional<std::string> plugin;
  bool verbose = false;
  bool json = false;
  uint64_t max_bytes = PYENV_CACHE_UNSET;
  uint64_t older_than_ms = PYENV_CACHE_UNSET;
  std::vector<std::string> keys;
};

const char *usage_of(const std::string &command) {
  if (command == "list") return kListUsage;
  if (command == "warm") return kWarmUsage;
  if (command == "prune") return kPruneUsage;
  if (command == "rm") return kRmUsage;
  return kCacheUsage;
}

// "20g" -> bytes; nullopt when malformed.
std::optional<uint64_t> parse_size(const std::string &text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 19) return std::nullopt;
  uint64_t value = std::strtoull(text.substr(0, digits).c_str(), nullptr, 10);
  std::string unit = text.substr(digits);
  for (char &c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && (unit.back() == 'b')) unit.pop_back();  // "20gb", "20gib"
  if (unit.size() > 1 && unit.back() == 'i') unit.pop_back();
  int shift = 0;
  if (unit == "k")
    shift = 10;
  else if (unit == "m")
    shift = 20;
  else if (unit == "g")
    shift = 30;
  else if (unit == "t")
    shift = 40;
  else if (!unit.empty() && unit != "b")
    return std::nullopt;
  if (shift > 0 && value > (UINT64_MAX >> shift)) return std::nullopt;
  return value << shift;
}

// "7d" -> milliseconds; nullopt when malformed or without a unit.
std::optional<uint64_t> parse_duration(const std::string &text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 12) return std::nullopt;
  const uint64_t value = std::strtoull(text.substr(0, digits).c_str(), nullptr, 10);
  const std::string unit = text.substr(digits);
  if (unit == "ms") return value;
  if (unit == "s") return value * 1000;
  if (unit == "min") return value * 60 * 1000;
  if (unit == "h") return value * 3600 * 1000;
  if (unit == "d") return value * 24 * 3600 * 1000;
  return std::nullopt;
}

CacheArgs parse_cache_args(int argc, char **argv) {
  CacheArgs args;
  if (argc < 3) usage_error("cache needs a command", kCacheUsage);
  args.command = argv[2];
  if (args.command == "-h" || args.command == "--help") {
    std::cout << kCacheUsage;
    std::exit(0);
  }
  if (args.command != "list" && args.command != "warm" && args.command != "prune" &&
      args.command != "rm") {
    usage_error("unknown cache command " + args.command, kCacheUsage);
  }
  const char *usage = usage_of(args.command);
  for (int i = 3; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(arg + " needs a value", usage);
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::cout << usage;
      std::exit(0);
    } else if (arg == "--tmp-dir") {
      args.tmp_dirs.push_back(value());
    } else if (arg == "--cache-dir") {
      args.cache_dir = value();
    } else if (arg == "--config") {
      args.config = value();
    } else if (arg == "--plugin") {
      args.plugin = value();
    } else if (arg == "--verbose") {
      args.verbose = true;
    } else if (arg == "--json" && args.command != "warm") {
      args.json = true;
    } else if (arg == "--max-bytes" && args.command == "prune") {
      const std::string text = value();
      auto bytes = parse_size(text);
      if (!bytes) usage_error("--max-bytes takes a size such as 500m or 20g, got " + text, usage);
      args.max_bytes = *bytes;
    } else if (arg == "--older-than" && args.command == "prune") {
      const std::string text = value();
      auto ms = parse_duration(text);
      if (!ms)
        usage_error("--older-than takes a duration with a unit (ms, s, min, h, d), got " + text,
                    usage);
      args.older_than_ms = *ms;
    } else if (args.command == "rm" && !arg.empty() && arg[0] != '-') {
      args.keys.push_back(arg);
    } else {
      usage_error("unknown argument " + arg, usage);
    }
  }
  if (args.command == "warm" && !args.config) usage_error("warm needs --config FILE", usage);
  if (args.command == "rm" && args.keys.empty()) usage_error("rm needs at least one KEY", usage);
  return args;
}

// `text` as a YAML double-quoted scalar (JSON's escapes are YAML's).
std::string yaml_quoted(const std::string &text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\u%04x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string human_size(uint64_t bytes) {
  static const char *const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string local_time(uint64_t ms) {
  if (ms == 0) return "-";
  const time_t seconds = static_cast<time_t>(ms / 1000);
  struct tm parts {};
  ::localtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &parts);
  return text;
}

// "3f1c2a9b8e7d (archive, 41.2 MiB, from /jobs/venv.zip)".
std::string describe(const Json &entry) {
  std::string out = entry["key"].string.substr(0, 12) + " (" + entry["kind"].string + ", " +
                    human_size(entry["bytes"].as_u64());
  if (!entry["sources"].array.empty()) out += ", from " + entry["sources"].array[0].string;
  return out + ")";
}

void print_table(const Json &list) {
  std::printf("%-12s  %-12s  %10s  %-19s  %6s  %s\n", "KEY", "KIND", "SIZE", "LAST USE", "IN USE",
              "SOURCES");
  uint64_t in_use = 0;
  for (const Json &entry : list["entries"].array) {
    const uint64_t processes = entry["in_use"].as_u64();
    if (entry["locks"].as_u64() > 0) ++in_use;
    const std::vector<Json> &sources = entry["sources"].array;
    std::printf("%-12s  %-12s  %10s  %-19s  %6s  %s\n", entry["key"].string.substr(0, 12).c_str(),
                entry["kind"].string.c_str(), human_size(entry["bytes"].as_u64()).c_str(),
                local_time(entry["last_use_ms"].as_u64()).c_str(),
                processes > 0                 ? std::to_string(processes).c_str()
                : entry["locks"].as_u64() > 0 ? "?"
                                              : "-",
                sources.empty() ? "-" : sources[0].string.c_str());
    for (size_t i = 1; i < sources.size(); ++i) {
      std::printf("%-12s  %-12s  %10s  %-19s  %6s  %s\n", "", "", "", "", "",
                  sources[i].string.c_str());
    }
  }
  const size_t n = list["entries"].array.size();
  std::printf("%zu %s, %s, %llu in use (%s); cache %s\n", n, n == 1 ? "entry" : "entries",
              human_size(list["total_bytes"].as_u64()).c_str(),
              static_cast<unsigned long long>(in_use),
              human_size(list["in_use_bytes"].as_u64()).c_str(), list["dir"].string.c_str());
}

void print_pruned(const Json &pruned) {
  for (const Json &entry : pruned["removed"].array) {
    std::printf("removed %s\n", describe(entry).c_str());
  }
  for (const Json &entry : pruned["in_use"].array) {
    std::printf("kept %s: in use by %llu process(es)\n", describe(entry).c_str(),
                static_cast<unsigned long long>(entry["in_use"].as_u64()));
  }
  const size_t n = pruned["removed"].array.size();
  std::printf("freed %s in %zu %s; the cache holds %s (%s)\n",
              human_size(pruned["freed_bytes"].as_u64()).c_str(), n, n == 1 ? "entry" : "entries",
              human_size(pruned["remaining_bytes"].as_u64()).c_str(), pruned["dir"].string.c_str());
}

}  // namespace

int run_cache(int argc, char **argv) {
  const CacheArgs args = parse_cache_args(argc, argv);
  ProgressLine progress;
  pyenv::host::Plugin plugin = pyenv::host::Plugin::load(find_plugin(args.plugin));
  pyenv::host::Options options =
      host_options("pyenv-host-cache", args.tmp_dirs, args.verbose, progress);
  options.config_file = args.config;
  if (args.cache_dir) {
    options.config_yaml = "{\"pyenv.cache.dir\": " + yaml_quoted(*args.cache_dir) + "}";
  }
  pyenv::host::Manager manager = plugin.create(options);

  if (args.command == "list") {
    const std::string json = manager.cache_list();
    if (args.json) {
      std::cout << json << std::endl;
    } else {
      print_table(Json::parse(json));
    }
    return 0;
  }
  if (args.command == "warm") {
    const auto start = std::chrono::steady_clock::now();
    manager.cache_warm();
    progress.clear();
    const Json list = Json::parse(manager.cache_list());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const size_t n = list["entries"].array.size();
    std::printf("warmed %s in %.3f s: it holds %zu %s, %s\n", list["dir"].string.c_str(), seconds,
                n, n == 1 ? "entry" : "entries", human_size(list["total_bytes"].as_u64()).c_str());
    return 0;
  }
  if (args.command == "prune") {
    const std::string json = manager.cache_prune(args.max_bytes, args.older_than_ms);
    if (args.json) {
      std::cout << json << std::endl;
    } else {
      print_pruned(Json::parse(json));
    }
    return 0;
  }
  int status = 0;
  for (const std::string &key : args.keys) {
    try {
      const std::string json = manager.cache_remove(key);
      if (args.json) {
        std::cout << json << std::endl;
      } else {
        std::printf("removed %s\n", describe(Json::parse(json)["removed"].array.at(0)).c_str());
      }
    } catch (const pyenv::host::Error &e) {
      std::cerr << "pyenv-host: cache rm " << key << ": " << e.what() << " (status " << e.status()
                << ")\n";
      status = 1;
    }
  }
  return status;
}

}  // namespace pyenv_host
