// The cache's trust boundary (DESIGN.md 5.4), attacked for real: a second local account
// (nobody) plants files from a child process that has dropped to its uid, and jobs run
// through the built plugin, loaded with dlopen, must never read a planted byte nor change
// anything outside the cache. Root is needed to become another user: without it every test
// skips and says so (CI runs as root).
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "cache/sha256.hpp"
#include "support/fixture.hpp"
#include "util/unique_fd.hpp"

namespace pyenv::test {
namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// Runs `fn` in a child process as nobody; returns its exit status (0: fn returned true).
int as_nobody(const std::function<bool()> &fn) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::umask(022);
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNogroup) != 0 || ::setuid(kNobody) != 0) {
      ::_exit(90);
    }
    bool ok = false;
    try {
      ok = fn();
    } catch (...) {
    }
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Creates `path` and its missing parents as the calling user, with `mode`.
bool make_dirs(const fs::path &path, mode_t mode = 0755) {
  std::error_code ec;
  fs::create_directories(path, ec);
  return !ec && ::chmod(path.c_str(), mode) == 0;
}

bool plant_file(const fs::path &path, const std::string &bytes) {
  if (!make_dirs(path.parent_path())) return false;
  write_file(path, bytes);
  return true;
}

struct Owner {
  uid_t uid;
  mode_t mode;
  nlink_t links;
  std::string bytes;
  bool operator==(const Owner &o) const {
    return uid == o.uid && mode == o.mode && links == o.links && bytes == o.bytes;
  }
};

Owner state_of(const fs::path &file) {
  struct stat st {};
  EXPECT_EQ(::lstat(file.c_str(), &st), 0) << file;
  return Owner{st.st_uid, st.st_mode & 07777, st.st_nlink, read_file(file)};
}

class LogLines {
 public:
  std::function<void(int, const char *)> sink() {
    return [this](int level, const char *message) {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.push_back(std::to_string(level) + " " + message);
    };
  }
  // The warnings holding every one of `parts`.
  std::vector<std::string> warnings(const std::vector<std::string> &parts) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const std::string &line : lines_) {
      if (line.rfind("2 ", 0) != 0) continue;
      bool all = true;
      for (const std::string &part : parts) all = all && line.find(part) != std::string::npos;
      if (all) out.push_back(line);
    }
    return out;
  }
  std::string dump() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out;
    for (const std::string &line : lines_) out += line + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

class TrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root, to plant files as a second account (nobody) from a child "
                      "process that drops to its uid";
    }
    // T is searchable by nobody; `shared` is a second /tmp: world-writable and sticky.
    ASSERT_EQ(::chmod(T.c_str(), 0711), 0);
    shared_ = T / "shared";
    ASSERT_TRUE(make_dirs(shared_, 01777));
    ASSERT_TRUE(make_dirs(T / "job"));
    archive_ = T / "job" / "venv.zip";
    write_zip(archive_, {dir_entry("pkg"), file_entry("pkg/mod.py", "REAL\n"),
                         file_entry("pkg/loose.py", "REAL\n", 0666)});
    UniqueFd fd(::open(archive_.c_str(), O_RDONLY | O_CLOEXEC));
    key_ = cache::sha256_fd(fd.get(), archive_.string());
    // Nobody's own directory, with a file the attacks try to make us change.
    outside_ = T / "outside";
    ASSERT_TRUE(make_dirs(outside_));
    ASSERT_EQ(::chown(outside_.c_str(), kNobody, kNogroup), 0);
    ASSERT_EQ(as_nobody([&] { return plant_file(outside_ / "victim.txt", "VICTIM\n"); }), 0);
    victim_ = state_of(outside_ / "victim.txt");
    cache_ = default_cache_dir(shared_);
  }

  std::string yaml(const std::string &extra = "") const {
    return "python:\n  executable: /usr/bin/python3\n  archives: " + archive_.string() + "#venv\n" +
           extra;
  }

  // Opens a job on tmp dir `shared`, returning the manager (open).
  pyenv::host::Manager open_job(LogLines &log, const std::string &extra = "") {
    pyenv::host::Options options;
    options.job_id = "trust-" + std::to_string(++jobs_);
    options.tmp_dirs = {shared_.string()};
    options.config_yaml = yaml(extra);
    options.log = log.sink();
    pyenv::host::Manager manager = plugin().create(options);
    manager.open();
    return manager;
  }

  // What the job sees of its archive, and whether it is the cache's tree or a private one.
  void expect_real_tree(pyenv::host::Manager &manager, bool cached) {
    const auto env = manager.create_environment();
    const fs::path venv = fs::path(*env.working_directory()) / "venv";
    EXPECT_EQ(read_file(venv / "pkg" / "mod.py"), "REAL\n");
    EXPECT_EQ(list_tree(venv), (std::set<std::string>{"pkg", "pkg/loose.py", "pkg/mod.py"}));
    EXPECT_EQ(fs::is_symlink(venv), cached) << venv;
    if (cached) {
      EXPECT_EQ(fs::read_symlink(venv), cache_ / "trees" / key_);
    }
  }

  // The message of an open with `pyenv.cache.dir: dir`, which must fail with PYENV_EIO.
  std::string open_error_with_cache_dir(const fs::path &dir) {
    LogLines log;
    try {
      open_job(log, "pyenv.cache.dir: " + dir.string() + "\n");
    } catch (const pyenv::host::Error &e) {
      EXPECT_EQ(e.status(), PYENV_EIO);
      return e.what();
    }
    ADD_FAILURE() << "open with pyenv.cache.dir " << dir << " succeeded";
    return "";
  }

  void expect_victim_untouched() {
    EXPECT_TRUE(state_of(outside_ / "victim.txt") == victim_) << "nobody's file was changed";
  }

  TempDir tmp_;
  fs::path T = tmp_.path();
  fs::path shared_, archive_, outside_, cache_;
  std::string key_;
  Owner victim_{};
  int jobs_ = 0;
};

TEST_F(TrustTest, DefaultCacheIsPerUserAndPrivate) {
  LogLines log;
  auto job = open_job(log);
  expect_real_tree(job, /*cached=*/true);
  EXPECT_EQ(cache_.filename(), "pyenv-cache-0");
  EXPECT_EQ(mode_of(cache_), 0700u);
  // Files of a cached tree are writable by their owner at most: another user cannot change
  // what every job runs.
  EXPECT_EQ(mode_of(cache_ / "trees" / key_ / "pkg" / "loose.py"), 0644u);
  EXPECT_EQ(mode_of(job.create_environment().getenv("BOOT_LOG_DIR").value()), 0700u);
}

TEST_F(TrustTest, TreePlantedInThePredictableCacheIsNeverUsed) {
  ASSERT_EQ(as_nobody([&] {
              return plant_file(cache_ / "trees" / key_ / "pkg" / "mod.py", "PLANTED\n");
            }),
            0);
  LogLines log;
  auto job = open_job(log);
  expect_real_tree(job, /*cached=*/false);
  EXPECT_EQ(
      log.warnings({cache_.string(), "uid 65534 (nobody)", "mode 0755", "extracted privately"})
          .size(),
      1u)
      << log.dump();
  EXPECT_EQ(read_file(cache_ / "trees" / key_ / "pkg" / "mod.py"), "PLANTED\n");
}

TEST_F(TrustTest, CacheDirPlantedAsALinkIsNeverFollowed) {
  const fs::path theirs = outside_ / "cache";
  ASSERT_EQ(as_nobody([&] {
              return plant_file(theirs / "trees" / key_ / "pkg" / "mod.py", "PLANTED\n") &&
                     ::symlink(theirs.c_str(), cache_.c_str()) == 0;
            }),
            0);
  const std::set<std::string> before = list_tree(theirs);
  LogLines log;
  auto job = open_job(log);
  expect_real_tree(job, /*cached=*/false);
  EXPECT_EQ(log.warnings({cache_.string(), "symbolic link", "uid 65534"}).size(), 1u) << log.dump();
  EXPECT_EQ(list_tree(theirs), before);
  EXPECT_TRUE(fs::is_symlink(cache_));
}

