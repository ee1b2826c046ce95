// One process of the stress test: `threads` host threads, each doing `rounds` rounds of
// create / open / create_environment / close on one of three jobs that share two archives.
//
//   pyenv_stress_worker <tmp dir> <zip> <tar.gz> <threads> <rounds>
//
// Prints "ready", waits for a line on stdin (so that every process starts at once), runs,
// then prints one "round <r> fds <n> rss_kib <n>" line per round (measured while no
// manager is open: every thread has closed and waits at a barrier), "misses <n>" (the
// cache's "] miss" log lines: extractions done by this process), "errors <n>" and each
// error, and "done".
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

namespace {

namespace fs = std::filesystem;
using pyenv::test::reliability::open_fds;
using pyenv::test::reliability::rss_kib;

// C++17 has no std::barrier.
class Barrier {
 public:
  explicit Barrier(size_t count) : count_(count) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const size_t generation = generation_;
    if (++waiting_ == count_) {
      waiting_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return generation != generation_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  size_t count_;
  size_t waiting_ = 0;
  size_t generation_ = 0;
};

}  // namespace

int main(int argc, char **argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s <tmp dir> <zip> <tar.gz> <threads> <rounds>\n", argv[0]);
    return 2;
  }
  const std::string tmp = argv[1];
  const std::string zip = argv[2];
  const std::string tar = argv[3];
  const size_t threads = std::strtoul(argv[4], nullptr, 10);
  const size_t rounds = std::strtoul(argv[5], nullptr, 10);
  // Three jobs over two archives: each archive is used by two jobs.
  const std::vector<std::string> yaml = {
      "python.archives: " + zip + "#venv\n",
      "python.archives: " + tar + "#data\n",
      "python.archives: [" + zip + "#venv, " + tar + "#data]\n",
  };
  const auto &plugin = pyenv::test::plugin();

  std::atomic<size_t> misses{0};
  std::atomic<size_t> error_count{0};
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  auto error = [&](const std::string &what) {
    ++error_count;
    std::lock_guard<std::mutex> lock(errors_mutex);
    if (errors.size() < 20) errors.push_back(what);
  };
  std::vector<std::pair<size_t, size_t>> measured(rounds);  // fds, rss per round
  Barrier barrier(threads);

  auto run = [&](size_t thread) {
    for (size_t round = 0; round < rounds; ++round) {
      const size_t job = (thread + round) % yaml.size();
      try {
        pyenv::host::Options options;
        options.job_id = "stress-job-" + std::to_string(job);
        options.tmp_dirs = {tmp};
        options.config_yaml = yaml[job];
        options.log = [&](int, const char *message) {
          if (std::strstr(message, "] miss") != nullptr) ++misses;
        };
        pyenv::host::Manager manager = plugin.create(options);
        manager.open();
        pyenv::host::Environment env = manager.create_environment();
        // The links into the cache lead to the archives' bytes.
        const fs::path wd = env.working_directory().value_or("");
        const fs::path probe =
            job == 1 ? wd / "data" / "d000/f00000.txt" : wd / "venv" / "d000/f00000.txt";
        std::error_code ec;
        if (fs::file_size(probe, ec) == 0 || ec)
          error("round " + std::to_string(round) + ": cannot read " + probe.string());
        manager.close();
      } catch (const std::exception &e) {
        error("round " + std::to_string(round) + " thread " + std::to_string(thread) + ": " +
              e.what());
      }
      // Measured with every manager of this process closed.
      barrier.arrive_and_wait();
      if (thread == 0) measured[round] = {open_fds(), rss_kib()};
      barrier.arrive_and_wait();
    }
  };

  std::printf("ready\n");
  std::fflush(stdout);
  char go[16];
  if (std::fgets(go, sizeof go, stdin) == nullptr) return 3;

  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t) pool.emplace_back(run, t);
  for (std::thread &t : pool) t.join();

  for (size_t r = 0; r < rounds; ++r) {
    std::printf("round %zu fds %zu rss_kib %zu\n", r + 1, measured[r].first, measured[r].second);
  }
  std::printf("misses %zu\nerrors %zu\n", misses.load(), error_count.load());
  for (const std::string &e : errors) std::printf("error %s\n", e.c_str());
  std::printf("done\n");
  std::fflush(stdout);
  return errors.empty() ? 0 : 1;
}
