// Process mode against thread mode and against a PySpark-style worker, through the built
// plugin as a host loads it, on one Python (the machine's python3 by default), in one run:
//   start-up:  pyenv_environment_get_interpreter of a process-mode environment until the
//              worker is ready, against `python -c pass` (spawned, alternating, medians);
//   hot path:  an identity function on 100-byte records: call_bytes in thread mode, call_bytes
//              in process mode (one round trip a record), call_batch in process mode (1,000
//              records a call), and the peer: a pure-Python worker over a Unix socket with
//              4-byte length frames in 100-record batches, read and written through buffered
//              socket files as PySpark's worker.py does (without its pickling, which would
//              only slow the peer down);
//   CPU-bound: a pure-Python loop of about 50 us a call, 1 handle on 1 thread and 2 handles
//              on 2 threads, both modes: the ratio shows how many cores Python gets.
// Usage: worker_bench --plugin PATH [--python /usr/bin/python3] [--runs 7] [--calls 200000]
#include <arpa/inet.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <pyenv/host.hpp>
#include <string>
#include <thread>
#include <vector>

extern char **environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

[[noreturn]] void die(const std::string &what) {
  std::fprintf(stderr, "worker_bench: %s\n", what.c_str());
  std::exit(1);
}

const char kJob[] = R"PY(
def identity(record):
    return record

def spin(record):
    s = 0
    for i in range(1500):
        s += i
    return record
)PY";

// The peer: PySpark's worker loop, reduced to its transport (worker.py's read_int,
// infile.read and write_with_length over sock.makefile).
const char kPeer[] = R"PY(
import socket, struct
sock = socket.socket(fileno=3)
infile = sock.makefile('rb', 65536)
outfile = sock.makefile('wb', 65536)
def identity(record):
    return record
def read_int(f):
    data = f.read(4)
    if len(data) < 4:
        raise EOFError
    return struct.unpack('!i', data)[0]
try:
    while True:
        count = read_int(infile)
        for _ in range(count):
            result = identity(infile.read(read_int(infile)))
            outfile.write(struct.pack('!i', len(result)))
            outfile.write(result)
        outfile.flush()
except EOFError:
    pass
)PY";

pid_t spawn(const std::vector<std::string> &args, int channel = -1) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (channel >= 0) posix_spawn_file_actions_adddup2(&actions, channel, 3);
  std::vector<char *> argv;
  for (const std::string &a : args) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
    die("cannot run " + args[0]);
  }
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

void wait_for(pid_t pid, const std::string &what) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    die(what + " failed (wait status " + std::to_string(status) + ")");
  }
}

void write_all(int fd, const char *data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n <= 0) die("peer: write");
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void read_all(int fd, char *data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::read(fd, data, size);
    if (n <= 0) die("peer: read");
    data += n;
    size -= static_cast<size_t>(n);
  }
}

// The PySpark-style peer: records/s of `calls` 100-byte records in batches of 100.
double peer_rate(const std::string &python, size_t calls) {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) die("socketpair");
  const pid_t pid = spawn({python, "-c", kPeer}, ends[1]);
  ::close(ends[1]);
  const int fd = ends[0];
  const std::string record(100, 'r');
  constexpr uint32_t kBatch = 100;
  std::string out;
  for (uint32_t i = 0; i < kBatch; ++i) {
    const uint32_t length = htonl(static_cast<uint32_t>(record.size()));
    out.append(reinterpret_cast<const char *>(&length), 4);
    out += record;
  }
  const uint32_t count = htonl(kBatch);
  out.insert(0, reinterpret_cast<const char *>(&count), 4);
  std::vector<char> in(kBatch * (4 + record.size()));
  // Warm-up batch.
  write_all(fd, out.data(), out.size());
  read_all(fd, in.data(), in.size());
  const auto start = Clock::now();
  for (size_t done = 0; done < calls; done += kBatch) {
    write_all(fd, out.data(), out.size());
    read_all(fd, in.data(), in.size());
  }
  const double rate = static_cast<double>(calls) / seconds_since(start);
  if (std::memcmp(in.data() + 4, record.data(), record.size()) != 0) die("peer: wrong answer");
  ::close(fd);
  wait_for(pid, "the peer");
  return rate;
}

struct Job {
  pyenv::host::Manager manager;
  pyenv::host::Environment env;
};

Job open_job(const pyenv::host::Plugin &plugin, const fs::path &dir, const std::string &python,
             const std::string &mode) {
  pyenv::host::Options options;
  options.job_id = "worker-bench-" + mode;
  options.tmp_dirs = {dir.string()};
  options.config_yaml = "python.executable: " + python + "\npython.execution-mode: " + mode +
                        "\npython.files: " + (dir / "bench_job.py").string() + "\n";
  options.system_env = {"PATH=/usr/bin:/bin"};
  pyenv::host::Manager manager = plugin.create(options);
  manager.open();
  pyenv::host::Environment env = manager.create_environment();
  return Job{std::move(manager), std::move(env)};
}

// Calls/s of `calls` calls of `function` on 100-byte records, split over one handle per
// thread.
double call_rate(const pyenv::host::Environment &env, const std::string &function, size_t calls,
                 unsigned threads) {
  std::vector<pyenv::host::Interpreter> handles;
  for (unsigned t = 0; t < threads; ++t) handles.push_back(env.interpreter());
  const std::string record(100, 'r');
  for (auto &h : handles) h.call_bytes(function, record.data(), record.size());  // warm
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (size_t i = t; i < calls; i += threads) {
        if (handles[t].call_bytes(function, record.data(), record.size()).size() != 100) {
          die("wrong answer");
        }
      }
    });
  }
  for (auto &t : pool) t.join();
  return static_cast<double>(calls) / seconds_since(start);
}