TEST_F(TrustTest, WorldWritableCacheDirIsNeverExtractedInto) {
  ASSERT_EQ(as_nobody([&] { return make_dirs(cache_, 0777); }), 0);
  LogLines log;
  auto job = open_job(log);
  expect_real_tree(job, /*cached=*/false);
  EXPECT_EQ(log.warnings({cache_.string(), "uid 65534", "mode 0777"}).size(), 1u) << log.dump();
  EXPECT_TRUE(fs::is_empty(cache_)) << "the job wrote into a directory anyone can change";
}

TEST_F(TrustTest, GroupWritableCacheDirOfOurOwnIsNotUsedEither) {
  ASSERT_TRUE(make_dirs(cache_, 0770));
  LogLines log;
  auto job = open_job(log);
  expect_real_tree(job, /*cached=*/false);
  EXPECT_EQ(log.warnings({cache_.string(), "mode 0770", "writable by group"}).size(), 1u)
      << log.dump();
}

TEST_F(TrustTest, TreeReplacedByALinkAfterPublicationIsDiscarded) {
  LogLines first;
  open_job(first).close();
  const fs::path tree = cache_ / "trees" / key_;
  ASSERT_TRUE(fs::is_directory(tree));
  const fs::path theirs = outside_ / "evil";
  ASSERT_EQ(as_nobody([&] { return plant_file(theirs / "pkg" / "mod.py", "PLANTED\n"); }), 0);
  // A tampering tool with our rights swaps the published tree for a link to theirs.
  ASSERT_EQ(::chmod(tree.c_str(), 0755), 0);
  fs::rename(tree, cache_ / "old-tree");
  ASSERT_EQ(::symlink(theirs.c_str(), tree.c_str()), 0);

  LogLines log;
  auto job = open_job(log);
  expect_real_tree(job, /*cached=*/true);
  EXPECT_EQ(log.warnings({tree.string(), "symbolic link", "discarded"}).size(), 1u) << log.dump();
  EXPECT_EQ(read_file(theirs / "pkg" / "mod.py"), "PLANTED\n");
}

TEST_F(TrustTest, MemoRecordPointingAtAPlantedKeyIsIgnored) {
  // A memo is written only for a file left alone for a while (archive_cache.hpp).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  LogLines first;
  open_job(first).close();
  const std::vector<fs::path> memos = [&] {
    std::vector<fs::path> out;
    for (const auto &entry : fs::directory_iterator(cache_ / "memo")) out.push_back(entry.path());
    return out;
  }();
  ASSERT_EQ(memos.size(), 1u);
  const std::string planted_key(64, 'e');
  // A tree of nobody's under a key of its choosing, and a memo of nobody's naming that key
  // for our archive (planted with root's help: nobody cannot write below our cache).
  const fs::path planted = cache_ / "trees" / planted_key;
  write_file(planted / "pkg" / "mod.py", "PLANTED\n");
  for (const fs::path &p : {planted, planted / "pkg", planted / "pkg" / "mod.py"}) {
    ASSERT_EQ(::chown(p.c_str(), kNobody, kNogroup), 0);
  }
  write_file(memos[0], planted_key + "\n", 0644);
  ASSERT_EQ(::chown(memos[0].c_str(), kNobody, kNogroup), 0);

  LogLines log;
  auto job = open_job(log);
  expect_real_tree(job, /*cached=*/true);
  EXPECT_EQ(log.warnings({memos[0].string(), "uid 65534", "ignored"}).size(), 1u) << log.dump();
}

TEST_F(TrustTest, CacheRootReplacedBetweenTwoOpensIsNotUsed) {
  LogLines first;
  open_job(first).close();
  // The cache goes (a tmp cleaner, an operator), and nobody takes its name.
  fs::rename(cache_, T / "old-cache");
  ASSERT_EQ(as_nobody([&] {
              return plant_file(cache_ / "trees" / key_ / "pkg" / "mod.py", "PLANTED\n") &&
                     ::chmod(cache_.c_str(), 0700) == 0;
            }),
            0);
  LogLines log;
  auto job = open_job(log);
  expect_real_tree(job, /*cached=*/false);
  EXPECT_EQ(log.warnings({cache_.string(), "uid 65534", "mode 0700"}).size(), 1u) << log.dump();
}

