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

std::string without_dot(const std::string &version) {
  std::string out = version;
  out.erase(std::remove(out.begin(), out.end(), '.'), out.end());
  return out;
}

// The platlibdir ("lib" or "lib64") under which `prefix` holds the standard library of
// `version`, as getpath's landmarks decide.
std::optional<std::string> find_stdlib(const fs::path &prefix, const std::string &version) {
  for (const char *libdir : {"lib", "lib64"}) {
    const fs::path dir = prefix / libdir / ("python" + version);
    if (file_exists(dir / "os.py") || file_exists(dir / "os.pyc") ||
        file_exists(prefix / libdir / ("python" + without_dot(version) + ".zip"))) {
      return std::string(libdir);
    }
  }
  return std::nullopt;
}

// Versions of the standard libraries under `prefix`, e.g. {"3.12"}.
std::set<std::string> stdlib_versions(const fs::path &prefix) {
  static const std::regex name(R"(python(\d+\.\d+))");
  std::set<std::string> out;
  for (const char *libdir : {"lib", "lib64"}) {
    std::error_code ec;
    for (fs::directory_iterator it(prefix / libdir, ec), end; !ec && it != end; it.increment(ec)) {
      std::smatch m;
      const std::string file = it->path().filename().string();
      if (std::regex_match(file, m, name) && file_exists(it->path() / "os.py")) {
        out.insert(m[1]);
      }
    }
  }
  return out;
}

std::string version_list(const std::set<std::string> &versions) {
  return join(std::vector<std::string>(versions.begin(), versions.end()), ", ");
}

[[noreturn]] void fail_version(const std::string &what, const std::string &found,
                               const std::string &supported) {
  fail(Status::kPython, what + " is Python " + found + ", but libpyenv embeds Python " + supported +
                            " (the version of the headers it was built with)");
}

// A libpython file: "libpython3.11.so.1.0" -> version 3.11, abiflags "".
struct LibraryName {
  std::string version;
  std::string abiflags;
};

std::optional<LibraryName> parse_library_name(const std::string &file) {
  static const std::regex name(R"(libpython(\d+\.\d+)([a-z]*)\.so(\.\d+)*)");
  std::smatch m;
  if (!std::regex_match(file, m, name)) return std::nullopt;
  return LibraryName{m[1], m[2]};
}

std::vector<fs::path> library_dirs(const fs::path &prefix) {
  std::vector<fs::path> dirs = {prefix / "lib", prefix / "lib64"};
  if (*kArchitecture != '\0') dirs.push_back(prefix / "lib" / kArchitecture);
  return dirs;
}

