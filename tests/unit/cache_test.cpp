// The archive cache with real archives, real threads and real processes. The tests that fork
// do so while the process runs no other thread (this executable's main is gtest_main's).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "archive/extract.hpp"
#include "cache/archive_cache.hpp"
#include "error.hpp"
#include "support/fixture.hpp"

namespace pyenv::cache {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using namespace std::chrono_literals;

// Collects log lines from any thread.
struct Lines {
  std::mutex mutex;
  std::vector<std::string> lines;
  Logger logger() {
    return Logger(
        [this](LogLevel level, const std::string &line) {
          std::lock_guard<std::mutex> lock(mutex);
          lines.push_back((level == LogLevel::kInfo    ? "I "
                           : level == LogLevel::kDebug ? "D "
                                                       : "W ") +
                          line);
        },
        nullptr);
  }
  std::vector<std::string> matching(const std::string &prefix, const std::string &part) {
    std::lock_guard<std::mutex> lock(mutex);
    std::vector<std::string> out;
    for (const std::string &line : lines) {
      if (line.rfind(prefix, 0) == 0 && line.find(part) != std::string::npos) out.push_back(line);
    }
    return out;
  }
};

// A zip whose tree is a directory, a file named after `tag` and a 64 KiB file: archives of
// different tags hold different bytes but take the same space once extracted.
void write_archive(const fs::path &path, const std::string &tag) {
  std::string big;
  while (big.size() < (64 << 10)) big += tag + "-";
  big.resize(64 << 10);
  test::write_zip(path, {test::dir_entry("pkg"), test::file_entry("pkg/tag.txt", tag),
                         test::file_entry("pkg/big.bin", big),
                         test::file_entry("bin/run", "#!/bin/sh\n", 0755)});
}

// What the cache asks of archive::extract.
archive::Limits sealed() {
  archive::Limits limits;
  limits.seal = true;
  return limits;
}

// Extracts with archive::extract, counting calls; optionally dawdles first so that
// concurrent callers really overlap.
struct Extractor {
  fs::path archive;
  std::atomic<int> calls{0};
  std::chrono::milliseconds delay{0};
  ArchiveCache::Extract fn() {
    return [this](const fs::path &destination) {
      ++calls;
      std::this_thread::sleep_for(delay);
      return archive::extract(archive, destination, sealed(), Logger()).disk_bytes;
    };
  }
};

// Runs `body` in a forked child, which exits with its result (99 on an exception).
pid_t spawn(const std::function<int()> &body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int rc = 99;
    try {
      rc = body();
    } catch (...) {
    }
    ::_exit(rc);
  }
  return pid;
}

