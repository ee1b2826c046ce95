// How zip workers should share the files, measured: archive::extract of one archive with
// each Distribution (see archive/extract.hpp) and worker count, alternating, in this process
// (the core's C++ API, no cache), on the file system of --work.
//
//   extract_bench --zip FILE --work DIR [--reps N] [--threads 1,2,4]
//
// Prints the median wall time of each, and its ratio to the pipeline with one worker.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "archive/extract.hpp"
#include "error.hpp"
#include "util/fs.hpp"

namespace {

namespace fs = std::filesystem;
using pyenv::archive::Distribution;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char **argv) {
  fs::path zip, work;
  int reps = 5;
  std::vector<unsigned> threads = {1, 2, 4};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--zip")
      zip = argv[i + 1];
    else if (key == "--work")
      work = argv[i + 1];
    else if (key == "--reps")
      reps = std::atoi(argv[i + 1]);
    else if (key == "--threads") {
      threads.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string item; std::getline(list, item, ',');) threads.push_back(std::stoul(item));
    }
  }
  if (zip.empty() || work.empty()) {
    std::cerr << "usage: extract_bench --zip FILE --work DIR [--reps N] [--threads 1,2,4]\n";
    return 2;
  }
  struct Variant {
    std::string name;
    Distribution distribution;
    unsigned threads;
    std::vector<double> seconds;
  };
  std::vector<Variant> variants;
  const std::pair<const char *, Distribution> kinds[] = {
      {"pipeline", Distribution::kPipeline},
      {"entries", Distribution::kEntries},
      {"directories", Distribution::kDirectories}};
  for (unsigned t : threads) {
    for (const auto &[name, d] : kinds) {
      if (t == 1 && d != Distribution::kPipeline) continue;  // one worker: all the same
      variants.push_back(Variant{name, d, t, {}});
    }
  }
  fs::create_directories(work);
  try {
    for (int r = 0; r < reps; ++r) {
      for (Variant &v : variants) {
        pyenv::archive::Limits limits;
        limits.threads = v.threads;
        limits.distribution = v.distribution;
        limits.seal = true;
        const fs::path out = work / "tree";
        if (std::system("sync") != 0) return 1;
        const auto start = std::chrono::steady_clock::now();
        pyenv::archive::extract(zip, out, limits, pyenv::Logger());
        v.seconds.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        pyenv::fsx::remove_tree(out);
      }
    }
  } catch (const std::exception &e) {
    std::cerr << "extract_bench: " << e.what() << "\n";
    return 1;
  }
  std::printf("zip workers, %s into %s, %d alternating repetitions, medians\n", zip.c_str(),
              work.c_str(), reps);
  const double base = median(variants.front().seconds);
  for (const Variant &v : variants) {
    std::printf("  %-12s %u worker(s)  %8.3f s  %.2fx  (", v.name.c_str(), v.threads,
                median(v.seconds), median(v.seconds) / base);
    for (double s : v.seconds) std::printf(" %.2f", s);
    std::printf(" )\n");
  }
  return 0;
}
