// Stress: 4 processes x 8 threads x 50 rounds of create / open / create_environment / close
// over 3 jobs sharing 2 archives (a zip and a tar.gz of a few hundred files), all processes
// on one tmp dir and so one archive cache. No error; exactly one extraction per archive
// across all processes; no directory left; descriptors and memory flat across rounds.
#include <unistd.h>

#include <sstream>

#include "support.hpp"

namespace pyenv::test::reliability {
namespace {

using std::chrono::seconds;

constexpr size_t kProcesses = 4;
constexpr size_t kThreads = 8;
constexpr size_t kRounds = 50;
// Compared: a round once everything is warm, and the last.
constexpr size_t kEarlyRound = 10;
// VmRSS may move by allocator noise, not by a leak of one object per round: 400 opens per
// process between the two rounds, so a leak of even 1 KiB per open would show 400 KiB.
// Sanitizer builds keep freed memory in a quarantine, which CMakeLists.txt bounds to 16 MiB.
#ifdef PYENV_TEST_SANITIZED
constexpr size_t kRssToleranceKib = 32 << 10;
#else
constexpr size_t kRssToleranceKib = 1 << 10;
#endif

struct Report {
  std::map<size_t, std::pair<size_t, size_t>> rounds;  // round -> fds, rss KiB
  size_t misses = 0;
  size_t errors = 0;
  std::vector<std::string> error_lines;
  bool done = false;
};

Report read_report(Child &child) {
  Report report;
  while (auto line = child.read_line(seconds(300))) {
    std::istringstream in(*line);
    std::string word;
    in >> word;
    if (word == "round") {
      size_t round = 0, fds = 0, rss = 0;
      std::string fds_word, rss_word;
      in >> round >> fds_word >> fds >> rss_word >> rss;
      report.rounds[round] = {fds, rss};
    } else if (word == "misses") {
      in >> report.misses;
    } else if (word == "errors") {
      in >> report.errors;
    } else if (word == "error") {
      report.error_lines.push_back(*line);
    } else if (word == "done") {
      report.done = true;
      break;
    }
  }
  return report;
}

TEST(Stress, ProcessesThreadsRoundsOverSharedArchives) {
  TempDir tmp;
  const fs::path in = tmp / "in";
  const fs::path T = tmp / "tmp";
  fs::create_directories(in);
  fs::create_directories(T);
  write_zip(in / "venv.zip", many_files(300, 512, 1));
  write_tar(in / "data.tar.gz", many_files(300, 512, 2));

  std::vector<std::unique_ptr<Child>> workers;
  for (size_t p = 0; p < kProcesses; ++p) {
    workers.push_back(std::make_unique<Child>(std::vector<std::string>{
        stress_worker_path(), T.string(), (in / "venv.zip").string(), (in / "data.tar.gz").string(),
        std::to_string(kThreads), std::to_string(kRounds)}));
  }
  for (auto &worker : workers) ASSERT_EQ(worker->read_line(seconds(60)), "ready");
  const auto start = std::chrono::steady_clock::now();
  for (auto &worker : workers) worker->write_line("go");  // all at once: they race for the cache

  size_t misses = 0;
  for (size_t p = 0; p < kProcesses; ++p) {
    SCOPED_TRACE("process " + std::to_string(p));
    const Report report = read_report(*workers[p]);
    EXPECT_EQ(workers[p]->wait(), 0);
    ASSERT_TRUE(report.done) << "the worker did not finish";
    EXPECT_EQ(report.errors, 0u) << ::testing::PrintToString(report.error_lines);
    ASSERT_EQ(report.rounds.size(), kRounds) << "rounds completed";
    misses += report.misses;
    const auto [fds_early, rss_early] = report.rounds.at(kEarlyRound);
    const auto [fds_last, rss_last] = report.rounds.at(kRounds);
    std::printf(
        "process %zu: rounds %zu, extractions %zu, fds %zu -> %zu, VmRSS %zu -> %zu KiB "
        "(round %zu -> %zu)\n",
        p, report.rounds.size(), report.misses, fds_early, fds_last, rss_early, rss_last,
        kEarlyRound, kRounds);
    EXPECT_EQ(fds_last, fds_early) << "descriptors leak";
    EXPECT_LE(rss_last, rss_early + kRssToleranceKib) << "memory grows";
  }
  const double seconds_taken =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%zu processes x %zu threads x %zu rounds: %zu opens in %.1f s, %zu extractions\n",
              kProcesses, kThreads, kRounds, kProcesses * kThreads * kRounds, seconds_taken,
              misses);
  EXPECT_EQ(misses, 2u) << "exactly one extraction per archive across all processes";
  EXPECT_EQ(base_dirs_in(T), std::vector<fs::path>{}) << "base directories left";
  EXPECT_EQ(cache_problems(test::default_cache_dir(T)), std::vector<std::string>{});
  EXPECT_EQ(names_in(test::default_cache_dir(T) / "trees").size(), 2u);
}

}  // namespace
}  // namespace pyenv::test::reliability