// The child's exit code, or 128 + the signal that ended it.
int wait_for(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<std::string> names_in(const fs::path &dir) {
  std::vector<std::string> out;
  for (const auto &entry : fs::directory_iterator(dir)) out.push_back(entry.path().filename());
  return out;
}

class ArchiveCacheTest : public ::testing::Test {
 protected:
  Options options(uint64_t max_bytes = 1ull << 30) { return Options{tmp_ / "cache", max_bytes}; }
  fs::path archive(const std::string &tag) {
    fs::path path = tmp_ / (tag + ".zip");
    if (!fs::exists(path)) write_archive(path, tag);
    return path;
  }
  fs::path staging() { return tmp_ / "cache" / "staging"; }
  fs::path trees() { return tmp_ / "cache" / "trees"; }

  TempDir tmp_;
  Lines log_;
};

TEST_F(ArchiveCacheTest, MissThenHitWithReadOnlyTree) {
  ArchiveCache cache(options(), log_.logger());
  Extractor extractor{archive("one")};

  Lease first = cache.acquire(extractor.archive, extractor.fn());
  EXPECT_FALSE(first.hit());
  EXPECT_EQ(first.key().size(), 64u);
  EXPECT_TRUE(first.tree().is_absolute());
  EXPECT_EQ(first.tree(), trees() / first.key());
  EXPECT_GT(first.bytes(), 64u << 10);
  EXPECT_EQ(test::list_tree(first.tree()),
            (std::set<std::string>{"bin", "bin/run", "pkg", "pkg/big.bin", "pkg/tag.txt"}));
  EXPECT_EQ(test::read_file(first.tree() / "pkg" / "tag.txt"), "one");
  // Directories are sealed (checked by mode: root ignores it); files keep the archive's
  // modes exactly, as CONFORMANCE.md C3 and A4 require.
  EXPECT_EQ(test::mode_of(first.tree()) & 0222, 0u);
  EXPECT_EQ(test::mode_of(first.tree() / "pkg") & 0222, 0u);
  EXPECT_EQ(test::mode_of(first.tree() / "pkg" / "tag.txt"), 0644u);
  EXPECT_EQ(test::mode_of(first.tree() / "bin" / "run"), 0755u);

  Lease second = cache.acquire(extractor.archive, extractor.fn());
  EXPECT_TRUE(second.hit());
  EXPECT_EQ(second.tree(), first.tree());
  EXPECT_EQ(second.key(), first.key());
  EXPECT_EQ(second.bytes(), first.bytes());
  EXPECT_EQ(extractor.calls, 1);
  EXPECT_TRUE(names_in(staging()).empty());

  const std::string short_key = first.key().substr(0, 12);
  EXPECT_EQ(log_.matching("I ", "miss").size(), 1u);
  ASSERT_EQ(log_.matching("I ", "] hit in").size(), 1u);
  EXPECT_NE(log_.matching("I ", "] hit in")[0].find(extractor.archive.string() + " [" + short_key),
            std::string::npos);
}

TEST_F(ArchiveCacheTest, IdenticalBytesUnderAnotherPathIsAHit) {
  ArchiveCache cache(options(), log_.logger());
  Extractor extractor{archive("same")};
  Lease first = cache.acquire(extractor.archive, extractor.fn());
  fs::path copy = tmp_ / "elsewhere" / "blob-without-suffix";
  fs::create_directories(copy.parent_path());
  fs::copy_file(extractor.archive, copy);

  Lease second = cache.acquire(copy, extractor.fn());
  EXPECT_TRUE(second.hit());
  EXPECT_EQ(second.key(), first.key());
  EXPECT_EQ(second.tree(), first.tree());
  EXPECT_EQ(extractor.calls, 1);
  EXPECT_EQ(cache.hash_count(), 2u);
}

TEST_F(ArchiveCacheTest, MemoSkipsHashingButNotChangedFiles) {
  fs::path path = archive("memo");
  // A file changed less than kMemoSettle ago is hashed every time (see the header).
  std::this_thread::sleep_for(kMemoSettle + 50ms);
  Extractor extractor{path};
  ArchiveCache cache(options(), log_.logger());
  std::string key = cache.acquire(path, extractor.fn()).key();
  EXPECT_EQ(cache.hash_count(), 1u);
  EXPECT_EQ(cache.acquire(path, extractor.fn()).key(), key);
  EXPECT_EQ(cache.hash_count(), 1u);
  EXPECT_EQ(log_.matching("D ", "known (memo)").size(), 1u);
  // The memo is on disk: another cache object (another process) needs no hashing either.
  ArchiveCache other(options(), log_.logger());
  EXPECT_TRUE(other.acquire(path, extractor.fn()).hit());
  EXPECT_EQ(other.hash_count(), 0u);

  // Replaced at the same path by a file of the same size and the same mtime: a new inode.
  struct stat old {};
  ASSERT_EQ(::stat(path.c_str(), &old), 0);
  fs::path replacement = tmp_ / "replacement.zip";
  write_archive(replacement, "MEMO");
  ASSERT_EQ(fs::file_size(replacement), static_cast<uintmax_t>(old.st_size));
  struct timespec times[2] = {old.st_atim, old.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, replacement.c_str(), times, 0), 0);
  fs::rename(replacement, path);
  std::string replaced_key = cache.acquire(path, extractor.fn()).key();
  EXPECT_EQ(cache.hash_count(), 2u);
  EXPECT_NE(replaced_key, key);

  // Rewritten in place (same inode) with other bytes.
  write_archive(path, "memo-rewritten");
  Lease rewritten = cache.acquire(path, extractor.fn());
  EXPECT_EQ(cache.hash_count(), 3u);
  EXPECT_NE(rewritten.key(), key);
  EXPECT_NE(rewritten.key(), replaced_key);
  EXPECT_EQ(test::read_file(rewritten.tree() / "pkg" / "tag.txt"), "memo-rewritten");
  EXPECT_EQ(extractor.calls, 3);
}

