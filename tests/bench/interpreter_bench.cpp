// The embedded interpreter against plain CPython, in one run:
//   start-up: a process that gets an interpreter and makes its first call, against
//             `python3 -c pass` (both spawned, median of --runs);
//   throughput: call_bytes of an identity function on 100-byte records from 1 and 2 host
//             threads, against the same number of calls made by a loop inside the interpreter;
//   peak RSS of both start-up processes and of this one.
// Usage: interpreter_bench [--python /usr/bin/python3] [--calls 1000000] [--runs 11]
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "env/environment.hpp"
#include "error.hpp"
#include "python/interpreter.hpp"

extern char **environ;

namespace {

using Clock = std::chrono::steady_clock;
using pyenv::python::Interpreter;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

pyenv::Environment environment(const std::string &python) {
  pyenv::Environment env;
  env.python_exec = python;
  return env;
}

constexpr const char *kFunctions =
    "import sys, time, types\n"
    "def identity(b):\n"
    "    return b\n"
    "m = types.ModuleType('benchmod')\n"
    "m.identity = identity\n"
    "sys.modules['benchmod'] = m\n"
    "def loop(n, size):\n"
    "    record = b'x' * size\n"
    "    f = identity\n"
    "    start = time.perf_counter()\n"
    "    for _ in range(n):\n"
    "        f(record)\n"
    "    return time.perf_counter() - start\n";

// The start-up child: what a host does for its first record.
int startup_child(const std::string &python) {
  const auto start = Clock::now();
  auto interpreter = Interpreter::open(environment(python), pyenv::Logger());
  interpreter->exec("def identity(b):\n    return b\n");
  auto out = interpreter->call_bytes("identity", "x", 1);
  if (out.view() != "x") return 1;
  std::printf("%.6f\n", seconds_since(start));
  return 0;
}

struct Spawned {
  double seconds = 0;
  long max_rss_kib = 0;
  std::string output;
};

Spawned spawn(const std::vector<std::string> &argv) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::vector<char *> args;
  for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  Spawned result;
  const auto start = Clock::now();
  pid_t pid;
  int err = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (err != 0) throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(err));
  char buffer[256];
  ssize_t n;
  while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) result.output.append(buffer, n);
  ::close(fds[0]);
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  result.seconds = seconds_since(start);
  result.max_rss_kib = usage.ru_maxrss;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(argv[0] + " failed: " + result.output);
  }
  return result;
}

// Records per second through call_bytes from `threads` host threads, `calls` in all.
double call_bytes_rate(Interpreter &interpreter, const std::string &callable, long calls,
                       int threads) {
  const std::string record(100, 'x');
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (long i = 0; i < calls / threads; ++i) {
        auto out = interpreter.call_bytes(callable, record.data(), record.size());
        if (out.size() != record.size()) std::abort();
      }
    });
  }
  for (auto &w : workers) w.join();
  return static_cast<double>(calls) / seconds_since(start);
}

}  // namespace

