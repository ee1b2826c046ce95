// pyenv-host: the reference host. It loads libpyenv through host.hpp exactly as a host
// runtime would, so it is both the demo and the proof that the public contract suffices.
#include <pyenv/host.hpp>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <optional>
#include <string>
#include <vector>

extern char **environ;

namespace {

namespace fs = std::filesystem;

const char kUsage[] = R"(usage: pyenv-host [COMMAND] [options]

Prepares a job's Python environment with libpyenv, the way a host runtime does.

commands:
  env       create, open, create_environment; print the environment as JSON; close
  run       prepare the environment, start its embedded Python, and call a function on
            each newline-delimited record from N host threads; results go to stdout in
            input order, a summary (records, seconds, records/s) to stderr
  (none)    the bundled example: its environment, then `run` over its bundled records

options:
  --config FILE        YAML configuration (python.* and pyenv.* keys)
                       default: the bundled example, share/pyenv/examples/example.yaml
  --job-id ID          the job id; managers of one job share their files (default: pyenv-host)
  --tmp-dir DIR        a tmp dir for the job's files; repeatable (default: $TMPDIR or /tmp)
  --plugin PATH        libpyenv.so to load (default: $PYENV_PLUGIN, then next to this
                       program, then ../lib/pyenv/)
  --verbose            print the plugin's info log lines on stderr
  -h, --help           this text
run options:
  --function MOD:FUNC  the function to call, e.g. wordcount:count_words (required for run)
  --threads N          host threads calling Python (default 1)
  --input FILE         records to read (default: stdin)
)";

struct Args {
  std::string command = "demo";
  std::optional<std::string> config;
  std::string job_id = "pyenv-host";
  std::vector<std::string> tmp_dirs;
  std::optional<std::string> plugin;
  bool verbose = false;
  std::string function;
  unsigned threads = 1;
  std::optional<std::string> input;
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
    } else if ((arg == "env" || arg == "run") && i == 1) {
      args.command = arg;
    } else if (arg == "--function") {
      args.function = value();
    } else if (arg == "--threads") {
      const std::string n = value();
      char *end = nullptr;
      const unsigned long threads = std::strtoul(n.c_str(), &end, 10);
      if (end == n.c_str() || *end != '\0' || threads == 0 || threads > 256) {
        usage_error("--threads takes a number from 1 to 256, got " + n);
      }
      args.threads = static_cast<unsigned>(threads);
    } else if (arg == "--input") {
      args.input = value();
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
  if (args.command == "run" && args.function.empty()) usage_error("run needs --function");
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

fs::path examples_dir() { return self_dir() / ".." / "share" / "pyenv" / "examples"; }

std::string find_example() {
  fs::path example = examples_dir() / "example.yaml";
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

pyenv::host::Manager create_manager(const Args &args, const pyenv::host::Plugin &plugin,
                                    ProgressLine &progress) {
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
  options.log = [&progress, min_level](int level, const char *message) {
    if (level < min_level) return;
    progress.clear();
    static const char *const kNames[] = {"debug", "info", "warn", "error"};
    std::fprintf(stderr, "pyenv %s: %s\n", kNames[level & 3], message);
  };
  options.progress = [&progress](const char *phase, uint64_t done, uint64_t total) {
    progress.update(phase, done, total);
  };
  return plugin.create(options);
}

// A task as a host runs one: the plugin's manager, opened, and its environment.
struct OpenTask {
  pyenv::host::Manager manager;
  pyenv::host::Environment environment;
};

OpenTask open_task(const Args &args, ProgressLine &progress) {
  pyenv::host::Plugin plugin = pyenv::host::Plugin::load(find_plugin(args));
  pyenv::host::Manager manager = create_manager(args, plugin, progress);
  manager.open();
  pyenv::host::Environment environment = manager.create_environment();
  progress.clear();
  return OpenTask{std::move(manager), std::move(environment)};
}

int run_env(const Args &args) {
  ProgressLine progress;
  OpenTask task = open_task(args, progress);
  std::cout << task.environment.to_json() << std::endl;
  task.manager.close();
  return 0;
}

// Calls `function` on every record of `in` from `threads` host threads, in batches, and
// writes the results in input order.
int run_records(const Args &args, std::istream &in) {
  ProgressLine progress;
  OpenTask task = open_task(args, progress);
  pyenv::host::Interpreter interp = task.environment.interpreter();

  constexpr size_t kBatch = 8192;
  std::vector<std::string> records, results;
  uint64_t total = 0;
  const auto start = std::chrono::steady_clock::now();
  std::string line;
  bool more = true;
  while (more) {
    records.clear();
    while (records.size() < kBatch && (more = static_cast<bool>(std::getline(in, line)))) {
      records.push_back(line);
    }
    results.assign(records.size(), std::string());
    std::atomic<size_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto work = [&] {
      try {
        for (size_t i = next++; i < records.size(); i = next++) {
          results[i] = interp.call_bytes(args.function, records[i].data(), records[i].size());
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = records.size();
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < args.threads; ++t) pool.emplace_back(work);
    work();
    for (std::thread &t : pool) t.join();
    if (error) std::rethrow_exception(error);
    for (const std::string &result : results) std::cout << result << '\n';
    total += records.size();
  }
  std::cout.flush();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "pyenv-host: %llu records, %.3f s, %.0f records/s, %u thread(s)\n",
               static_cast<unsigned long long>(total), seconds,
               seconds > 0 ? static_cast<double>(total) / seconds : 0.0, args.threads);
  task.manager.close();
  return 0;
}

int run(const Args &args) {
  if (args.command == "env") return run_env(args);
  if (args.command == "run") {
    if (!args.input) return run_records(args, std::cin);
    std::ifstream in(*args.input);
    if (!in) {
      std::cerr << "pyenv-host: cannot read --input " << *args.input << "\n";
      return 2;
    }
    return run_records(args, in);
  }
  // The bundled example, end to end.
  run_env(args);
  Args example = args;
  example.function = "wordcount:count_words";
  example.input = (examples_dir() / "example" / "records.txt").lexically_normal().string();
  std::ifstream in(*example.input);
  if (!in) {
    std::cerr << "pyenv-host: no bundled records at " << *example.input << "\n";
    return 2;
  }
  std::cerr << "pyenv-host: running " << example.function << " over " << *example.input << "\n";
  return run_records(example, in);
}

}  // namespace

int main(int argc, char **argv) {
  Args args = parse_args(argc, argv);
  try {
    return run(args);
  } catch (const pyenv::host::Error &e) {
    std::cerr << "pyenv-host: " << e.what() << " (status " << e.status() << ")\n";
    return 1;
  } catch (const std::exception &e) {
    std::cerr << "pyenv-host: " << e.what() << "\n";
    return 1;
  }
}
