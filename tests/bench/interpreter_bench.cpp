// The embedded interpreter on every Python of the version matrix (3.9, the machine's 3.11,
// 3.13, 3.13t; tests/python/python_matrix.hpp), through the built plugin as a host loads
// it, against plain CPython of the same build, in one run:
//   start-up:  a process that loads libpyenv.so, prepares the environment, gets an
//              interpreter and makes its first call, against `pythonX.Y -c pass` (both
//              spawned, alternating, medians);
//   hot path:  call_bytes of an identity function on 100-byte records, 1 host thread;
//   CPU-bound: a pure-Python loop of about 50 us per call from 1 and 2 host threads: the
//              ratio shows whether Python runs in parallel (free-threaded) or not (GIL);
//              the peer: the same loop in `pythonX.Y -c` from 1 and 2 Python threads, which
//              is what the machine and the build allow at that moment;
//   peak RSS of the start-up process and of `python -c pass`.
// Each Python runs in a worker process of its own (one CPython per process).
// Usage: interpreter_bench --plugin PATH [--runs 11] [--calls 1000000] [--only 3.13t]
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <pyenv/host.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "python/python_matrix.hpp"

extern char **environ;

namespace {

using Clock = std::chrono::steady_clock;
using pyenv::test::MatrixPython;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

struct Args {
  std::string plugin;
  int runs = 11;
  long calls = 1000000;
  std::string only;
  std::string role;    // "", "--worker" or "--startup"
  std::string python;  // the matrix name, for a worker or a start-up child
};

std::string self_path() {
  char self[4096];
  const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) throw std::runtime_error("cannot find /proc/self/exe");
  return std::string(self, static_cast<size_t>(len));
}

MatrixPython find(const std::string &name) {
  std::string why;
  auto found = pyenv::test::find_matrix_python(name, why);
  if (!found) throw std::runtime_error(why);
  return *found;
}

// The installed interpreter itself (no archive to extract: start-up is what is measured).
std::string executable_of(const MatrixPython &python) {
  return (python.tree / "bin" / std::filesystem::path(python.executable).filename()).string();
}

// A job as a host runs one: its manager, opened, and its environment.
struct Job {
  std::string tmp;
  pyenv::host::Manager manager;
  pyenv::host::Environment environment;
};

Job open_job(const pyenv::host::Plugin &plugin, const MatrixPython &python) {
  char tmp[] = "/tmp/pyenv-interp-bench-XXXXXX";
  if (::mkdtemp(tmp) == nullptr) throw std::runtime_error("mkdtemp failed");
  pyenv::host::Options options;
  options.job_id = "interpreter-bench";
  options.tmp_dirs = {tmp};
  options.config_yaml =
      "python.executable: " + executable_of(python) + "\npython.systemenv.enabled: false\n";
  pyenv::host::Manager manager = plugin.create(options);
  manager.open();
  pyenv::host::Environment environment = manager.create_environment();
  return Job{tmp, std::move(manager), std::move(environment)};
}

void close_job(Job &job) {
  job.manager.close();
  std::error_code ec;
  std::filesystem::remove_all(job.tmp, ec);
}

// The peer of the CPU-bound measurement: spin() in `pythonX.Y -c`, from `threads` Python
// threads, `calls` calls in all; prints calls/s.
std::string peer_script(long rounds, long calls, int threads) {
  return "import threading, time\n"
         "def spin(b):\n"
         "    n = 0\n"
         "    for i in range(" +
         std::to_string(rounds) +
         "):\n"
         "        n += i * i\n"
         "    return b\n"
         "def work():\n"
         "    r = b'x' * 100\n"
         "    for _ in range(" +
         std::to_string(calls / threads) +
         "):\n"
         "        spin(r)\n"
         "ts = [threading.Thread(target=work) for _ in range(" +
         std::to_string(threads) +
         ")]\n"
         "start = time.perf_counter()\n"
         "for t in ts: t.start()\n"
         "for t in ts: t.join()\n"
         "print(" +
         std::to_string(calls) + " / (time.perf_counter() - start))\n";
}

