#include "pip/pip.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <system_error>
#include <thread>

#include "error.hpp"
#include "util/process.hpp"

namespace pyenv::pip {
namespace {

namespace fs = std::filesystem;

// Asks the interpreter where `pip install --prefix P` puts things, the way pip itself
// decides it (pip's locations/_sysconfig.py): the interpreter's preferred "prefix" scheme,
// with every base variable pointing at P. The scheme is what differs between pythons:
// Debian's patched sysconfig answers posix_local (P/local/lib/python3.X/dist-packages;
// deb_system with DEB_PYTHON_INSTALL_LAYOUT=deb), a venv answers venv, a plain CPython
// posix_prefix (P/lib/python3.X/site-packages); sysconfig's bare defaults or a fixed
// posix_prefix would miss Debian's. Pythons before 3.10 have no preferred scheme and pip
// used distutils there, which lays out a prefix as posix_prefix does. Written for Python 2
// as well, so that the error for an old interpreter is pip's, not a syntax error here.
constexpr const char *kSiteQuery = R"(import os, sys, sysconfig
prefix = sys.argv[1]
preferred = getattr(sysconfig, 'get_preferred_scheme', None)
scheme = preferred('prefix') if preferred else ('nt' if os.name == 'nt' else 'posix_prefix')
if scheme == 'osx_framework_library':
    scheme = 'posix_prefix'
keys = ('installed_base', 'base', 'installed_platbase', 'platbase', 'prefix', 'exec_prefix')
paths = sysconfig.get_paths(scheme=scheme, vars=dict((k, prefix) for k in keys))
for key in ('purelib', 'platlib', 'scripts'):
    sys.stdout.write('pyenv-sysconfig %s %s\n' % (key, paths[key]))
sys.stdout.write('pyenv-sysconfig scheme %s\n' % scheme)
)";
constexpr const char *kSiteMarker = "pyenv-sysconfig ";

std::string join(const std::vector<std::string> &parts, const std::string &separator) {
  std::string out;
  for (const std::string &part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

std::string quote_if_needed(const std::string &arg) {
  if (!arg.empty() && arg.find_first_of(" \t\n'\"\\$") == std::string::npos) return arg;
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string command_line(const std::vector<std::string> &argv) {
  std::vector<std::string> quoted;
  for (const std::string &arg : argv) quoted.push_back(quote_if_needed(arg));
  return join(quoted, " ");
}

void require_path(const char *what, const fs::path &path, bool directory) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    fail(errno == ENOENT || errno == ENOTDIR ? Status::kConfig : Status::kIo,
         errno_message(std::string("python.requirements: ") + what + " " + path.string(), errno));
  }
  if (directory && !S_ISDIR(st.st_mode)) {
    fail(Status::kConfig,
         std::string("python.requirements: ") + what + " " + path.string() + " is not a directory");
  }
}

ProcessResult run(const Request &request, std::vector<std::string> argv,
                  std::chrono::milliseconds timeout,
                  std::function<void(const std::string &)> on_line) {
  ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.env = request.env;
  spec.cwd = request.working_dir;
  spec.timeout = timeout;
  spec.on_line = std::move(on_line);
  try {
    return run_process(spec);
  } catch (const Error &e) {
    if (e.status() != Status::kIo) throw;
    fail(Status::kPython,
         std::string("python.requirements: cannot run the interpreter: ") + e.what());
  }
}

// Directories named like site-packages anywhere in the prefix, for when the interpreter's
// answer and pip's behaviour disagree (an exotic distribution patch).
std::vector<std::string> find_site_dirs(const fs::path &root) {
  std::set<std::string> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_directory(ec) && !it->is_symlink(ec) &&
        (name == "site-packages" || name == "dist-packages")) {
      found.insert(it->path().string());
      it.disable_recursion_pending();
    } else if (it.depth() >= 4) {
      it.disable_recursion_pending();
    }
  }
  return {found.begin(), found.end()};
}

