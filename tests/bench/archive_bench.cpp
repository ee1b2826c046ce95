// The archive benchmark: libpyenv's open of a packed Python environment against the
// tools an operator would otherwise use, measured in one run on the same file system.
//
//   archive_bench --plugin build/release/bin/libpyenv.so --corpus DIR [--reps N] [--work DIR]
//
// DIR holds corpus.zip and corpus.tar.gz (tests/bench/make-corpus.sh builds them). Each
// figure is the median of N repetitions; ratios compare medians.
#include <pyenv/host.hpp>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string plugin;
  fs::path rss_child;  // set: only one cold open of this archive, for peak RSS
  fs::path corpus;
  fs::path work = "/tmp/pyenv-bench";
  int reps = 5;
};

double seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Runs `command` through the shell, returns its wall time; aborts when it fails.
double time_command(const std::string &command) {
  auto start = Clock::now();
  if (std::system(command.c_str()) != 0) {
    std::cerr << "bench: command failed: " << command << "\n";
    std::exit(1);
  }
  return seconds(start);
}

void remove_tree(const fs::path &p) {
  std::system(("chmod -R u+w '" + p.string() + "' 2>/dev/null; rm -rf '" + p.string() + "'").c_str());
}

class Bench {
 public:
  explicit Bench(Args args)
      : args_(std::move(args)), plugin_(pyenv::host::Plugin::load(args_.plugin)) {}

  // One task's open of `archive` with the cache in `cache_dir`; returns seconds and counts
  // cache misses (extractions) from the plugin's log.
  double open_once(const fs::path &archive, const fs::path &cache_dir, const std::string &job) {
    pyenv::host::Options options;
    options.job_id = job;
    options.tmp_dirs = {(args_.work / "tmp").string()};
    options.config_yaml = "python.archives: " + archive.string() + "#env\n" +
                          "pyenv.cache.dir: " + cache_dir.string() + "\n";
    options.log = [this](int level, const char *message) {
      if (level >= 2) std::cerr << "pyenv: " << message << "\n";
      const std::string text = message;  // the cache's own line: "archive cache: ... [key] miss"
      if (text.rfind("archive cache:", 0) == 0 && text.find("] miss") != std::string::npos) {
        ++misses_;
      }
    };
    auto start = Clock::now();
    pyenv::host::Manager manager = plugin_.create(options);
    manager.open();
    manager.create_environment();
    double elapsed = seconds(start);
    manager.close();
    return elapsed;
  }

  std::string job() { return "bench-" + std::to_string(++jobs_); }

  int run() {
    const fs::path zip = args_.corpus / "corpus.zip";
    const fs::path tgz = args_.corpus / "corpus.tar.gz";
    remove_tree(args_.work);
    fs::create_directories(args_.work / "tmp");
    std::vector<double> unzip, bsdtar, sha, cold_zip, cold_tgz, warm, new_path;

    for (int r = 0; r < args_.reps; ++r) {
      const fs::path out = args_.work / "peer";
      fs::create_directories(out);
      unzip.push_back(time_command("unzip -q '" + zip.string() + "' -d '" + out.string() + "'"));
      remove_tree(out);
      fs::create_directories(out);
      bsdtar.push_back(time_command("bsdtar -xf '" + tgz.string() + "' -C '" + out.string() + "'"));
      remove_tree(out);
      sha.push_back(time_command("sha256sum '" + zip.string() + "' >/dev/null"));

      const fs::path cache = args_.work / ("cache-" + std::to_string(r));
      cold_zip.push_back(open_once(zip, cache, job()));
      warm.push_back(open_once(zip, cache, job()));
      const fs::path copy = args_.work / ("renamed-" + std::to_string(r) + ".bin");
      fs::copy_file(zip, copy);
      new_path.push_back(open_once(copy, cache, job()));
      fs::remove(copy);
      remove_tree(cache);

      const fs::path tgz_cache = args_.work / ("cache-tgz-" + std::to_string(r));
      cold_tgz.push_back(open_once(tgz, tgz_cache, job()));
      remove_tree(tgz_cache);
    }

    const int one_job = concurrent_opens(zip, true);
    const int many_jobs = concurrent_opens(zip, false);
    const double rss = peak_rss_of_cold_open(zip);

    std::printf("archive benchmark: %s (%.1f MB zip), %d repetitions, medians\n",
                zip.c_str(), fs::file_size(zip) / 1e6, args_.reps);
    std::printf("  unzip -q                         %8.3f s\n", median(unzip));
    std::printf("  bsdtar -xf (tar.gz)              %8.3f s\n", median(bsdtar));
    std::printf("  sha256sum                        %8.3f s\n", median(sha));
    std::printf("  libpyenv open, cold cache (zip)  %8.3f s   %.2fx unzip     (target <= 0.75x)\n",
                median(cold_zip), median(cold_zip) / median(unzip));
    std::printf("  libpyenv open, cold (tar.gz)     %8.3f s   %.2fx bsdtar\n", median(cold_tgz),
                median(cold_tgz) / median(bsdtar));
    std::printf("  libpyenv open, warm, same file   %8.3f ms                  (target <= 5 ms)\n",
                median(warm) * 1e3);
    std::printf("  libpyenv open, same bytes, new path %5.3f s   %.2fx sha256sum (target <= 1.5x)\n",
                median(new_path), median(new_path) / median(sha));
    std::printf("  8 tasks of one job at once       %8d extraction(s)          (target 1)\n",
                one_job);
    std::printf("  8 tasks of 8 jobs at once        %8d extraction(s)          (target 1)\n",
                many_jobs);
    std::printf("  peak RSS of a cold open          %8.1f MiB                 (target <= 64)\n", rss);
    remove_tree(args_.work);
    return 0;
  }