double batch_rate(const pyenv::host::Environment &env, size_t calls, size_t batch) {
  pyenv::host::Interpreter interp = env.interpreter();
  const std::string record(100, 'r');
  std::vector<pyenv_record> records(batch, pyenv_record{record.data(), record.size()});
  interp.call_batch("bench_job:identity", records.data(), records.size());
  const auto start = Clock::now();
  for (size_t done = 0; done < calls; done += batch) {
    if (interp.call_batch("bench_job:identity", records.data(), records.size()).size() != batch) {
      die("wrong batch");
    }
  }
  return static_cast<double>(calls) / seconds_since(start);
}

}  // namespace

int main(int argc, char **argv) {
  std::string plugin_path;
  std::string python = "/usr/bin/python3";
  int runs = 7;
  size_t calls = 200000;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--plugin") {
      plugin_path = value();
    } else if (arg == "--python") {
      python = value();
    } else if (arg == "--runs") {
      runs = std::stoi(value());
    } else if (arg == "--calls") {
      calls = std::stoul(value());
    } else {
      die("unknown option " + arg +
          " (usage: worker_bench --plugin PATH [--python P] [--runs N] [--calls N])");
    }
  }
  if (plugin_path.empty()) die("--plugin PATH is required");

  char pattern[] = "/tmp/worker-bench-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) die("mkdtemp");
  const fs::path dir = pattern;
  std::ofstream(dir / "bench_job.py") << kJob;

  pyenv::host::Plugin plugin = pyenv::host::Plugin::load(plugin_path);
  Job thread_job = open_job(plugin, dir, python, "thread");
  Job process_job = open_job(plugin, dir, python, "process");
  std::printf("worker_bench: %s, plugin %s, %d runs (medians), %zu calls a run\n", python.c_str(),
              plugin_path.c_str(), runs, calls);

  // Start-up: a worker ready, against `python -c pass`, alternating.
  std::vector<double> worker_start, python_start;
  for (int r = 0; r < runs; ++r) {
    auto start = Clock::now();
    wait_for(spawn({python, "-c", "pass"}), "python -c pass");
    python_start.push_back(seconds_since(start));
    start = Clock::now();
    pyenv::host::Interpreter interp = process_job.env.interpreter();
    worker_start.push_back(seconds_since(start));
  }
  const double worker_ms = median(worker_start) * 1e3;
  const double python_ms = median(python_start) * 1e3;
  std::printf("\nstart-up                      %10s %10s %8s\n", "ms", "peer ms", "ratio");
  std::printf("  worker ready vs python -c pass %9.1f %10.1f %7.2fx  (target <= 1.3x)\n",
              worker_ms, python_ms, worker_ms / python_ms);

  // The hot path.
  std::vector<double> thread_rate, process_rate, batched_rate, peer;
  const size_t per_call = calls / 4;  // a round trip a record: fewer, for the same time
  for (int r = 0; r < runs; ++r) {
    thread_rate.push_back(call_rate(thread_job.env, "bench_job:identity", calls, 1));
    process_rate.push_back(call_rate(process_job.env, "bench_job:identity", per_call, 1));
    batched_rate.push_back(batch_rate(process_job.env, calls * 5, 1000));
    peer.push_back(peer_rate(python, calls * 5));
  }
  const double t = median(thread_rate), p = median(process_rate), b = median(batched_rate),
               s = median(peer);
  std::printf("\nidentity, 100-byte records   %12s %10s %12s\n", "records/s", "us/record",
              "vs peer");
  std::printf("  thread mode, call_bytes     %12.0f %10.2f %11.2fx\n", t, 1e6 / t, t / s);
  std::printf("  process mode, call_bytes    %12.0f %10.2f %11.2fx  (target <= 10 us)\n", p,
              1e6 / p, p / s);
  std::printf("  process mode, call_batch    %12.0f %10.2f %11.2fx  (1,000 a call; targets "
              ">= 2M/s, >= 2x peer)\n",
              b, 1e6 / b, b / s);
  std::printf("  peer: PySpark-style worker  %12.0f %10.2f %11.2fx  (100-record batches)\n", s,
              1e6 / s, 1.0);

  // CPU-bound: how many cores.
  const size_t spins = calls / 20;
  std::vector<double> t1, t2, p1, p2;
  for (int r = 0; r < runs; ++r) {
    t1.push_back(call_rate(thread_job.env, "bench_job:spin", spins, 1));
    t2.push_back(call_rate(thread_job.env, "bench_job:spin", spins, 2));
    p1.push_back(call_rate(process_job.env, "bench_job:spin", spins, 1));
    p2.push_back(call_rate(process_job.env, "bench_job:spin", spins, 2));
  }
  std::printf("\nCPU-bound loop (~50 us)      %12s %12s %8s\n", "1 handle/s", "2 handles/s",
              "2 vs 1");
  std::printf("  thread mode                 %12.0f %12.0f %7.2fx\n", median(t1), median(t2),
              median(t2) / median(t1));
  std::printf("  process mode                %12.0f %12.0f %7.2fx  (target >= 1.8x on 2 cores)\n",
              median(p1), median(p2), median(p2) / median(p1));

  process_job.manager.close();
  thread_job.manager.close();
  fs::remove_all(dir);
  return 0;
}
