// pyenv-host: the reference host. It loads libpyenv through host.hpp exactly as a host
// runtime would, so it is both the demo and the proof that the public contract suffices.
#include <pyenv/host.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

extern char **environ;

namespace {

namespace fs = std::filesystem;

const char kUsage[] = R"(usage: pyenv-host [env] [options]

Prepares a job's Python environment with libpyenv, prints it as JSON and cleans up.
With no arguments, runs the bundled example configuration.

commands:
  env                  create, open, create_environment, print the JSON, close (default)

options:
  --config FILE        YAML configuration (python.* and pyenv.* keys)
                       default: the bundled example, share/pyenv/examples/example.yaml
  --job-id ID          the job id; managers of one job share their files (default: pyenv-host)
  --tmp-dir DIR        a tmp dir for the job's files; repeatable (default: $TMPDIR or /tmp)
  --plugin PATH        libpyenv.so to load (default: $PYENV_PLUGIN, then next to this
                       program, then ../lib/pyenv/)
  --verbose            print the plugin's info log lines on stderr
  -h, --help           this text
)";

struct Args {
  std::string command = "env";
  std::optional<std::string> config;
  std::string job_id = "pyenv-host";
  std::vector<std::string> tmp_dirs;
  std::optional<std::string> plugin;
  bool verbose = false;
};

[[noreturn]] void usage_error(const std::string &message) {
  std::cerr << "pyenv-host: " << message << "\n\n" << kUsage;
  std::exit(2);
}

Args parse_args(int argc, char **argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (arg == "env" && i == 1) {
      args.command = arg;
    } else if (arg == "--config") {
      args.config = value();
    } else if (arg == "--job-id") {
      args.job_id = value();
    } else if (arg == "--tmp-dir") {
      args.tmp_dirs.push_back(value());
    } else if (arg == "--plugin") {
      args.plugin = value();
    } else if (arg == "--verbose") {
      args.verbose = true;
    } else {
      usage_error("unknown argument " + arg);
    }
  }
  return args;
}

fs::path self_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

std::string find_plugin(const Args &args) {
  if (args.plugin) return *args.plugin;
  if (const char *env = std::getenv("PYENV_PLUGIN"); env && *env) return env;
  const fs::path candidates[] = {self_dir() / "libpyenv.so",
                                 self_dir() / ".." / "lib" / "pyenv" / "libpyenv.so"};
  for (const fs::path &candidate : candidates) {
    if (fs::exists(candidate)) return candidate.lexically_normal().string();
  }
  std::cerr << "pyenv-host: libpyenv.so not found next to " << self_dir().string()
            << " nor in ../lib/pyenv/; pass --plugin PATH\n";
  std::exit(2);
}

std::string find_example() {
  fs::path example = self_dir() / ".." / "share" / "pyenv" / "examples" / "example.yaml";
  if (!fs::exists(example)) {
    std::cerr << "pyenv-host: no bundled example at " << example.string()
              << "; pass --config FILE\n";
    std::exit(2);
  }
  return example.lexically_normal().string();
}

// On a terminal, one self-overwriting status line on stderr; otherwise nothing.
class ProgressLine {
 public:
  ProgressLine() : enabled_(::isatty(STDOUT_FILENO) && ::isatty(STDERR_FILENO)) {}
  ~ProgressLine() { clear(); }
  void update(const char *phase, uint64_t done, uint64_t total) {
    if (!enabled_) return;
    std::fprintf(stderr, "\r\033[K%s: %llu", phase, static_cast<unsigned long long>(done));
    if (total > 0) std::fprintf(stderr, " / %llu", static_cast<unsigned long long>(total));
    std::fflush(stderr);
    shown_ = true;
  }
  void clear() {
    if (!shown_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
};

int run_env(const Args &args) {
  pyenv::host::Plugin plugin = pyenv::host::Plugin::load(find_plugin(args));
  ProgressLine progress;

  pyenv::host::Options options;
  options.job_id = args.job_id;
  options.tmp_dirs = args.tmp_dirs;
  if (options.tmp_dirs.empty()) {
    const char *tmp = std::getenv("TMPDIR");
    options.tmp_dirs.push_back(tmp && *tmp ? tmp : "/tmp");
  }
  options.config_file = args.config ? *args.config : find_example();
  for (char **e = environ; *e != nullptr; ++e) {
    if (std::strchr(*e, '=') != nullptr && **e != '=') options.system_env.emplace_back(*e);
  }
  const int min_level = args.verbose ? 1 : 2;
  options.log = [&](int level, const char *message) {
    if (level < min_level) return;
    progress.clear();
    static const char *const kNames[] = {"debug", "info", "warn", "error"};
    std::fprintf(stderr, "pyenv %s: %s\n", kNames[level & 3], message);
  };
  options.progress = [&](const char *phase, uint64_t done, uint64_t total) {
    progress.update(phase, done, total);
  };

  pyenv::host::Manager manager = plugin.create(options);
  manager.open();
  pyenv::host::Environment env = manager.create_environment();
  progress.clear();
  std::cout << env.to_json() << std::endl;
  manager.close();
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  Args args = parse_args(argc, argv);
  try {
    return run_env(args);
  } catch (const pyenv::host::Error &e) {
    std::cerr << "pyenv-host: " << e.what() << " (status " << e.status() << ")\n";
    return 1;
  } catch (const std::exception &e) {
    std::cerr << "pyenv-host: " << e.what() << "\n";
    return 1;
  }
}