 private:
  // 8 threads open the same archive at once with a fresh cache; returns the extractions.
  int concurrent_opens(const fs::path &archive, bool same_job) {
    const fs::path cache = args_.work / "cache-concurrent";
    misses_ = 0;
    const std::string shared_job = job();
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      std::string id = same_job ? shared_job : job();
      threads.emplace_back([this, archive, cache, id] { open_once(archive, cache, id); });
    }
    for (std::thread &t : threads) t.join();
    remove_tree(cache);
    return misses_;
  }

  // A cold open in a fresh process (this program again, in --rss-child mode), whose peak
  // resident set is then read from the kernel: a fork would inherit this process's pages.
  double peak_rss_of_cold_open(const fs::path &archive) {
    const fs::path cache = args_.work / "cache-rss";
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execl("/proc/self/exe", "archive_bench", "--plugin", args_.plugin.c_str(), "--rss-child",
              archive.c_str(), "--work", args_.work.c_str(), static_cast<char *>(nullptr));
      std::_Exit(127);
    }
    int status = 0;
    struct rusage usage {};
    ::wait4(pid, &status, 0, &usage);
    remove_tree(cache);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::cerr << "bench: the RSS child failed\n";
      return -1;
    }
    return usage.ru_maxrss / 1024.0;
  }

 public:
  int rss_child(const fs::path &archive) {
    open_once(archive, args_.work / "cache-rss", "bench-rss");
    return 0;
  }

 private:

  Args args_;
  pyenv::host::Plugin plugin_;
  std::atomic<int> misses_{0};
  int jobs_ = 0;
};

}  // namespace

int main(int argc, char **argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    if (key == "--plugin") args.plugin = argv[i + 1];
    else if (key == "--corpus") args.corpus = argv[i + 1];
    else if (key == "--work") args.work = argv[i + 1];
    else if (key == "--reps") args.reps = std::atoi(argv[i + 1]);
    else if (key == "--rss-child") args.rss_child = argv[i + 1];
  }
  if (!args.plugin.empty() && !args.rss_child.empty()) {
    try {
      return Bench(args).rss_child(args.rss_child);
    } catch (const std::exception &e) {
      std::cerr << "bench: " << e.what() << "\n";
      return 1;
    }
  }
  if (args.plugin.empty() || args.corpus.empty()) {
    std::cerr << "usage: archive_bench --plugin PATH --corpus DIR [--reps N] [--work DIR]\n";
    return 2;
  }
  try {
    return Bench(args).run();
  } catch (const std::exception &e) {
    std::cerr << "bench: " << e.what() << "\n";
    return 1;
  }
}