constexpr const char *kFunctions =
    "def identity(b):\n"
    "    return b\n"
    "ROUNDS = 1000\n"
    "def spin(b):\n"
    "    n = 0\n"
    "    for i in range(ROUNDS):\n"
    "        n += i * i\n"
    "    return b\n";

// The start-up child: what a host does for its first record, timed from before dlopen.
int startup_child(const Args &args) {
  const auto start = Clock::now();
  const pyenv::host::Plugin plugin = pyenv::host::Plugin::load(args.plugin);
  Job job = open_job(plugin, find(args.python));
  {
    pyenv::host::Interpreter interpreter = job.environment.interpreter();
    interpreter.exec("def identity(b):\n    return b\n");
    if (interpreter.call_bytes("identity", "x", 1) != "x") return 1;
    std::printf("%.6f\n", seconds_since(start));
  }
  close_job(job);
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
  char buffer[4096];
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

// Calls per second of `callable` on 100-byte records from `threads` host threads.
double rate(pyenv::host::Interpreter &interpreter, const std::string &callable, long calls,
            int threads) {
  const std::string record(100, 'x');
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (long i = 0; i < calls / threads; ++i) {
        if (interpreter.call_bytes(callable, record.data(), record.size()).size() != 100) {
          std::abort();
        }
      }
    });
  }
  for (auto &w : workers) w.join();
  return static_cast<double>(calls) / seconds_since(start);
}

// One Python, measured in this process; prints "key=value" lines for the parent.
int worker(const Args &args) {
  const MatrixPython python = find(args.python);
  const std::string self = self_path();
  const std::string executable = executable_of(python);

  std::vector<double> embedded, inside, plain;
  long embedded_rss = 0, plain_rss = 0;
  const std::vector<std::string> child = {self, "--startup", args.python, "--plugin", args.plugin};
  const std::vector<std::string> pass = {executable, "-c", "pass"};
  spawn(pass);  // warm the page cache for both
  spawn(child);
  for (int r = 0; r < args.runs; ++r) {
    Spawned e = spawn(child);
    embedded.push_back(e.seconds);
    inside.push_back(std::atof(e.output.c_str()));
    embedded_rss = std::max(embedded_rss, e.max_rss_kib);
    Spawned p = spawn(pass);
    plain.push_back(p.seconds);
    plain_rss = std::max(plain_rss, p.max_rss_kib);
  }

  const pyenv::host::Plugin plugin = pyenv::host::Plugin::load(args.plugin);
  Job job = open_job(plugin, python);
  double identity = 0, spin_us = 0, one = 0, two = 0, peer_one = 0, peer_two = 0;
  std::string info;
  {
    pyenv::host::Interpreter interpreter = job.environment.interpreter();
    interpreter.exec(kFunctions);
    info = interpreter.info();
    // About 50 us per spin() on one thread, whatever this machine's and version's speed.
    const double per_round =
        1.0 / rate(interpreter, "spin", 2000, 1) / 1000;  // seconds per loop round
    const long rounds = std::max(1L, std::lround(50e-6 / per_round));
    interpreter.exec("ROUNDS = " + std::to_string(rounds) + "\n");
    rate(interpreter, "identity", args.calls / 10, 1);  // warm-up
    const long spins = std::max(2000L, args.calls / 50);  // about 1 s on one thread
    std::vector<double> identities, ones, twos, peer_ones, peer_twos;
    for (int r = 0; r < std::max(3, args.runs / 2); ++r) {
      identities.push_back(rate(interpreter, "identity", args.calls, 1));
      ones.push_back(rate(interpreter, "spin", spins, 1));
      twos.push_back(rate(interpreter, "spin", spins, 2));
      for (int threads : {1, 2}) {
        const std::string out =
            spawn({executable, "-c", peer_script(rounds, spins, threads)}).output;
        (threads == 1 ? peer_ones : peer_twos).push_back(std::atof(out.c_str()));
      }
    }
    identity = median(identities);
    one = median(ones);
    two = median(twos);
    peer_one = median(peer_ones);
    peer_two = median(peer_twos);
    spin_us = 1e6 / one;
  }
  close_job(job);
  std::printf("version=%s\n", info.c_str());
  std::printf("startup_ms=%.2f\ninside_ms=%.2f\npass_ms=%.2f\n", median(embedded) * 1e3,
              median(inside) * 1e3, median(plain) * 1e3);
  std::printf("identity=%.0f\nspin_us=%.1f\none=%.0f\ntwo=%.0f\n", identity, spin_us, one, two);
  std::printf("peer_one=%.0f\npeer_two=%.0f\n", peer_one, peer_two);
  std::printf("rss_kib=%ld\npass_rss_kib=%ld\n", embedded_rss, plain_rss);
  return 0;
}

