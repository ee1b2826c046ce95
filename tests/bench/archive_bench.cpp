// The archive benchmark: libpyenv's cold open of a packed environment against the tools an
// operator would otherwise use, in one run, on the same file system, alternating.
//
//   archive_bench --plugin libpyenv.so --corpus DIR --work DIR [--reps N] [--label TEXT]
//                 [--extras]
//
// DIR holds corpus.zip and corpus.tar.gz (make-corpus.sh, make-large-corpus.sh). Every
// repetition runs, in this order and each in a fresh process, `unzip -q`, a cold libpyenv
// open of the zip, `bsdtar -xf`, a cold libpyenv open of the tar.gz; `sync` runs (untimed)
// before each, so that no command pays for the previous one's dirty pages. "Cold" is an empty
// pyenv.cache.dir; the archives themselves are read from the page cache by every command
// alike (nothing drops it). Figures are medians; peak RSS is each process's own (wait4).
// --extras adds the warm open, the same bytes at a new path against sha256sum, and 8 tasks
// opening one archive at once.
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <pyenv/host.hpp>
#include <string>
#include <thread>
#include <vector>

extern char **environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string plugin;
  fs::path corpus;
  fs::path work;
  std::string label;
  int reps = 5;
  bool extras = false;
  // Child mode: one open of `open` with its cache in `cache`.
  fs::path open;
  fs::path cache;
};

double seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

struct Run {
  double seconds;
  double rss_mib;
};

// Runs argv in a fresh process; wall time and that process's peak RSS. Exits on failure.
Run spawn(const std::vector<std::string> &argv) {
  std::vector<char *> args;
  for (const std::string &a : argv) args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  const auto start = Clock::now();
  pid_t pid = 0;
  if (::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) {
    std::cerr << "bench: cannot run " << argv[0] << "\n";
    std::exit(1);
  }
  int status = 0;
  struct rusage usage {};
  ::wait4(pid, &status, 0, &usage);
  const double elapsed = seconds(start);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string line;
    for (const std::string &a : argv) line += a + " ";
    std::cerr << "bench: failed: " << line << "\n";
    std::exit(1);
  }
  return Run{elapsed, usage.ru_maxrss / 1024.0};
}

void shell(const std::string &command) {
  if (std::system(command.c_str()) != 0) {
    std::cerr << "bench: failed: " << command << "\n";
    std::exit(1);
  }
}

// Trees from the cache are sealed (no write bits): give them back before removing.
void remove_tree(const fs::path &p) {
  shell("chmod -R u+w '" + p.string() + "' 2>/dev/null; rm -rf '" + p.string() + "'");
}

pyenv::host::Options options_for(const fs::path &archive, const fs::path &cache,
                                 const fs::path &work, const std::string &job) {
  pyenv::host::Options options;
  options.job_id = job;
  options.tmp_dirs = {(work / "tmp").string()};
  options.config_yaml = "python.archives: " + archive.string() + "#env\n" +
                        "pyenv.cache.dir: " + cache.string() + "\n";
  return options;
}

// The child: one task's open, as a host's process would make it.
int open_child(const Args &args) {
  pyenv::host::Plugin plugin = pyenv::host::Plugin::load(args.plugin);
  pyenv::host::Options options = options_for(args.open, args.cache, args.work, "bench-child");
  options.log = [](int level, const char *message) {
    if (level >= 2) std::cerr << "pyenv: " << message << "\n";
  };
  pyenv::host::Manager manager = plugin.create(options);
  manager.open();
  manager.create_environment();
  manager.close();
  return 0;
}

class Bench {
 public:
  explicit Bench(Args args) : args_(std::move(args)) {}

  int run() {
    const fs::path zip = args_.corpus / "corpus.zip";
    const fs::path tgz = args_.corpus / "corpus.tar.gz";
    remove_tree(args_.work);
    fs::create_directories(args_.work / "tmp");
    shell("cat '" + zip.string() + "' '" + tgz.string() + "' >/dev/null");  // same for all
    std::vector<Run> unzip, bsdtar, zip_open, tgz_open;
    const fs::path out = args_.work / "peer";
    const fs::path cache = args_.work / "cache";
    for (int r = 0; r < args_.reps; ++r) {
      fs::create_directories(out);
      unzip.push_back(timed({"unzip", "-q", zip.string(), "-d", out.string()}));
      remove_tree(out);
      zip_open.push_back(timed(child(zip, cache)));
      remove_tree(cache);
      fs::create_directories(out);
      bsdtar.push_back(timed({"bsdtar", "-xf", tgz.string(), "-C", out.string()}));
      remove_tree(out);
      tgz_open.push_back(timed(child(tgz, cache)));
      remove_tree(cache);
    }
    const auto time = [](const std::vector<Run> &runs) {
      std::vector<double> v;
      for (const Run &r : runs) v.push_back(r.seconds);
      return median(v);
    };
    const auto rss = [](const std::vector<Run> &runs) {
      double most = 0;
      for (const Run &r : runs) most = std::max(most, r.rss_mib);
      return most;
    };
    std::printf("archive benchmark [%s]: %s, %.1f MB zip, %.1f MB tar.gz, work in %s\n",
                args_.label.c_str(), args_.corpus.c_str(), fs::file_size(zip) / 1e6,
                fs::file_size(tgz) / 1e6, args_.work.c_str());
    std::printf("  %d alternating repetitions, medians; peak RSS: the largest of the runs\n",
                args_.reps);
    std::printf("  unzip -q                 %8.3f s   %6.1f MiB\n", time(unzip), rss(unzip));
    std::printf("  libpyenv cold open, zip  %8.3f s   %6.1f MiB   %.2fx unzip\n", time(zip_open),
                rss(zip_open), time(zip_open) / time(unzip));
    std::printf("  bsdtar -xf (tar.gz)      %8.3f s   %6.1f MiB\n", time(bsdtar), rss(bsdtar));
    std::printf("  libpyenv cold open, tgz  %8.3f s   %6.1f MiB   %.2fx bsdtar\n", time(tgz_open),
                rss(tgz_open), time(tgz_open) / time(bsdtar));
    std::printf("  each run (s): unzip");
    for (const Run &r : unzip) std::printf(" %.2f", r.seconds);
    std::printf(" | zip");
    for (const Run &r : zip_open) std::printf(" %.2f", r.seconds);
    std::printf(" | bsdtar");
    for (const Run &r : bsdtar) std::printf(" %.2f", r.seconds);
    std::printf(" | tgz");
    for (const Run &r : tgz_open) std::printf(" %.2f", r.seconds);
    std::printf("\n");
    if (args_.extras) extras(zip);
    std::fflush(stdout);
    remove_tree(args_.work);
    return 0;
  }