TEST_F(ArchiveCacheTest, EightThreadsExtractOnce) {
  ArchiveCache cache(options(), log_.logger());
  Extractor extractor{archive("threads")};
  extractor.delay = 100ms;
  constexpr int kThreads = 8;
  std::vector<std::optional<Lease>> leases(kThreads);
  std::vector<std::string> errors(kThreads);
  std::mutex mutex;
  std::condition_variable cv;
  bool go = false;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      {
        std::unique_lock<std::mutex> lock(mutex);
        cv.wait(lock, [&] { return go; });
      }
      try {
        leases[i].emplace(cache.acquire(extractor.archive, extractor.fn()));
      } catch (const std::exception &e) {
        errors[i] = e.what();
      }
    });
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    go = true;
  }
  cv.notify_all();
  for (std::thread &t : threads) t.join();

  EXPECT_EQ(extractor.calls, 1);
  int misses = 0;
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(leases[i]) << errors[i];
    EXPECT_EQ(leases[i]->tree(), leases[0]->tree());
    EXPECT_EQ(test::read_file(leases[i]->tree() / "pkg" / "tag.txt"), "threads");
    misses += leases[i]->hit() ? 0 : 1;
  }
  EXPECT_EQ(misses, 1);
  EXPECT_TRUE(names_in(staging()).empty());
}

TEST_F(ArchiveCacheTest, ProcessesExtractOnce) {
  const fs::path path = archive("processes");
  const fs::path counter = tmp_ / "extractions";
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < 4; ++i) {
    children.push_back(spawn([&] {
      ::close(go[1]);
      char c;
      if (::read(go[0], &c, 1) != 0) return 2;  // EOF: everyone has started
      ArchiveCache cache(options(), Logger());
      Lease lease = cache.acquire(path, [&](const fs::path &destination) -> uint64_t {
        int fd = ::open(counter.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (::write(fd, "x\n", 2) != 2) throw std::runtime_error("cannot count");
        ::close(fd);
        std::this_thread::sleep_for(100ms);
        return archive::extract(path, destination, sealed(), Logger()).disk_bytes;
      });
      return test::read_file(lease.tree() / "pkg" / "tag.txt") == "processes" ? 0 : 3;
    }));
  }
  ::close(go[0]);
  ::close(go[1]);
  for (pid_t child : children) EXPECT_EQ(wait_for(child), 0);
  EXPECT_EQ(test::read_file(counter), "x\n");

  ArchiveCache cache(options(), log_.logger());
  Extractor extractor{path};
  EXPECT_TRUE(cache.acquire(path, extractor.fn()).hit());
  EXPECT_EQ(extractor.calls, 0);
  EXPECT_TRUE(names_in(staging()).empty());
}

