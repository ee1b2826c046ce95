#include "python/locate.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>

#include "error.hpp"
#include "util/process.hpp"

extern char **environ;

namespace pyenv::python {
namespace {

// The multiarch directory of the plugin's own target (Debian keeps libpython there).
#ifdef PYENV_LIBRARY_ARCHITECTURE
constexpr const char *kArchitecture = PYENV_LIBRARY_ARCHITECTURE;
#else
constexpr const char *kArchitecture = "";
#endif

constexpr const char *kDefaultPath = "/usr/local/bin:/usr/bin:/bin";
constexpr std::chrono::seconds kAskTimeout{30};

std::string join(const std::vector<std::string> &items, const std::string &separator) {
  std::string out;
  for (const auto &item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

bool file_exists(const fs::path &path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool dir_exists(const fs::path &path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

std::optional<fs::path> resolved_path(const fs::path &path) {
  std::error_code ec;
  fs::path resolved = fs::canonical(path, ec);
  if (ec) return std::nullopt;
  return resolved;
}

// The directory resolved, the last component kept: a venv's bin/python is a link to the base
// interpreter, and resolving it would lose the venv.
fs::path resolve_parent(const fs::path &path) {
  auto parent = resolved_path(path.parent_path());
  return parent ? *parent / path.filename() : path;
}

bool is_executable_file(const fs::path &path) {
  return file_exists(path) && ::access(path.c_str(), X_OK) == 0;
}

// Wrapper scripts (pyenv shims, conda's, a user's) say nothing about where Python lives by
// their location: only running them does.
bool is_elf(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, sizeof magic);
  return in.gcount() == 4 && std::memcmp(magic,
                                         "\x7f"
                                         "ELF",
                                         4) == 0;
}

std::string path_value(const Environment &env) {
  auto it = env.variables.find("PATH");
  if (it != env.variables.end()) return it->second;
  const char *own = std::getenv("PATH");
  return own != nullptr ? own : kDefaultPath;
}

fs::path resolve_executable(const Environment &env) {
  const std::string &exec = env.python_exec;
  if (exec.empty()) fail(Status::kPython, "the environment names no python executable");
  const fs::path relative_to = relative_root(env);
  if (exec.find('/') != std::string::npos) {
    fs::path path = fs::path(exec).is_absolute() ? fs::path(exec) : relative_to / exec;
    if (!is_executable_file(path)) {
      fail(Status::kPython,
           "python executable " + path.string() +
               (fs::exists(path) ? " is not an executable file" : " does not exist"));
    }
    return resolve_parent(path.lexically_normal());
  }
  const std::string path = path_value(env);
  std::stringstream entries(path);
  std::string entry;
  while (std::getline(entries, entry, ':')) {
    fs::path dir = entry.empty() ? fs::path(".") : fs::path(entry);
    if (dir.is_relative()) dir = relative_to / dir;
    if (is_executable_file(dir / exec)) return resolve_parent((dir / exec).lexically_normal());
  }
  fail(Status::kPython, "python executable " + exec + ": not found on PATH (" + path + ")");
}

// The venv `executable` belongs to (pyvenv.cfg beside it or one level up, as site.py looks),
// with its "home" (the base interpreter's bin directory).
struct Venv {
  fs::path dir;
  fs::path base_bin;
};

std::optional<Venv> read_venv(const fs::path &dir) {
  std::ifstream in(dir / "pyvenv.cfg");
  if (!in) return std::nullopt;
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto trim = [](std::string s) {
      const char *space = " \t\r";
      s.erase(0, s.find_first_not_of(space));
      s.erase(s.find_last_not_of(space) + 1);
      return s;
    };
    std::string key = trim(line.substr(0, eq));
    std::transform(key.begin(), key.end(), key.begin(), ::tolower);
    if (key == "home") {
      auto resolved = resolved_path(dir);
      return Venv{resolved ? *resolved : dir, trim(line.substr(eq + 1))};
    }
  }
  return std::nullopt;
}

std::optional<Venv> find_venv(const Environment &env, const fs::path &executable) {
  if (env.python_home) {
    if (auto venv = read_venv(*env.python_home)) return venv;
  }
  const fs::path bin = executable.parent_path();
  if (auto venv = read_venv(bin.parent_path())) return venv;
  return read_venv(bin);
}

std::string version_list(const std::vector<Flavour> &flavours) {
  std::set<std::string> names;
  for (const auto &f : flavours) names.insert(f.describe());
  return join(std::vector<std::string>(names.begin(), names.end()), ", ");
}

// Refused before anything is loaded: a library of another version would fail in ways that
// say nothing about why (missing symbols, another object layout), or not fail at all.
void require_supported(const Flavour &flavour, const std::string &what) {
  static const std::regex number(R"((\d+)\.(\d+))");
  std::smatch m;
  bool supported = false;
  if (std::regex_match(flavour.version, m, number)) {
    const int major = std::stoi(m[1]), minor = std::stoi(m[2]);
    supported = major == 3 && minor >= kOldestMinor && minor <= kNewestMinor;
  }
  if (!supported) {
    fail(Status::kPython, what + " is Python " + flavour.version +
                              ", but libpyenv embeds CPython " + supported_range() +
                              "; nothing was loaded");
  }
}

// "python3.13t" -> 3.13, "t"; also "libpython3.13t.so.1.0" and the standard library's
// "python3.13t" directory.
std::optional<Flavour> parse_versioned(const std::string &name, const std::regex &pattern) {
  std::smatch m;
  if (!std::regex_match(name, m, pattern)) return std::nullopt;
  return Flavour{m[1], m[2]};
}

std::optional<Flavour> parse_executable_name(const std::string &file) {
  static const std::regex name(R"(python(\d+\.\d+)([a-z]*))");
  return parse_versioned(file, name);
}

std::optional<Flavour> parse_library_name(const std::string &file) {
  static const std::regex name(R"(libpython(\d+\.\d+)([a-z]*)\.so(\.\d+)*)");
  return parse_versioned(file, name);
}

// The standard libraries under `prefix`: lib/python3.X[t]/os.py (or .pyc), or the zip
// lib/python3X[t].zip, under lib or lib64 (getpath's landmarks).
struct Stdlib {
  Flavour flavour;
  std::string platlibdir;
};

std::vector<Stdlib> find_stdlibs(const fs::path &prefix) {
  static const std::regex dir_name(R"(python(\d+\.\d+)(t?))");
  static const std::regex zip_name(R"(python(\d)(\d+)(t?)\.zip)");
  std::vector<Stdlib> out;
  for (const char *libdir : {"lib", "lib64"}) {
    std::error_code ec;
    for (fs::directory_iterator it(prefix / libdir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string file = it->path().filename().string();
      std::smatch m;
      if (std::regex_match(file, m, dir_name) &&
          (file_exists(it->path() / "os.py") || file_exists(it->path() / "os.pyc"))) {
        out.push_back(Stdlib{Flavour{m[1], m[2]}, libdir});
      } else if (std::regex_match(file, m, zip_name) && file_exists(it->path())) {
        out.push_back(Stdlib{Flavour{std::string(m[1]) + "." + std::string(m[2]), m[3]}, libdir});
      }
    }
  }
  return out;
}

// Which of `found` is the environment's Python: the one the executable's name says, else the
// only one. nullopt when several could be (the executable is asked then).
std::optional<Flavour> choose(const std::vector<Stdlib> &found, const std::optional<Flavour> &named,
                              const std::string &where) {
  std::vector<Flavour> flavours;
  for (const auto &s : found) flavours.push_back(s.flavour);
  if (named) {
    for (const auto &f : flavours) {
      if (f.same_build(*named)) return *named;
    }
    fail(Status::kPython, where + " holds the standard library of Python " +
                              version_list(flavours) + ", but its executable is Python " +
                              named->describe());
  }
  if (flavours.size() == 1) return flavours.front();
  return std::nullopt;
}

std::vector<fs::path> library_dirs(const fs::path &prefix) {
  std::vector<fs::path> dirs = {prefix / "lib", prefix / "lib64"};
  if (*kArchitecture != '\0') dirs.push_back(prefix / "lib" / kArchitecture);
  return dirs;
}

// The libpython of `flavour` in `dirs`, resolved. Libraries of other versions or flavours
// found are added to `others`.
std::optional<fs::path> find_library(const std::vector<fs::path> &dirs, const Flavour &flavour,
                                     std::vector<Flavour> &others) {
  const std::string stem = "libpython" + flavour.version + (flavour.free_threaded() ? "t" : "");
  // The usual names first: listing a multiarch directory with thousands of entries on every
  // open would cost milliseconds.
  for (const auto &dir : dirs) {
    for (const std::string suffix : {".so.1.0", ".so.1", ".so"}) {
      const fs::path candidate = dir / (stem + suffix);
      if (file_exists(candidate)) {
        if (auto resolved = resolved_path(candidate)) return resolved;
      }
    }
  }
  for (const auto &dir : dirs) {
    std::error_code ec;
    std::vector<fs::path> entries;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      entries.push_back(it->path());
    }
    // Versioned sonames ("libpython3.11.so.1.0") first: the development link may be absent.
    // A debug build ("libpython3.13d.so") is ABI-compatible and found last.
    std::sort(entries.begin(), entries.end(), [](const fs::path &a, const fs::path &b) {
      return a.filename().string().size() > b.filename().string().size();
    });
    std::optional<fs::path> debug;
    for (const auto &entry : entries) {
      auto name = parse_library_name(entry.filename().string());
      if (!name || !file_exists(entry)) continue;
      if (!name->same_build(flavour)) {
        others.push_back(*name);
        continue;
      }
      auto resolved = resolved_path(entry);
      if (!resolved) continue;
      if (name->abiflags.find('d') == std::string::npos) return resolved;
      if (!debug) debug = resolved;
    }
    if (debug) return debug;
  }
  return std::nullopt;
}

// Output of a child process run without a shell: exit status and merged stdout+stderr.
struct Captured {
  std::string output;
  std::string problem;  // empty when it ran and exited with status 0
};

Captured run_captured(const std::vector<std::string> &argv,
                      const std::map<std::string, std::string> &variables) {
  Captured result;
  ProcessSpec spec;
  spec.argv = argv;
  spec.env = variables;
  spec.timeout = kAskTimeout;
  spec.on_line = [&](const std::string &line) {
    // A sysconfig answer is a few hundred bytes; more is noise we need not keep.
    if (result.output.size() < 65536) result.output += line + "\n";
  };
  try {
    ProcessResult ran = run_process(spec);
    if (!ran.succeeded()) result.problem = ran.describe(kAskTimeout);
  } catch (const Error &e) {
    result.problem = e.what();
  }
  return result;
}

// What the executable says about itself. The script also runs under old Pythons, so that
// their version can be named in the error.
constexpr const char *kAskScript =
    "import sys, sysconfig\n"
    "v = sysconfig.get_config_var\n"
    "print('version=%d.%d' % sys.version_info[:2])\n"
    "print('executable=' + (sys.executable or ''))\n"
    "print('base_prefix=' + getattr(sys, 'base_prefix', sys.prefix))\n"
    "print('abiflags=' + getattr(sys, 'abiflags', ''))\n"
    "for k in ('LIBDIR', 'INSTSONAME', 'LDLIBRARY'): print(k + '=' + str(v(k) or ''))\n";

struct Answer {
  std::map<std::string, std::string> values;
  std::string problem;  // why there is no usable answer
  std::string get(const std::string &key) const {
    auto it = values.find(key);
    return it == values.end() ? std::string() : it->second;
  }
};

std::string tail(const std::string &text, size_t limit) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  return t.size() > limit ? "..." + t.substr(t.size() - limit) : t;
}

Answer ask(const fs::path &executable, const Environment &env) {
  // Answers are kept per executable file: a wrapper is asked once per process, not per open.
  static std::mutex mutex;
  static std::map<std::string, Answer> memo;
  struct stat st {};
  std::string key = executable.string();
  if (::stat(executable.c_str(), &st) == 0) {
    key += ":" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) +
           ":" + std::to_string(st.st_size);
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = memo.find(key);
    if (it != memo.end()) return it->second;
  }
  Answer answer;
  Captured run = run_captured({executable.string(), "-I", "-S", "-c", kAskScript}, env.variables);
  std::stringstream lines(run.output);
  std::string line;
  while (std::getline(lines, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) answer.values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  if (!run.problem.empty()) {
    answer.problem = run.problem;
    if (!run.output.empty()) answer.problem += ": " + tail(run.output, 400);
  } else if (answer.get("version").empty() || answer.get("base_prefix").empty()) {
    answer.problem = run.output.empty() ? "it printed nothing"
                                        : "it printed nothing usable: " + tail(run.output, 400);
  }
  if (answer.problem.empty()) {
    std::lock_guard<std::mutex> lock(mutex);
    memo[key] = answer;
  }
  return answer;
}

std::string describe_answer(const Answer &answer) {
  std::vector<std::string> parts;
  for (const char *key : {"LIBDIR", "INSTSONAME", "LDLIBRARY", "base_prefix"}) {
    parts.push_back(std::string(key) + "=" + answer.get(key));
  }
  return join(parts, " ");
}

}  // namespace

std::string PythonLayout::describe() const {
  std::string out = "home " + home.string();
  if (venv) out += " (venv " + venv->string() + ")";
  return out + ", libpython " + libpython.string();
}

fs::path relative_root(const Environment &env) {
  if (env.working_directory) return *env.working_directory;
  std::error_code ec;
  return fs::current_path(ec);
}

std::string supported_range() {
  return "3." + std::to_string(kOldestMinor) + " to 3." + std::to_string(kNewestMinor);
}

std::string Flavour::describe() const {
  return version + (free_threaded() ? " (free-threaded)" : "");
}

PythonLayout locate_python(const Environment &env, const Logger &log) {
  PythonLayout layout;
  layout.executable = resolve_executable(env);
  const fs::path real_executable = resolved_path(layout.executable).value_or(layout.executable);
  const bool wrapper = !is_elf(real_executable);

  // The executable's own name may already tell the version ("python3.13t"), or the name of
  // the link to it (a venv's python3.13 -> /usr/bin/python3.13).
  std::optional<Flavour> named = parse_executable_name(real_executable.filename().string());
  if (!named) named = parse_executable_name(layout.executable.filename().string());
  if (named) require_supported(*named, "python executable " + layout.executable.string());

  std::optional<Venv> venv = find_venv(env, layout.executable);
  std::optional<fs::path> home;
  std::optional<Flavour> flavour;
  std::vector<std::string> looked;
  std::vector<Flavour> other_libraries;

  if (env.python_home && !venv) {
    auto resolved = resolved_path(*env.python_home);
    if (!resolved || !dir_exists(*resolved)) {
      fail(Status::kPython, "python home " + *env.python_home + " does not exist");
    }
    const auto stdlibs = find_stdlibs(*resolved);
    if (stdlibs.empty()) {
      fail(Status::kPython,
           "python home " + *env.python_home + " has no standard library (no lib/python3.X/os.py)");
    }
    home = *resolved;
    flavour = choose(stdlibs, named, "python home " + *env.python_home);
  } else if (!wrapper || venv) {
    // As getpath does: up from the (base) executable's directory to the first prefix with
    // a standard library.
    fs::path start = venv ? fs::path(venv->base_bin) : real_executable.parent_path();
    if (auto resolved = resolved_path(start)) start = *resolved;
    for (fs::path dir = start; !dir.empty(); dir = dir.parent_path()) {
      const auto stdlibs = find_stdlibs(dir);
      if (!stdlibs.empty()) {
        home = dir;
        flavour = choose(stdlibs, named,
                         "python " + layout.executable.string() + " (prefix " + dir.string() + ")");
        break;
      }
      if (dir == dir.root_path()) break;
    }
  }
  if (flavour) {
    require_supported(*flavour, "python " + layout.executable.string() + " (standard library in " +
                                    home->string() + ")");
  }

  std::optional<fs::path> library;
  if (home && flavour) {
    auto dirs = library_dirs(*home);
    library = find_library(dirs, *flavour, other_libraries);
    for (const auto &dir : dirs) looked.push_back(dir.string());
  }

  if (!home || !library) {
    Answer answer = ask(layout.executable, env);
    const std::string asked = "asked " + layout.executable.string() + " (sysconfig)";
    if (!answer.problem.empty()) {
      looked.push_back(asked + ": " + answer.problem);
    } else {
      const Flavour said{answer.get("version"), answer.get("abiflags")};
      require_supported(said, "python " + layout.executable.string());
      if (flavour && !flavour->same_build(said)) {
        fail(Status::kPython, "python " + layout.executable.string() + " says it is Python " +
                                  said.describe() + ", but its standard library in " +
                                  home->string() + " is Python " + flavour->describe());
      }
      flavour = said;
      if (!home) {
        auto base = resolved_path(answer.get("base_prefix"));
        bool has_stdlib = false;
        if (base) {
          for (const auto &s : find_stdlibs(*base)) has_stdlib |= s.flavour.same_build(said);
        }
        if (!has_stdlib) {
          fail(Status::kPython, "python " + layout.executable.string() + " reports prefix " +
                                    answer.get("base_prefix") +
                                    ", which has no standard library of Python " + said.describe());
        }
        home = *base;
        // A wrapper names the interpreter it runs; sys.executable should be that one.
        const std::string real = answer.get("executable");
        if (wrapper && !real.empty() && is_executable_file(real)) {
          layout.executable = resolve_parent(real);
          venv = find_venv(Environment{}, layout.executable);
        }
      }
      const fs::path libdir = answer.get("LIBDIR");
      const fs::path base = answer.get("base_prefix");
      std::vector<fs::path> candidates;
      for (const std::string &name : {answer.get("INSTSONAME"), answer.get("LDLIBRARY")}) {
        // LDLIBRARY is the static archive in builds without --enable-shared.
        if (name.empty() || !parse_library_name(name)) continue;
        candidates.push_back(base / "lib" / name);
        if (!libdir.empty()) candidates.push_back(libdir / name);
      }
      for (const auto &candidate : candidates) {
        if (file_exists(candidate)) {
          library = resolved_path(candidate);
          break;
        }
      }
      if (!library) looked.push_back(asked + ": " + describe_answer(answer) + ", not there");
    }
  }

  const std::string stem =
      flavour ? "libpython" + flavour->version + (flavour->free_threaded() ? "t" : "")
              : std::string("libpython3.X");
  if (!library) {
    if (!other_libraries.empty() && home) {
      fail(Status::kPython, "libpython in " + home->string() + "/lib is Python " +
                                version_list(other_libraries) + ", but its standard library is " +
                                (flavour ? "Python " + flavour->describe() : "another"));
    }
    fail(Status::kPython,
         "no " + stem + " shared library for python " + env.python_exec +
             (env.python_home ? " (home " + *env.python_home + ")" : std::string()) +
             ": looked for " + stem + ".so* in " + join(looked, "; ") +
             ". A Python built with --enable-shared provides one (Debian: package " +
             (flavour ? "libpython" + flavour->version : std::string("libpython3.X")) +
             "); one without runs in process mode (python.execution-mode: process), which "
             "starts the executable itself");
  }
  // The library's own name has the last word before it is loaded.
  if (auto name = parse_library_name(library->filename().string())) {
    require_supported(*name, "libpython " + library->string());
  }

  layout.home = *home;
  layout.libpython = *library;
  layout.flavour = *flavour;
  if (venv) layout.venv = venv->dir;
  log.debug("python: " + layout.executable.string() + ": Python " + layout.flavour.describe() +
            ", " + layout.describe());
  return layout;
}

}  // namespace pyenv::python
