// Faults injected into real opens through the plugin's C ABI: a full disk, an unwritable tmp
// dir, an archive deleted or replaced under open(), a pip that hangs, a read-only cache.
// Each case checks the status and that the message names the culprit, that nothing is left
// behind (no base directory, no staging, the cache consistent, what was cached before still
// there), and that the same open works once the fault is gone.
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "support.hpp"

namespace pyenv::test::reliability {
namespace {

using pyenv::host::Manager;
using ::testing::HasSubstr;

std::string new_job_id() {
  static std::atomic<int> counter{0};
  return "fault-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

uint64_t used_bytes(const fs::path &dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.f_blocks - st.f_bfree) * st.f_frsize;
}

size_t count_files(const fs::path &root) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    n += it->is_regular_file(ec);
  }
  return n;
}

// Runs `fault` on another thread as soon as an extraction under `root` reached `marker`,
// while `open` runs on this one. Returns open's outcome; `injected` tells whether the fault
// came before open() returned.
Outcome open_with_fault_mid_extraction(Manager &manager, const fs::path &root,
                                       const std::string &marker,
                                       const std::function<void()> &fault, bool &injected) {
  std::atomic<bool> finished{false};
  std::atomic<bool> done_in_time{false};
  std::thread injector([&] {
    while (!finished) {
      if (extraction_reached(root, marker)) {
        fault();
        done_in_time = !finished;
        return;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  Outcome outcome = outcome_of([&] { manager.open(); });
  finished = true;
  injector.join();
  injected = done_in_time;
  return outcome;
}

class Faults : public ::testing::Test {
 public:
  Manager create(const std::string &yaml, std::vector<fs::path> tmp_dirs = {}) {
    if (tmp_dirs.empty()) tmp_dirs = {T};
    return plugin().create(options_for(new_job_id(), tmp_dirs, yaml, &log_));
  }

 protected:
  void SetUp() override {
    in_ = tmp_ / "in";
    T = tmp_ / "tmp";
    fs::create_directories(in_);
    fs::create_directories(T);
  }

  // Opens and closes a manager of `yaml`, which must work.
  void open_and_close(const std::string &yaml, std::vector<fs::path> tmp_dirs = {}) {
    Manager manager = create(yaml, tmp_dirs);
    ASSERT_TRUE(outcome_of([&] { manager.open(); }).ok()) << log_.dump();
    manager.close();
  }

  // Nothing of a failed (or closed) job left in `tmp`, and its cache consistent.
  void expect_nothing_left(const fs::path &tmp, const fs::path &cache) {
    EXPECT_TRUE(base_dirs_in(tmp).empty()) << "base directory left in " << tmp;
    EXPECT_EQ(cache_problems(cache), std::vector<std::string>{});
  }

  TempDir tmp_;
  fs::path in_;  // archives and inputs: never on the faulty file system
  fs::path T;    // the tmp dir, unless the test mounts its own
  LogLines log_;
};

// --- no space left ----------------------------------------------------------------------

struct SpaceCase {
  bool zip;
  bool cache;
};

class NoSpace : public Faults, public ::testing::WithParamInterface<SpaceCase> {};

// An archive that expands to 8 MiB, into a 2 MiB tmpfs that is the tmp dir and the cache.
TEST_P(NoSpace, OpenFailsWithEioNamingEnospcAndLeavesNothing) {
  std::string why;
  auto small = Tmpfs::mount("size=2m", false, why);
  if (!small) GTEST_SKIP() << "no tmpfs for the full-disk case: " << why;
  const fs::path tmp = small->path();
  const fs::path cache = test::default_cache_dir(tmp);
  const std::string cache_yaml = GetParam().cache ? "" : "pyenv.cache.enabled: false\n";

  // What the cache held before the fault must survive it.
  write_zip(in_ / "small.zip", {file_entry("bin/tool", "#!", 0755)});
  open_and_close("python.archives: " + (in_ / "small.zip").string() + "#small\n", {tmp});
  const std::vector<std::string> trees_before = names_in(cache / "trees");

  const fs::path big = in_ / (GetParam().zip ? "big.zip" : "big.tar.gz");
  if (GetParam().zip) {
    write_zip(big, many_files(200, 40 << 10));
  } else {
    write_tar(big, many_files(200, 40 << 10));
  }
  const std::string yaml = "python.archives: " + big.string() + "#venv\n" + cache_yaml;
  Manager manager = create(yaml, {tmp});
  const Outcome failed = outcome_of([&] { manager.open(); });
  print_outcome(failed);
  EXPECT_EQ(failed.status, PYENV_EIO) << failed;
  EXPECT_THAT(failed.message, HasSubstr("No space left on device"));
  EXPECT_THAT(failed.message, HasSubstr(big.string()));
  expect_nothing_left(tmp, cache);
  EXPECT_EQ(names_in(cache / "trees"), trees_before) << "the cache lost a tree";
  // Everything the failed open wrote is gone: a 2 MiB disk is usable again.
  EXPECT_LT(used_bytes(tmp), 256u << 10) << "bytes left on the full file system";

  // The fault gone: the same job opens, completely.
  ASSERT_EQ(small->remount("size=64m", false), "");
  Manager again = create(yaml, {tmp});
  const Outcome ok = outcome_of([&] { again.open(); });
  ASSERT_TRUE(ok.ok()) << ok;
  fs::path venv = base_dirs_in(tmp).at(0) / "python-archives" / "venv";
  EXPECT_EQ(count_files(venv), 200u);
  again.close();
  expect_nothing_left(tmp, cache);
}

INSTANTIATE_TEST_SUITE_P(Archives, NoSpace,
                         ::testing::Values(SpaceCase{false, true}, SpaceCase{true, true},
                                           SpaceCase{false, false}, SpaceCase{true, false}),
                         [](const auto &info) {
                           return std::string(info.param.zip ? "Zip" : "TarGz") +
                                  (info.param.cache ? "Cached" : "Private");
                         });

// --- unwritable tmp dir -------------------------------------------------------------------

// As root permissions do not stop anything: the tmp dir is then a read-only mount.
struct UnwritableDir {
  std::unique_ptr<Tmpfs> mount;
  fs::path path;
  std::string reason;  // what the message must say
  std::string skip;
};

UnwritableDir make_unwritable(const fs::path &fallback) {
  UnwritableDir out;
  if (running_as_root()) {
    out.mount = Tmpfs::mount("size=1m", true, out.skip);
    if (out.mount) out.path = out.mount->path();
    out.reason = "Read-only file system";
  } else {
    out.path = fallback;
    fs::create_directories(out.path);
    fs::permissions(out.path, fs::perms(0555));
    out.reason = "Permission denied";
  }
  return out;
}

void make_writable(UnwritableDir &dir) {
  if (dir.mount) {
    ASSERT_EQ(dir.mount->remount("size=1m", false), "");
  } else {
    fs::permissions(dir.path, fs::perms(0755));
  }
}

TEST_F(Faults, UnwritableTmpDirIsEioNamingIt) {
  UnwritableDir dir = make_unwritable(tmp_ / "ro");
  if (!dir.skip.empty()) GTEST_SKIP() << dir.skip;
  write_zip(in_ / "a.zip", {file_entry("x.py", "X = 1\n")});
  const std::string yaml = "python.archives: " + (in_ / "a.zip").string() + "#a\n";
  Manager manager = create(yaml, {dir.path});
  const Outcome failed = outcome_of([&] { manager.open(); });
  print_outcome(failed);
  EXPECT_EQ(failed.status, PYENV_EIO) << failed;
  EXPECT_THAT(failed.message, HasSubstr(dir.path.string()));
  EXPECT_THAT(failed.message, HasSubstr(dir.reason));
  EXPECT_EQ(names_in(dir.path), std::vector<std::string>{});

  make_writable(dir);
  open_and_close(yaml, {dir.path});
  expect_nothing_left(dir.path, test::default_cache_dir(dir.path));
}

TEST_F(Faults, TmpDirUnderARegularFileIsEioNamingIt) {
  write_file(T / "file", "x");
  const fs::path bad = T / "file" / "tmp";
  Manager manager = create("python.files: " + (T / "file").string() + "#f.py\n", {bad});
  const Outcome failed = outcome_of([&] { manager.open(); });
  print_outcome(failed);
  EXPECT_EQ(failed.status, PYENV_EIO) << failed;
  EXPECT_THAT(failed.message, HasSubstr(bad.string()));
  EXPECT_THAT(failed.message, HasSubstr("Not a directory"));
}

// Flink spreads base directories over the tmp dirs and falls back to the others when one
// is unusable. Opens until both orders have been tried (the first pick is random).
void expect_falls_back(Faults &test, const UnwritableDir &dir, const fs::path &good,
                       const std::string &yaml) {
  for (int i = 0; i < 4; ++i) {
    Manager manager = test.create(yaml, {dir.path, good});
    const Outcome opened = outcome_of([&] { manager.open(); });
    ASSERT_TRUE(opened.ok()) << opened;
    EXPECT_EQ(base_dirs_in(good).size(), 1u);
    manager.close();
  }
  EXPECT_EQ(names_in(dir.path), std::vector<std::string>{});
}

TEST_F(Faults, UnwritableFirstTmpDirFallsBackToTheNext) {
  UnwritableDir dir = make_unwritable(tmp_ / "ro");
  if (!dir.skip.empty()) GTEST_SKIP() << dir.skip;
  write_file(in_ / "m.py", "M = 1\n");
  expect_falls_back(*this, dir, T, "python.files: " + (in_ / "m.py").string() + "\n");
}

// The archive cache lives in the first usable tmp dir by default: one disk remounted
// read-only after I/O errors must not stop every job with archives on the machine.
TEST_F(Faults, UnwritableFirstTmpDirFallsBackToTheNextWithArchives) {
  UnwritableDir dir = make_unwritable(tmp_ / "ro");
  if (!dir.skip.empty()) GTEST_SKIP() << dir.skip;
  write_zip(in_ / "a.zip", {file_entry("x.py", "X = 1\n")});
  expect_falls_back(*this, dir, T, "python.archives: " + (in_ / "a.zip").string() + "#a\n");
}

// --- archive deleted or changed during open --------------------------------------------

// Creating a file costs about half a millisecond on the CI machine's disk: big enough for a
// thread to act in the middle of the extraction, small enough to keep each test a few seconds.
constexpr size_t kBigFiles = 1000;
// Reached early in the extraction of many_files(kBigFiles, ...), by tar order and by the
// zip workers alike: 20% in.
constexpr char kEarlyMarker[] = "d005/f00200.txt";

class ArchiveUnderOpen : public Faults {
 protected:
  void SetUp() override {
    Faults::SetUp();
    big_ = in_ / "venv.tar.gz";
    restore_tar();
    yaml_ = "python.archives: " + big_.string() + "#venv\n";
    cache_ = test::default_cache_dir(T);
  }

  // A different archive at the same path, written beside it and renamed over it (as a blob
  // store or a deployment would replace it).
  void replace_archive() {
    const fs::path next = in_ / "next.zip";
    write_zip(next, {file_entry("new.txt", "new bytes")});
    fs::rename(next, big_);
  }

  // After the fault is gone: the open sees the archive's current bytes, none of the old.
  void expect_fresh_open(const std::string &present, const std::string &absent) {
    Manager manager = create(yaml_);
    const Outcome opened = outcome_of([&] { manager.open(); });
    ASSERT_TRUE(opened.ok()) << opened;
    const fs::path venv = base_dirs_in(T).at(0) / "python-archives" / "venv";
    EXPECT_TRUE(fs::exists(venv / present)) << present;
    EXPECT_FALSE(fs::exists(venv / absent)) << "stale tree published: " << absent;
    manager.close();
    expect_nothing_left(T, cache_);
  }

  struct FaultRun {
    Manager manager;
    Outcome outcome;
    bool injected = false;
  };

  // Opens a new manager of yaml_ with `fault` run mid-extraction (through the cache or,
  // with it disabled, into the base directory). On a loaded machine the injector can be
  // scheduled only after the extraction ended: such a run proves nothing, so the scenario
  // is set up again in a fresh tmp dir, `restore` rewriting the archive, up to 5 times.
  FaultRun open_with_fault(bool cached, const std::function<void()> &fault,
                           const std::function<void()> &restore) {
    for (int attempt = 1;; ++attempt) {
      FaultRun run{create(yaml_), {}, false};
      run.outcome = open_with_fault_mid_extraction(run.manager, cached ? cache_ / "staging" : T,
                                                   kEarlyMarker, fault, run.injected);
      if (run.injected || attempt == 5) return run;
      std::printf("[ again    ] attempt %d: the fault came after the extraction ended\n", attempt);
      run.manager.close();
      T = tmp_ / ("tmp-" + std::to_string(attempt + 1));
      cache_ = test::default_cache_dir(T);
      fs::create_directories(T);
      restore();
    }
  }

  // Opens a new manager of yaml_ with `fault` run as soon as the cache hashed the archive,
  // before the extraction reads it.
  Outcome open_with_fault_after_hashing(const std::function<void()> &fault) {
    log_.set_hook([&](const std::string &line) {
      if (line.rfind("archive cache: hashed", 0) == 0) fault();
    });
    Manager manager = create(yaml_);
    const Outcome outcome = outcome_of([&] { manager.open(); });
    log_.set_hook(nullptr);
    return outcome;
  }

  // A failed open left no base directory and put no tree in the cache.
  void expect_nothing_published() {
    expect_nothing_left(T, cache_);
    EXPECT_EQ(names_in(cache_ / "trees"), std::vector<std::string>{});
  }

  void restore_tar() { write_tar(big_, many_files(kBigFiles, 2048)); }

  fs::path big_;
  std::string yaml_;
  fs::path cache_;
};

// Deleted once hashed, before extraction reads it: the configuration names a file that
// is not there, as if it had been missing from the start.
TEST_F(ArchiveUnderOpen, DeletedAfterHashingIsEconfigNamingIt) {
  const Outcome failed = open_with_fault_after_hashing([&] { fs::remove(big_); });
  print_outcome(failed);
  EXPECT_EQ(failed.status, PYENV_ECONFIG) << failed;
  EXPECT_THAT(failed.message, HasSubstr(big_.string()));
  EXPECT_THAT(failed.message, HasSubstr("No such file or directory"));
  expect_nothing_published();

  restore_tar();
  expect_fresh_open("d000/f00000.txt", "new.txt");
}

// Deleted while its entries are being written: the extraction goes on from the open
// descriptor, and the cache then sees the file gone and publishes nothing.
TEST_F(ArchiveUnderOpen, DeletedMidExtractionIsEioAndNothingPublished) {
  const FaultRun run = open_with_fault(
      true, [&] { fs::remove(big_); }, [&] { restore_tar(); });
  const Outcome &failed = run.outcome;
  print_outcome(failed);
  ASSERT_TRUE(run.injected) << "the extraction ended before the archive was deleted; " << failed;
  EXPECT_EQ(failed.status, PYENV_EIO) << failed;
  EXPECT_THAT(failed.message, HasSubstr(big_.string()));
  EXPECT_THAT(failed.message, HasSubstr("changed while being extracted"));
  expect_nothing_published();

  restore_tar();
  expect_fresh_open("d000/f00000.txt", "new.txt");
}

// Replaced once hashed: the key is the old bytes', the extraction would read the new ones.
// Publishing that tree under the old key would serve the wrong files to every later job.
TEST_F(ArchiveUnderOpen, ReplacedAfterHashingIsEioAndNothingStalePublished) {
  const Outcome failed = open_with_fault_after_hashing([&] { replace_archive(); });
  print_outcome(failed);
  EXPECT_EQ(failed.status, PYENV_EIO) << failed;
  EXPECT_THAT(failed.message, HasSubstr(big_.string()));
  EXPECT_THAT(failed.message, HasSubstr("changed while being extracted"));
  expect_nothing_published();

  expect_fresh_open("new.txt", "d000/f00000.txt");
}

TEST_F(ArchiveUnderOpen, ReplacedMidExtractionIsEioAndNothingStalePublished) {
  const FaultRun run = open_with_fault(
      true, [&] { replace_archive(); }, [&] { restore_tar(); });
  const Outcome &failed = run.outcome;
  print_outcome(failed);
  ASSERT_TRUE(run.injected) << "the extraction ended before the archive was replaced; " << failed;
  EXPECT_EQ(failed.status, PYENV_EIO) << failed;
  EXPECT_THAT(failed.message, HasSubstr("changed while being extracted"));
  expect_nothing_published();

  expect_fresh_open("new.txt", "d000/f00000.txt");
}

// Rewritten in place (same inode, truncated and written again, as `cat new > old` does):
// the reader sees a file that ends early or holds other bytes.
TEST_F(ArchiveUnderOpen, RewrittenInPlaceMidExtractionFailsAndNothingStalePublished) {
  const FaultRun run = open_with_fault(
      true,
      [&] {
        write_zip(in_ / "next.zip", {file_entry("new.txt", "new bytes")});
        write_file(big_, read_file(in_ / "next.zip"));
      },
      [&] { restore_tar(); });
  const Outcome &failed = run.outcome;
  print_outcome(failed);
  ASSERT_TRUE(run.injected) << "the extraction ended before the archive was rewritten; " << failed;
  // The tar reader may hit the cut first (a truncated archive) or the cache the change.
  EXPECT_TRUE(failed.status == PYENV_EIO || failed.status == PYENV_EARCHIVE) << failed;
  EXPECT_THAT(failed.message, HasSubstr(big_.string()));
  expect_nothing_published();

  expect_fresh_open("new.txt", "d000/f00000.txt");
}

// Without the cache, extraction reads one descriptor from start to end: a replacement or
// deletion of the path meanwhile does not mix two archives into one tree.
class PrivateArchiveUnderOpen : public ArchiveUnderOpen,
                                public ::testing::WithParamInterface<bool> {};

TEST_P(PrivateArchiveUnderOpen, ReplacedOrDeletedMidExtractionGivesOneWholeArchive) {
  const bool zip = GetParam();
  if (zip) {
    big_ = in_ / "venv.zip";
    write_zip(big_, many_files(kBigFiles, 2048));
  }
  yaml_ = "python.archives: " + big_.string() + "#venv\npyenv.cache.enabled: false\n";
  for (const bool deleted : {false, true}) {
    SCOPED_TRACE(deleted ? "deleted" : "replaced");
    auto restore = [&] {
      if (zip) {
        write_zip(big_, many_files(kBigFiles, 2048));
      } else {
        restore_tar();
      }
    };
    restore();
    FaultRun run = open_with_fault(
        false, [&] { deleted ? (void)fs::remove(big_) : replace_archive(); }, restore);
    Manager &manager = run.manager;
    const Outcome &outcome = run.outcome;
    ASSERT_TRUE(run.injected) << "the extraction ended before the fault; " << outcome;
    ASSERT_TRUE(outcome.ok()) << outcome;
    const fs::path venv = base_dirs_in(T).at(0) / "python-archives" / "venv";
    EXPECT_EQ(count_files(venv), kBigFiles);
    EXPECT_FALSE(fs::exists(venv / "new.txt"));
    manager.close();
    EXPECT_TRUE(base_dirs_in(T).empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, PrivateArchiveUnderOpen, ::testing::Values(false, true),
                         [](const auto &info) { return info.param ? "Zip" : "TarGz"; });

// --- pip that hangs ------------------------------------------------------------------------

TEST_F(Faults, HangingPipIsKilledWithItsChildAtTheTimeout) {
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  const fs::path hang = in_ / "hang";
  const fs::path pids = in_ / "pids";
  write_file(hang, "");
  const fs::path python = write_hanging_python(in_, hang, pids);
  write_wheel(in_ / "wheels", "tinyrel", "1.0", "VALUE = 7\n");
  write_file(in_ / "requirements.txt", "tinyrel==1.0\n");
  const std::string yaml = "python.executable: " + python.string() + "\n" +
                           "python.requirements: " + (in_ / "requirements.txt").string() + "#" +
                           (in_ / "wheels").string() + "\n" +
                           "pyenv.pip.timeout: 1s\npyenv.pip.attempts: 1\n";

  Manager manager = create(yaml);
  const auto start = std::chrono::steady_clock::now();
  const Outcome failed = outcome_of([&] { manager.open(); });
  print_outcome(failed);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(failed.status, PYENV_EPYTHON) << failed;
  EXPECT_THAT(failed.message, HasSubstr("timed out after 1 s"));
  EXPECT_THAT(failed.message, HasSubstr((in_ / "requirements.txt").string()));
  EXPECT_LT(seconds, 20.0) << "open must end soon after pip's timeout";
  const auto hung = read_pids(pids);
  ASSERT_TRUE(hung) << "the stand-in pip never ran\n" << log_.dump();
  EXPECT_TRUE(wait_for([&] { return process_gone(hung->first); }, milliseconds(3000)))
      << "pip " << hung->first << " still runs";
  EXPECT_TRUE(wait_for([&] { return process_gone(hung->second); }, milliseconds(3000)))
      << "pip's child " << hung->second << " still runs";
  ::kill(hung->first, SIGKILL);  // whatever the outcome, nothing outlives the test
  ::kill(hung->second, SIGKILL);
  expect_nothing_left(T, test::default_cache_dir(T));

  // pip no longer hangs: the same job installs (given the time a real pip needs).
  fs::remove(hang);
  const std::string patient = yaml.substr(0, yaml.find("pyenv.pip.timeout"));
  Manager again = create(patient);
  const Outcome ok = outcome_of([&] { again.open(); });
  ASSERT_TRUE(ok.ok()) << ok << "\n" << log_.dump();
  const std::string pythonpath = again.create_environment().getenv("PYTHONPATH").value_or("");
  EXPECT_TRUE(fs::exists(fs::path(pythonpath.substr(0, pythonpath.find(':'))) / "tinyrel"))
      << pythonpath;
  again.close();
  expect_nothing_left(T, test::default_cache_dir(T));
}

// --- the cache on a read-only file system -------------------------------------------------

class ReadOnlyCache : public Faults {
 protected:
  void SetUp() override {
    Faults::SetUp();
    std::string why;
    ro_ = Tmpfs::mount("size=16m", false, why);
    if (!ro_) GTEST_SKIP() << "no tmpfs for the read-only cache: " << why;
    cache_ = ro_->path() / "cache";
    write_zip(in_ / "venv.zip", many_files(20, 100));
    yaml_ = "python.archives: " + (in_ / "venv.zip").string() + "#venv\n" +
            "pyenv.cache.dir: " + cache_.string() + "\n";
  }

  void expect_cache_off_works() {
    Manager manager = create(yaml_ + "pyenv.cache.enabled: false\n");
    const Outcome opened = outcome_of([&] { manager.open(); });
    ASSERT_TRUE(opened.ok()) << opened;
    EXPECT_EQ(count_files(base_dirs_in(T).at(0) / "python-archives" / "venv"), 20u);
    manager.close();
    EXPECT_TRUE(base_dirs_in(T).empty());
  }

  std::unique_ptr<Tmpfs> ro_;
  fs::path cache_;
  std::string yaml_;
};

// A cache dir that does not exist yet, on a read-only file system.
TEST_F(ReadOnlyCache, MissingCacheDirIsEioNamingIt) {
  ASSERT_EQ(ro_->remount("size=16m", true), "");
  Manager manager = create(yaml_);
  const Outcome failed = outcome_of([&] { manager.open(); });
  print_outcome(failed);
  EXPECT_EQ(failed.status, PYENV_EIO) << failed;
  EXPECT_THAT(failed.message, HasSubstr(cache_.string()));
  EXPECT_THAT(failed.message, HasSubstr("Read-only file system"));
  EXPECT_TRUE(base_dirs_in(T).empty());
  expect_cache_off_works();

  ASSERT_EQ(ro_->remount("size=16m", false), "");
  open_and_close(yaml_);
  expect_nothing_left(T, cache_);
}

// A cache that holds the tree already, then made read-only (a full disk remounted, an
// image's layer): even a hit needs its lock file.
TEST_F(ReadOnlyCache, PopulatedCacheMadeReadOnlyIsEioNamingIt) {
  open_and_close(yaml_);
  const std::vector<std::string> trees = names_in(cache_ / "trees");
  ASSERT_EQ(trees.size(), 1u);
  ASSERT_EQ(ro_->remount("size=16m", true), "");

  Manager manager = create(yaml_);
  const Outcome failed = outcome_of([&] { manager.open(); });
  print_outcome(failed);
  EXPECT_EQ(failed.status, PYENV_EIO) << failed;
  EXPECT_THAT(failed.message, HasSubstr(cache_.string()));
  EXPECT_THAT(failed.message, HasSubstr("Read-only file system"));
  EXPECT_TRUE(base_dirs_in(T).empty());
  expect_cache_off_works();

  ASSERT_EQ(ro_->remount("size=16m", false), "");
  EXPECT_EQ(names_in(cache_ / "trees"), trees) << "the cache lost its tree";
  Manager again = create(yaml_);
  ASSERT_TRUE(outcome_of([&] { again.open(); }).ok());
  EXPECT_EQ(log_.count("] hit"), 1u) << log_.dump();
  again.close();
  expect_nothing_left(T, cache_);
}

}  // namespace
}  // namespace pyenv::test::reliability