TEST_F(TrustTest, HardLinksPlantedInStagingAndLocksChangeNothingOutside) {
  LogLines first;
  open_job(first).close();
  // Hard links to files outside, where a sweep removes and an open writes: nobody's file in
  // a stale staging directory, and a file of our own (so that only the link count gives it
  // away) as the key's lock file, whose content an extraction rewrites.
  const fs::path stale = cache_ / "staging" / (key_ + ".0000-planted");
  ASSERT_TRUE(make_dirs(stale, 0700));
  ASSERT_EQ(::link((outside_ / "victim.txt").c_str(), (stale / "victim.txt").c_str()), 0);
  const fs::path ours = T / "ours.txt";
  write_file(ours, "OURS\n", 0600);
  const Owner ours_before = state_of(ours);
  const fs::path lock = cache_ / "locks" / (key_ + ".lock");
  ASSERT_EQ(::unlink(lock.c_str()), 0);
  ASSERT_EQ(::link(ours.c_str(), lock.c_str()), 0);
  // Without its tree the key is extracted again, which writes the lock file.
  fs::path tree = cache_ / "trees" / key_;
  ASSERT_EQ(::chmod(tree.c_str(), 0700), 0);
  fs::remove_all(tree);

  LogLines log;
  auto job = open_job(log);
  expect_real_tree(job, /*cached=*/true);
  EXPECT_FALSE(fs::exists(stale)) << "stale staging left";
  EXPECT_EQ(log.warnings({lock.string(), "2 names", "replacing it"}).size(), 1u) << log.dump();
  job.close();
  expect_victim_untouched();
  EXPECT_TRUE(state_of(ours) == ours_before) << "our file outside the cache was rewritten";
}

TEST_F(TrustTest, ConfiguredCacheDirThatIsGroupWritableIsAnIoError) {
  const fs::path dir = T / "team-cache";
  ASSERT_TRUE(make_dirs(dir, 0775));
  const std::string message = open_error_with_cache_dir(dir);
  for (const std::string &part :
       {std::string("pyenv.cache.dir"), dir.string(), std::string("mode 0775"),
        std::string("writable by group"), std::string("chmod go-w")}) {
    EXPECT_NE(message.find(part), std::string::npos) << part << " not in: " << message;
  }
  EXPECT_TRUE(fs::is_empty(dir));
  EXPECT_TRUE(base_dirs_in(shared_).empty()) << "a failed open leaves nothing";
}

TEST_F(TrustTest, ConfiguredCacheDirBelowAnotherUsersDirectoryIsAnIoError) {
  const std::string message = open_error_with_cache_dir(outside_ / "cache");
  EXPECT_NE(message.find(outside_.string() + " is owned by uid 65534 (nobody)"), std::string::npos)
      << message;
}

TEST_F(TrustTest, SweepLeavesAnotherUsersBaseDirectoriesAlone) {
  const fs::path theirs = shared_ / "python-dist-00000000-0000-4000-8000-000000000000";
  ASSERT_EQ(as_nobody([&] {
              return plant_file(theirs / ".pyenv-owner.lock", "") &&
                     plant_file(theirs / "work.txt", "THEIRS\n");
            }),
            0);
  LogLines log;
  open_job(log).close();
  EXPECT_EQ(read_file(theirs / "work.txt"), "THEIRS\n");
}

TEST_F(TrustTest, SweepNeverFollowsALink) {
  // Ours, dead (its lock file is not held), but reached through a link in the tmp dir.
  const fs::path target = T / "not-a-tmp-dir";
  ASSERT_TRUE(make_dirs(target, 0700));
  write_file(target / ".pyenv-owner.lock", "");
  write_file(target / "keep.txt", "KEEP\n");
  const fs::path link = shared_ / "python-dist-11111111-1111-4111-8111-111111111111";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  LogLines log;
  open_job(log).close();
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(read_file(target / "keep.txt"), "KEEP\n");
}

}  // namespace
}  // namespace pyenv::test
