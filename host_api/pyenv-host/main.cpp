// pyenv-host: the reference host. It loads libpyenv through host.hpp exactly as a host
// runtime would, so it is both the demo and the proof that the public contract suffices.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <pyenv/host.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cache_command.hpp"
#include "common.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pyenv_host;

const char kUsage[] = R"(usage: pyenv-host [COMMAND] [options]

Prepares a job's Python environment with libpyenv, the way a host runtime does.

commands:
  env       create, open, create_environment; print the environment as JSON; close
  run       prepare the environment, start its Python (embedded, or a worker process per
            thread with python.execution-mode: process), and call a function on each
            newline-delimited record from N host threads, each with an interpreter of its
            own; results go to stdout in input order, a summary (records, seconds,
            records/s) to stderr
  cache     list, warm, prune or rm the calling user's cache of extracted archives
            (`pyenv-host cache --help`)
  (none)    the bundled example: its environment, then `run` over its bundled records

options:
  --config FILE        YAML configuration (python.* and pyenv.* keys)
                       default: the bundled example, share/pyenv/examples/example.yaml
  --job-id ID          the job id; managers of one job share their files (default: pyenv-host)
  --tmp-dir DIR        a tmp dir for the job's files; repeatable (default: $TMPDIR or /tmp)
  --plugin PATH        libpyenv.so to load (default: $PYENV_PLUGIN, then next to this
                       program, then ../lib/pyenv/)
  --verbose            print the plugin's info log lines, and for run the
                       interpreter (pyenv_interpreter_info), on stderr
  -h, --help           this text
run options:
  --function MOD:FUNC  the function to call, e.g. wordcount:count_words (required for run)
  --threads N          host threads calling Python, one interpreter each (default 1)
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

Args parse_args(int argc, char **argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(arg + " needs a value", kUsage);
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
        usage_error("--threads takes a number from 1 to 256, got " + n, kUsage);
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
      usage_error("unknown argument " + arg, kUsage);
    }
  }
  if (args.command == "run" && args.function.empty()) usage_error("run needs --function", kUsage);
  return args;
}

std::string find_example() {
  fs::path example = examples_dir() / "example.yaml";
  if (!fs::exists(example)) {
    std::cerr << "pyenv-host: no bundled example at " << example.string()
              << "; pass --config FILE\n";
    std::exit(2);
  }
  return example.lexically_normal().string();
}

pyenv::host::Manager create_manager(const Args &args, const pyenv::host::Plugin &plugin,
                                    ProgressLine &progress) {
  pyenv::host::Options options = host_options(args.job_id, args.tmp_dirs, args.verbose, progress);
  options.config_file = args.config ? *args.config : find_example();
  return plugin.create(options);
}

// A task as a host runs one: the plugin's manager, opened, and its environment.
struct OpenTask {
  pyenv::host::Manager manager;
  pyenv::host::Environment environment;
};

OpenTask open_task(const Args &args, ProgressLine &progress) {
  pyenv::host::Plugin plugin = pyenv::host::Plugin::load(find_plugin(args.plugin));
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

// Calls `function` on every record of `in` from `threads` host threads, each with an
// interpreter handle of its own (in process mode, a worker each), and writes the results in
// input order. Records go to Python in batches (pyenv_interpreter_call_batch).
int run_records(const Args &args, std::istream &in) {
  ProgressLine progress;
  OpenTask task = open_task(args, progress);
  std::vector<pyenv::host::Interpreter> interpreters;
  for (unsigned t = 0; t < args.threads; ++t) {
    interpreters.push_back(task.environment.interpreter());
  }
  if (args.verbose) {
    std::fprintf(stderr, "pyenv-host: interpreter %s\n", interpreters[0].info().c_str());
  }

  constexpr size_t kBlock = 8192;  // records read at a time
  constexpr size_t kBatch = 256;   // records per call
  std::vector<std::string> records, results;
  uint64_t total = 0;
  const auto start = std::chrono::steady_clock::now();
  std::string line;
  bool more = true;
  while (more) {
    records.clear();
    while (records.size() < kBlock && (more = static_cast<bool>(std::getline(in, line)))) {
      records.push_back(line);
    }
    results.assign(records.size(), std::string());
    std::atomic<size_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto work = [&](pyenv::host::Interpreter &interp) {
      try {
        std::vector<pyenv_record> batch;
        for (size_t first = next.fetch_add(kBatch); first < records.size();
             first = next.fetch_add(kBatch)) {
          const size_t end = std::min(records.size(), first + kBatch);
          batch.clear();
          for (size_t i = first; i < end; ++i) batch.push_back({records[i].data(), records[i].size()});
          std::vector<std::string> out = interp.call_batch(args.function, batch.data(), batch.size());
          for (size_t i = first; i < end; ++i) results[i] = std::move(out[i - first]);
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = records.size();
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < args.threads; ++t) pool.emplace_back(work, std::ref(interpreters[t]));
    work(interpreters[0]);
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
  try {
    if (argc > 1 && std::string(argv[1]) == "cache") return run_cache(argc, argv);
    Args args = parse_args(argc, argv);
    return run(args);
  } catch (const pyenv::host::Error &e) {
    std::cerr << "pyenv-host: " << e.what() << " (status " << e.status() << ")\n";
    return 1;
  } catch (const std::exception &e) {
    std::cerr << "pyenv-host: " << e.what() << "\n";
    return 1;
  }
}