TEST_F(ArchiveCacheTest, ExtractionKilledMidwayIsCleanedUpAndRedone) {
  const fs::path victim = archive("victim");
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = spawn([&] {
    ArchiveCache cache(options(), Logger());
    cache.acquire(victim, [&](const fs::path &destination) -> uint64_t {
      fs::create_directories(destination / "half");
      test::write_file(destination / "half" / "written", "partial");
      if (::write(ready[1], "r", 1) != 1) ::_exit(4);
      for (;;) ::pause();
    });
    return 5;
  });
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  EXPECT_EQ(names_in(staging()).size(), 1u);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  EXPECT_EQ(wait_for(child), 128 + SIGKILL);

  // Any later acquire removes the dead extractor's staging, even of another archive...
  ArchiveCache cache(options(), log_.logger());
  Extractor other{archive("bystander")};
  EXPECT_FALSE(cache.acquire(other.archive, other.fn()).hit());
  EXPECT_TRUE(names_in(staging()).empty());
  EXPECT_EQ(log_.matching("I ", "removing stale staging").size(), 1u);

  // ...and the archive itself is extracted anew, without waiting for the dead.
  Extractor extractor{victim};
  Lease lease = cache.acquire(victim, extractor.fn());
  EXPECT_FALSE(lease.hit());
  EXPECT_EQ(extractor.calls, 1);
  EXPECT_EQ(test::read_file(lease.tree() / "pkg" / "tag.txt"), "victim");
  EXPECT_FALSE(fs::exists(lease.tree() / "half"));
  EXPECT_TRUE(names_in(staging()).empty());
}

TEST_F(ArchiveCacheTest, KeepsTheTreeJustAcquiredEvenOverBudget) {
  ArchiveCache cache(options(1), log_.logger());
  Extractor a{archive("a")};
  Extractor b{archive("b")};
  fs::path tree_a;
  {
    Lease lease = cache.acquire(a.archive, a.fn());
    tree_a = lease.tree();
    EXPECT_TRUE(fs::exists(tree_a));
  }
  EXPECT_TRUE(fs::exists(tree_a));  // nothing evicts without a new tree
  Lease lease = cache.acquire(b.archive, b.fn());
  EXPECT_TRUE(fs::exists(lease.tree()));
  EXPECT_FALSE(fs::exists(tree_a));
  EXPECT_EQ(log_.matching("W ", "over pyenv.cache.max-bytes").size(), 2u);
}

TEST_F(ArchiveCacheTest, EvictsLeastRecentlyUsed) {
  Extractor a{archive("a")}, b{archive("b")}, c{archive("c")};
  uint64_t size;
  {
    ArchiveCache probe(options(), Logger());
    size = probe.acquire(a.archive, a.fn()).bytes();
  }
  ArchiveCache cache(options(2 * size + size / 2), log_.logger());
  std::string key_a = cache.acquire(a.archive, a.fn()).key();
  std::string key_b = cache.acquire(b.archive, b.fn()).key();
  EXPECT_TRUE(cache.acquire(a.archive, a.fn()).hit());  // a is now the more recent
  Lease lease_c = cache.acquire(c.archive, c.fn());
  EXPECT_EQ(lease_c.bytes(), size);
  EXPECT_TRUE(fs::exists(trees() / key_a));
  EXPECT_FALSE(fs::exists(trees() / key_b));
  EXPECT_TRUE(fs::exists(lease_c.tree()));
  EXPECT_EQ(log_.matching("I ", "evicted " + key_b.substr(0, 12)).size(), 1u);
  // Evicted means gone for good: its lock file too, and the next use extracts again.
  EXPECT_FALSE(fs::exists(tmp_ / "cache" / "locks" / (key_b + ".lock")));
  EXPECT_FALSE(cache.acquire(b.archive, b.fn()).hit());
  EXPECT_EQ(b.calls, 2);
  EXPECT_TRUE(names_in(staging()).empty());
}

TEST_F(ArchiveCacheTest, NeverEvictsATreeInUseInThisProcess) {
  Extractor a{archive("a")}, b{archive("b")}, c{archive("c")}, d{archive("d")};
  uint64_t size;
  {
    ArchiveCache probe(options(), Logger());
    size = probe.acquire(a.archive, a.fn()).bytes();
  }
  ArchiveCache cache(options(2 * size + size / 2), log_.logger());
  Lease held = cache.acquire(a.archive, a.fn());  // the least recently used from here on
  std::string key_b = cache.acquire(b.archive, b.fn()).key();
  std::string key_c = cache.acquire(c.archive, c.fn()).key();
  EXPECT_TRUE(fs::exists(held.tree()));
  EXPECT_FALSE(fs::exists(trees() / key_b));
  EXPECT_TRUE(fs::exists(trees() / key_c));
  Lease lease_d = cache.acquire(d.archive, d.fn());
  EXPECT_TRUE(fs::exists(held.tree()));
  EXPECT_EQ(test::read_file(held.tree() / "pkg" / "tag.txt"), "a");
  EXPECT_FALSE(fs::exists(trees() / key_c));
  EXPECT_TRUE(fs::exists(lease_d.tree()));
}