Installed locate(const Request &request, const fs::path &install_dir, const Logger &log) {
  std::map<std::string, std::string> answer;
  std::vector<std::string> output;
  ProcessResult result = run(request, {request.python, "-c", kSiteQuery, install_dir.string()},
                             request.timeout, [&](const std::string &line) {
                               if (line.rfind(kSiteMarker, 0) == 0) {
                                 std::string rest =
                                     line.substr(std::char_traits<char>::length(kSiteMarker));
                                 size_t space = rest.find(' ');
                                 if (space != std::string::npos)
                                   answer[rest.substr(0, space)] = rest.substr(space + 1);
                               } else {
                                 output.push_back(line);
                               }
                             });
  const std::string purelib = answer["purelib"];
  const std::string platlib = answer["platlib"];
  if (!result.succeeded() || purelib.empty() || platlib.empty()) {
    std::string message = "python.requirements: " + request.python +
                          " could not tell where it installs into " + install_dir.string() + " (" +
                          result.describe(request.timeout) + ")";
    if (!result.last_lines.empty())
      message += "; its last output:\n" + join(result.last_lines, "\n");
    fail(Status::kPython, message);
  }
  for (const std::string &line : output) log.debug("python: " + line);

  Installed installed;
  installed.install_dir = install_dir;
  installed.site_packages.push_back(purelib);
  if (platlib != purelib) installed.site_packages.push_back(platlib);
  installed.scripts_dir =
      answer["scripts"].empty() ? install_dir / "bin" : fs::path(answer["scripts"]);

  std::error_code ec;
  const bool any_exists =
      std::any_of(installed.site_packages.begin(), installed.site_packages.end(),
                  [&](const std::string &p) { return fs::is_directory(p, ec); });
  if (!any_exists) {
    std::vector<std::string> found = find_site_dirs(install_dir);
    if (!found.empty()) {
      log.warn("python.requirements: " + request.python + " names " +
               join(installed.site_packages, " and ") + " (scheme " + answer["scheme"] +
               ") for the prefix, but pip installed into " + join(found, " and ") +
               "; using those");
      installed.site_packages = found;
    }
  }
  log.info("requirements: site-packages " + join(installed.site_packages, ":") + " (scheme " +
           answer["scheme"] + ")");
  return installed;
}

}  // namespace

Installed install(const Request &request, const Logger &log) {
  if (request.attempts == 0)
    fail(Status::kInvalid, "python.requirements: pip attempts must be >= 1");
  if (request.python.empty())
    fail(Status::kInvalid, "python.requirements: no interpreter to run pip");

  // pip runs in the working directory, so relative paths are fixed here, against ours.
  const fs::path file = fs::absolute(request.requirements.file);
  require_path("requirements file", file, false);
  std::optional<fs::path> cache_dir;
  if (request.requirements.cache_dir) {
    cache_dir = fs::absolute(*request.requirements.cache_dir);
    require_path("wheel cache dir", *cache_dir, true);
  }
  const fs::path install_dir = fs::absolute(request.install_dir);
  std::error_code ec;
  fs::create_directories(install_dir, ec);
  if (ec) {
    fail(Status::kIo, "python.requirements: cannot create install dir " + install_dir.string() +
                          ": " + ec.message());
  }

  std::vector<std::string> argv = {request.python,       "-m", "pip",         "install",
                                   "--ignore-installed", "-r", file.string(), "--prefix",
                                   install_dir.string()};
  if (cache_dir) {
    argv.insert(argv.end(), {"--no-index", "--find-links", cache_dir->string()});
  }
  const std::string command = command_line(argv);

  std::vector<std::string> outcomes;
  ProcessResult result;
  for (unsigned attempt = 1; attempt <= request.attempts; ++attempt) {
    const std::string counter = std::to_string(attempt) + "/" + std::to_string(request.attempts);
    log.progress("pip", attempt, request.attempts);
    log.info("requirements: attempt " + counter + ": " + command);
    result = run(request, argv, request.timeout,
                 [&](const std::string &line) { log.info("pip: " + line); });
    if (result.succeeded()) {
      if (attempt < request.attempts) log.progress("pip", request.attempts, request.attempts);
      return locate(request, install_dir, log);
    }
    outcomes.push_back("attempt " + std::to_string(attempt) + ": " +
                       result.describe(request.timeout));
    if (attempt < request.attempts) {
      log.warn("requirements: attempt " + counter + " failed (" + result.describe(request.timeout) +
               "), retrying");
      // A pause, for the network trouble that retries are for.
      std::this_thread::sleep_for(std::chrono::seconds(std::min(attempt, 5u)));
    }
  }

  std::string message = "python.requirements: installing " + file.string() +
                        " with pip failed after " + std::to_string(request.attempts) +
                        (request.attempts == 1 ? " attempt (" : " attempts (") +
                        join(outcomes, "; ") + "); command: " + command;
  if (result.last_lines.empty()) {
    message += "; pip printed nothing";
  } else {
    message += "; pip's last output:\n" + join(result.last_lines, "\n");
  }
  fail(Status::kPython, message);
}

}  // namespace pyenv::pip