// The libpython of `version` in `dirs`, resolved. Other versions found are added to `others`.
std::optional<fs::path> find_library(const std::vector<fs::path> &dirs, const std::string &version,
                                     std::set<std::string> &others) {
  // The usual names first: listing a multiarch directory with thousands of entries on every
  // open would cost milliseconds.
  for (const auto &dir : dirs) {
    for (const std::string suffix : {".so.1.0", ".so.1", ".so"}) {
      const fs::path candidate = dir / ("libpython" + version + suffix);
      if (file_exists(candidate)) {
        if (auto resolved = resolved_path(candidate)) return resolved;
      }
    }
  }
  std::vector<fs::path> found;
  for (const auto &dir : dirs) {
    std::error_code ec;
    std::vector<fs::path> entries;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      entries.push_back(it->path());
    }
    // Versioned sonames ("libpython3.11.so.1.0") first: the development link may be absent.
    std::sort(entries.begin(), entries.end(), [](const fs::path &a, const fs::path &b) {
      return a.filename().string().size() > b.filename().string().size();
    });
    for (const auto &entry : entries) {
      auto name = parse_library_name(entry.filename().string());
      if (!name || !file_exists(entry)) continue;
      // A debug build ("d") has another object layout than the headers describe.
      if (!name->abiflags.empty()) continue;
      if (name->version != version) {
        others.insert(name->version);
        continue;
      }
      if (auto resolved = resolved_path(entry)) found.push_back(*resolved);
    }
    if (!found.empty()) return found.front();
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

std::vector<std::string> stdlib_paths(const fs::path &home, const std::string &platlibdir,
                                      const std::string &version) {
  std::vector<std::string> paths;
  const fs::path zip = home / platlibdir / ("python" + without_dot(version) + ".zip");
  const fs::path lib = home / platlibdir / ("python" + version);
  if (file_exists(zip)) paths.push_back(zip.string());
  if (dir_exists(lib)) paths.push_back(lib.string());
  if (dir_exists(lib / "lib-dynload")) paths.push_back((lib / "lib-dynload").string());
  return paths;
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

PythonLayout locate_python(const Environment &env, const std::string &supported,
                           const Logger &log) {
  PythonLayout layout;
  layout.version = supported;
  layout.executable = resolve_executable(env);
  const fs::path real_executable = resolved_path(layout.executable).value_or(layout.executable);
  const bool wrapper = !is_elf(real_executable);

  // The executable's own name may already tell a version ("python3.12").
  static const std::regex versioned(R"(python(\d+\.\d+))");
  std::smatch m;
  const std::string real_name = real_executable.filename().string();
  if (std::regex_match(real_name, m, versioned) && m[1] != supported) {
    fail_version("python executable " + layout.executable.string(), m[1], supported);
  }

  std::optional<Venv> venv = find_venv(env, layout.executable);
  std::optional<fs::path> home;
  std::string platlibdir = "lib";
  std::vector<std::string> looked;
  std::set<std::string> other_versions;

  if (env.python_home && !venv) {
    auto resolved = resolved_path(*env.python_home);
    if (!resolved || !dir_exists(*resolved)) {
      fail(Status::kPython, "python home " + *env.python_home + " does not exist");
    }
    auto lib = find_stdlib(*resolved, supported);
    if (!lib) {
      auto versions = stdlib_versions(*resolved);
      if (!versions.empty()) {
        fail_version("python home " + *env.python_home + " (lib/python" + *versions.begin() + ")",
                     version_list(versions), supported);
      }
      fail(Status::kPython, "python home " + *env.python_home +
                                " has no standard library for Python " + supported +
                                " (no lib/python" + supported + "/os.py)");
    }
    home = *resolved;
    platlibdir = *lib;
  } else if (!wrapper || venv) {
    // As getpath does: up from the (base) executable's directory to the first prefix with
    // the standard library.
    fs::path start = venv ? fs::path(venv->base_bin) : real_executable.parent_path();
    if (auto resolved = resolved_path(start)) start = *resolved;
    for (fs::path dir = start; !dir.empty(); dir = dir.parent_path()) {
      if (auto lib = find_stdlib(dir, supported)) {
        home = dir;
        platlibdir = *lib;
        break;
      }
      auto versions = stdlib_versions(dir);
      if (!versions.empty()) {
        fail_version("python " + layout.executable.string() + " (standard library in " +
                         dir.string() + "/lib/python" + *versions.begin() + ")",
                     version_list(versions), supported);
      }
      if (dir == dir.root_path()) break;
    }
  }

  std::optional<fs::path> library;
  if (home) {
    auto dirs = library_dirs(*home);
    library = find_library(dirs, supported, other_versions);
    for (const auto &dir : dirs) looked.push_back(dir.string());
  }

  if (!home || !library) {
    Answer answer = ask(layout.executable, env);
    const std::string asked = "asked " + layout.executable.string() + " (sysconfig)";
    if (!answer.problem.empty()) {
      looked.push_back(asked + ": " + answer.problem);
    } else {
      const std::string version = answer.get("version");
      if (version != supported) {
        fail_version("python " + layout.executable.string(), version, supported);
      }
      if (!home) {
        auto base = resolved_path(answer.get("base_prefix"));
        auto lib = base ? find_stdlib(*base, supported) : std::nullopt;
        if (!lib) {
          fail(Status::kPython, "python " + layout.executable.string() + " reports prefix " +
                                    answer.get("base_prefix") + ", which has no lib/python" +
                                    supported + "/os.py");
        }
        home = *base;
        platlibdir = *lib;
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

  if (!library) {
    if (!other_versions.empty() && home) {
      fail_version("libpython in " + home->string() + "/lib", version_list(other_versions),
                   supported);
    }
    fail(Status::kPython,
         "no libpython" + supported + " shared library for python " + env.python_exec +
             (env.python_home ? " (home " + *env.python_home + ")" : std::string()) +
             ": looked for libpython" + supported + ".so* in " + join(looked, "; ") +
             ". A Python built with --enable-shared provides one (Debian: package libpython" +
             supported + ")");
  }

  layout.home = *home;
  layout.libpython = *library;
  if (venv) layout.venv = venv->dir;
  layout.stdlib_paths = stdlib_paths(layout.home, platlibdir, supported);
  log.debug("python: " + layout.executable.string() + ": " + layout.describe());
  return layout;
}

}  // namespace pyenv::python