int main(int argc, char **argv) {
  std::string python = "/usr/bin/python3";
  long calls = 1000000;
  int runs = 11;
  bool child = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--python" && i + 1 < argc) {
      python = argv[++i];
    } else if (arg == "--calls" && i + 1 < argc) {
      calls = std::atol(argv[++i]);
    } else if (arg == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (arg == "--startup-child") {
      child = true;
    } else {
      std::cerr << "usage: interpreter_bench [--python PATH] [--calls N] [--runs N]\n";
      return 2;
    }
  }
  try {
    if (child) return startup_child(python);

    char self[4096];
    ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) throw std::runtime_error("cannot find /proc/self/exe");
    self[len] = '\0';

    // Start-up, alternating the two so that both see the same machine state.
    std::vector<double> embedded, embedded_inside, plain;
    long embedded_rss = 0, plain_rss = 0;
    spawn({python, "-c", "pass"});  // warm the page cache for both
    spawn({self, "--startup-child", "--python", python});
    for (int r = 0; r < runs; ++r) {
      Spawned e = spawn({self, "--startup-child", "--python", python});
      embedded.push_back(e.seconds);
      embedded_inside.push_back(std::atof(e.output.c_str()));
      embedded_rss = std::max(embedded_rss, e.max_rss_kib);
      Spawned p = spawn({python, "-c", "pass"});
      plain.push_back(p.seconds);
      plain_rss = std::max(plain_rss, p.max_rss_kib);
    }

    auto interpreter = Interpreter::open(environment(python), pyenv::Logger());
    interpreter->exec(kFunctions);
    const std::string version = Interpreter::running()->version;
    call_bytes_rate(*interpreter, "identity", calls / 10, 1);  // warm-up

    // The same, for an environment with a working directory: two fchdir per call.
    pyenv::Environment with_cwd = environment(python);
    with_cwd.working_directory = "/tmp";
    auto in_directory = Interpreter::open(with_cwd, pyenv::Logger());
    in_directory->exec(kFunctions);

    std::vector<double> one, one_module, two, loop, one_cwd;
    for (int r = 0; r < std::max(3, runs / 2); ++r) {
      one.push_back(call_bytes_rate(*interpreter, "identity", calls, 1));
      one_module.push_back(call_bytes_rate(*interpreter, "benchmod:identity", calls, 1));
      two.push_back(call_bytes_rate(*interpreter, "identity", calls, 2));
      one_cwd.push_back(call_bytes_rate(*in_directory, "identity", calls, 1));
      const double loop_seconds =
          std::stod(interpreter->call_json("loop", "[" + std::to_string(calls) + ", 100]"));
      loop.push_back(static_cast<double>(calls) / loop_seconds);
    }
    rusage self_usage{};
    ::getrusage(RUSAGE_SELF, &self_usage);

    const double startup = median(embedded), startup_plain = median(plain);
    const double r1 = median(one), r1m = median(one_module), r2 = median(two), rl = median(loop);
    std::printf("libpyenv embedded interpreter (python %s, CPython %s)\n", python.c_str(),
                version.substr(0, version.find(' ')).c_str());
    std::printf("medians of %d runs\n\n", runs);
    std::printf("start-up, spawned process:\n");
    std::printf("  get interpreter + first call   %8.1f ms  (inside the process: %.1f ms)\n",
                startup * 1e3, median(embedded_inside) * 1e3);
    std::printf("  %-31s%8.1f ms\n", (python + " -c pass").c_str(), startup_plain * 1e3);
    std::printf("  ratio                          %8.2f   (target <= 1.5)\n\n",
                startup / startup_plain);
    std::printf("call_bytes, identity, 100-byte records, %ld calls:\n", calls);
    std::printf("  1 host thread, \"identity\"          %10.0f records/s  %6.3f us/call\n", r1,
                1e6 / r1);
    std::printf("  1 host thread, \"benchmod:identity\" %10.0f records/s  %6.3f us/call\n", r1m,
                1e6 / r1m);
    std::printf("  2 host threads, \"identity\"         %10.0f records/s  %6.3f us/call\n", r2,
                1e6 / r2);
    const double rc = median(one_cwd);
    std::printf("  1 host thread, working directory   %10.0f records/s  %6.3f us/call\n", rc,
                1e6 / rc);
    std::printf("  Python loop in the interpreter     %10.0f calls/s    %6.3f us/call\n", rl,
                1e6 / rl);
    std::printf(
        "  overhead per call_bytes call        %6.3f us  (target <= 2; >= 500000 records/s)\n",
        1e6 / r1 - 1e6 / rl);
    std::printf(
        "  ratios: loop / 1 thread %.2f, loop / 2 threads %.2f, 2 threads / 1 thread %.2f\n\n",
        rl / r1, rl / r2, r2 / r1);
    std::printf("peak RSS:\n");
    std::printf(
        "  start-up process %ld MiB, python -c pass %ld MiB (ratio %.2f); this process %ld "
        "MiB\n",
        embedded_rss / 1024, plain_rss / 1024,
        static_cast<double>(embedded_rss) / static_cast<double>(plain_rss),
        self_usage.ru_maxrss / 1024);
    return 0;
  } catch (const std::exception &e) {
    std::cerr << "interpreter_bench: " << e.what() << "\n";
    return 1;
  }
}