std::map<std::string, std::string> parse(const std::string &output) {
  std::map<std::string, std::string> out;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

int parent(const Args &args) {
  const std::string self = self_path();
  std::printf("libpyenv embedded interpreter, %s; medians of %d alternating runs; %u cores\n\n",
              args.plugin.c_str(), args.runs, std::thread::hardware_concurrency());
  std::printf("%-6s %-8s %9s %9s %6s %12s %8s %10s %10s %6s %10s %8s %8s\n", "python", "version",
              "start-up", "-c pass", "ratio", "call_bytes/s", "spin us", "spin 1 thr", "spin 2 thr",
              "2/1", "python 2/1", "RSS MiB", "-c pass");
  int failures = 0;
  for (const std::string &name : pyenv::test::matrix_names()) {
    if (!args.only.empty() && name != args.only) continue;
    std::string why;
    if (!pyenv::test::find_matrix_python(name, why)) {
      std::printf("%-6s not measured: %s\n", name.c_str(), why.c_str());
      continue;
    }
    try {
      auto r = parse(spawn({self, "--worker", name, "--plugin", args.plugin, "--runs",
                            std::to_string(args.runs), "--calls", std::to_string(args.calls)})
                         .output);
      const double startup = std::stod(r["startup_ms"]), pass = std::stod(r["pass_ms"]);
      const double one = std::stod(r["one"]), two = std::stod(r["two"]);
      const std::string info = r["version"];
      const auto at = info.find("\"version\": \"");
      const std::string version =
          at == std::string::npos ? "?" : info.substr(at + 12, info.find('"', at + 12) - at - 12);
      const double peer = std::stod(r["peer_two"]) / std::stod(r["peer_one"]);
      std::printf(
          "%-6s %-8s %7.1fms %7.1fms %6.2f %12.0f %8.1f %10.0f %10.0f %6.2f %10.2f %8.1f %8.1f\n",
          name.c_str(), version.c_str(), startup, pass, startup / pass, std::stod(r["identity"]),
          std::stod(r["spin_us"]), one, two, two / one, peer, std::stod(r["rss_kib"]) / 1024,
          std::stod(r["pass_rss_kib"]) / 1024);
    } catch (const std::exception &e) {
      std::printf("%-6s failed: %s\n", name.c_str(), e.what());
      ++failures;
    }
  }
  std::printf(
      "\nstart-up: load libpyenv.so, prepare, get an interpreter, first call (inside the "
      "process: see --worker); targets: start-up ratio <= 1.5, call_bytes >= 500000/s, spin "
      "2/1 >= 1.7 for a free-threaded build on 2 cores (GIL builds: about 1); "
      "python 2/1: the same loop in threads of pythonX.Y itself, alongside\n");
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--plugin" && has_value) {
      args.plugin = argv[++i];
    } else if (arg == "--runs" && has_value) {
      args.runs = std::atoi(argv[++i]);
    } else if (arg == "--calls" && has_value) {
      args.calls = std::atol(argv[++i]);
    } else if (arg == "--only" && has_value) {
      args.only = argv[++i];
    } else if ((arg == "--worker" || arg == "--startup") && has_value) {
      args.role = arg;
      args.python = argv[++i];
    } else {
      std::cerr << "usage: interpreter_bench --plugin PATH [--runs N] [--calls N] [--only "
                   "NAME]\n";
      return 2;
    }
  }
  if (args.plugin.empty()) {
    std::cerr << "interpreter_bench: --plugin is required\n";
    return 2;
  }
  try {
    if (args.role == "--startup") return startup_child(args);
    if (args.role == "--worker") return worker(args);
    return parent(args);
  } catch (const std::exception &e) {
    std::cerr << "interpreter_bench: " << e.what() << "\n";
    return 1;
  }
}