 private:
  Run timed(const std::vector<std::string> &argv) {
    shell("sync");
    return spawn(argv);
  }

  std::vector<std::string> child(const fs::path &archive, const fs::path &cache) {
    return {"/proc/self/exe", "--plugin",     args_.plugin, "--open",           archive.string(),
            "--cache",        cache.string(), "--work",     args_.work.string()};
  }

  // In this process, with the plugin loaded once, as a host's later tasks see it.
  void extras(const fs::path &zip) {
    pyenv::host::Plugin plugin = pyenv::host::Plugin::load(args_.plugin);
    std::atomic<int> misses{0};
    int jobs = 0;
    auto open_once = [&](const fs::path &archive, const fs::path &cache, const std::string &job) {
      pyenv::host::Options options = options_for(archive, cache, args_.work, job);
      options.log = [&misses](int level, const char *message) {
        if (level >= 2) std::cerr << "pyenv: " << message << "\n";
        const std::string text = message;
        if (text.rfind("archive cache:", 0) == 0 && text.find("] miss") != std::string::npos) {
          ++misses;
        }
      };
      const auto start = Clock::now();
      pyenv::host::Manager manager = plugin.create(options);
      manager.open();
      manager.create_environment();
      const double elapsed = seconds(start);
      manager.close();
      return elapsed;
    };
    std::vector<double> warm, new_path, sha;
    const fs::path cache = args_.work / "cache-extras";
    open_once(zip, cache, "bench-" + std::to_string(++jobs));
    for (int r = 0; r < args_.reps; ++r) {
      warm.push_back(open_once(zip, cache, "bench-" + std::to_string(++jobs)));
      sha.push_back(spawn({"sh", "-c", "sha256sum \"$0\" >/dev/null", zip.string()}).seconds);
      const fs::path copy = args_.work / ("renamed-" + std::to_string(r) + ".bin");
      fs::copy_file(zip, copy);
      new_path.push_back(open_once(copy, cache, "bench-" + std::to_string(++jobs)));
      fs::remove(copy);
    }
    remove_tree(cache);
    auto concurrent = [&](bool same_job) {
      const fs::path shared = args_.work / "cache-concurrent";
      misses = 0;
      const std::string one = "bench-" + std::to_string(++jobs);
      std::vector<std::thread> threads;
      for (int i = 0; i < 8; ++i) {
        const std::string id = same_job ? one : "bench-" + std::to_string(++jobs);
        threads.emplace_back([&, id] { open_once(zip, shared, id); });
      }
      for (std::thread &t : threads) t.join();
      remove_tree(shared);
      return misses.load();
    };
    const int one_job = concurrent(true);
    const int many_jobs = concurrent(false);
    std::printf("  warm open, same file     %8.3f ms                (target <= 5 ms)\n",
                median(warm) * 1e3);
    std::printf("  same bytes, new path     %8.3f s    %.2fx sha256sum (%.3f s)\n",
                median(new_path), median(new_path) / median(sha), median(sha));
    std::printf("  8 tasks of one job / of 8 jobs at once: %d / %d extraction(s) (target 1)\n",
                one_job, many_jobs);
  }

  Args args_;
};

}  // namespace

int main(int argc, char **argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    const bool has_value = i + 1 < argc;
    if (key == "--extras")
      args.extras = true;
    else if (key == "--plugin" && has_value)
      args.plugin = argv[++i];
    else if (key == "--corpus" && has_value)
      args.corpus = argv[++i];
    else if (key == "--work" && has_value)
      args.work = argv[++i];
    else if (key == "--label" && has_value)
      args.label = argv[++i];
    else if (key == "--reps" && has_value)
      args.reps = std::atoi(argv[++i]);
    else if (key == "--open" && has_value)
      args.open = argv[++i];
    else if (key == "--cache" && has_value)
      args.cache = argv[++i];
    else {
      std::cerr << "bench: unknown argument " << key << "\n";
      return 2;
    }
  }
  try {
    if (!args.open.empty()) return open_child(args);
    if (args.plugin.empty() || args.corpus.empty() || args.work.empty() || args.reps < 1) {
      std::cerr << "usage: archive_bench --plugin PATH --corpus DIR --work DIR [--reps N] "
                   "[--label TEXT] [--extras]\n";
      return 2;
    }
    return Bench(args).run();
  } catch (const std::exception &e) {
    std::cerr << "bench: " << e.what() << "\n";
    return 1;
  }
}