TEST_F(ArchiveCacheTest, NeverEvictsATreeInUseInAnotherProcess) {
  Extractor a{archive("a")}, b{archive("b")}, c{archive("c")}, d{archive("d")};
  uint64_t size;
  std::string key_a;
  {
    ArchiveCache probe(options(), Logger());
    Lease lease = probe.acquire(a.archive, a.fn());
    size = lease.bytes();
    key_a = lease.key();
  }
  int ready[2];
  int done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  pid_t child = spawn([&] {
    ::close(ready[0]);
    ::close(done[1]);
    ArchiveCache cache(options(), Logger());
    Extractor mine{a.archive};
    Lease lease = cache.acquire(a.archive, mine.fn());
    if (::write(ready[1], "r", 1) != 1) return 4;
    char c;
    if (::read(done[0], &c, 1) != 0) return 5;  // holds the lease until the parent is done
    return test::read_file(lease.tree() / "pkg" / "tag.txt") == "a" ? 0 : 6;
  });
  ::close(ready[1]);
  ::close(done[0]);
  char ch;
  ASSERT_EQ(::read(ready[0], &ch, 1), 1);
  ::close(ready[0]);

  ArchiveCache cache(options(2 * size + size / 2), log_.logger());
  std::string key_b = cache.acquire(b.archive, b.fn()).key();
  std::string key_c = cache.acquire(c.archive, c.fn()).key();
  EXPECT_TRUE(fs::exists(trees() / key_a));  // the oldest, but in use over there
  EXPECT_FALSE(fs::exists(trees() / key_b));

  ::close(done[1]);
  EXPECT_EQ(wait_for(child), 0);
  // Its user gone, the oldest tree goes first.
  cache.acquire(d.archive, d.fn());
  EXPECT_FALSE(fs::exists(trees() / key_a));
  EXPECT_TRUE(fs::exists(trees() / key_c));
}

TEST_F(ArchiveCacheTest, FailedExtractionLeavesNothingAndCanBeRetried) {
  ArchiveCache cache(options(), log_.logger());
  const fs::path path = archive("fails");
  try {
    cache.acquire(path, [](const fs::path &destination) -> uint64_t {
      fs::create_directories(destination / "some");
      test::write_file(destination / "some" / "file", "half");
      throw std::runtime_error("boom");
    });
    FAIL() << "no exception";
  } catch (const std::runtime_error &e) {
    EXPECT_STREQ(e.what(), "boom");
  }
  EXPECT_TRUE(names_in(trees()).empty());
  EXPECT_TRUE(names_in(staging()).empty());
  EXPECT_TRUE(names_in(tmp_ / "cache" / "locks").empty());

  // An extract that "succeeds" without creating its destination is an error too.
  try {
    cache.acquire(path, [](const fs::path &) { return uint64_t{0}; });
    FAIL() << "no exception";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), Status::kIo);
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  EXPECT_TRUE(names_in(trees()).empty());
  EXPECT_TRUE(names_in(staging()).empty());

  Extractor extractor{path};
  Lease lease = cache.acquire(path, extractor.fn());
  EXPECT_FALSE(lease.hit());
  EXPECT_EQ(test::read_file(lease.tree() / "pkg" / "tag.txt"), "fails");
}

TEST_F(ArchiveCacheTest, MissingArchiveIsAConfigError) {
  ArchiveCache cache(options(), log_.logger());
  try {
    cache.acquire(tmp_ / "absent.zip", [](const fs::path &) { return uint64_t{0}; });
    FAIL() << "no exception";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), Status::kConfig);
    EXPECT_NE(std::string(e.what()).find("absent.zip"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pyenv::cache
