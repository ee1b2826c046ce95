// What archive::extract makes of trees packed by the tools users pack with (Info-ZIP's zip,
// GNU tar): every mode and time as stored, also where they differ from what creating the
// entry gives and where the archive comes back to a directory it left; the tree sealed while
// writing; its disk space counted while writing, against a walk of the result.
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "archive/extract.hpp"
#include "error.hpp"
#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

struct Node {
  std::string name;
  char kind;  // 'd', 'f' or 'l'
  mode_t mode;
  time_t mtime;
  std::string data;  // a file's bytes or a link's target
};

// Entries out of tree order on purpose: files before their directories' own entries, and d1
// left for d2 and then come back to.
const std::vector<Node> kTree = {
    {"d1/f1", 'f', 0600, 1000000001, "private"},
    {"d2/exe", 'f', 0755, 1000000003, "#!/bin/sh\n"},
    {"d1/sub/x", 'f', 0444, 1000000005, "read only"},
    {"d1/f2", 'f', 0664, 1000000007, std::string(10000, 'g')},
    {"d1/sub", 'd', 0555, 1000000009, ""},
    {"d1", 'd', 0750, 1000000011, ""},
    {"d2", 'd', 0700, 1000000013, ""},
    {"link", 'l', 0777, 1000000015, "d1/f1"},
};

void run(const std::string &command) { ASSERT_EQ(std::system(command.c_str()), 0) << command; }

struct stat lstat_of(const fs::path &path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

class ArchiveTree : public ::testing::Test {
 protected:
  void SetUp() override {
    old_umask_ = ::umask(022);
    const fs::path src = dir_ / "src";
    // Everything made first; then modes (directories' after their contents), then times.
    for (const Node &n : kTree) {
      if (n.kind == 'd') fs::create_directories(src / n.name);
      if (n.kind == 'f') {
        fs::create_directories((src / n.name).parent_path());
        write_file(src / n.name, n.data, n.mode);
      }
      if (n.kind == 'l') fs::create_symlink(n.data, src / n.name);
    }
    for (const Node &n : kTree) {
      if (n.kind == 'f') run("chmod " + octal(n.mode) + " '" + (src / n.name).string() + "'");
    }
    for (const char *dir : {"d1/sub", "d1", "d2"}) {
      for (const Node &n : kTree) {
        if (n.name == dir) run("chmod " + octal(n.mode) + " '" + (src / n.name).string() + "'");
      }
    }
    for (const Node &n : kTree) {
      run("touch -h -d @" + std::to_string(n.mtime) + " '" + (src / n.name).string() + "'");
    }
    std::string list;
    for (const Node &n : kTree) list += n.name + (n.kind == 'd' ? "/" : "") + "\n";
    write_file(dir_ / "list", list);
    zip_ = dir_ / "tree.zip";
    tgz_ = dir_ / "tree.tgz";
    run("cd '" + src.string() + "' && zip -qy -@ '" + zip_.string() + "' < '" +
        (dir_ / "list").string() + "'");
    run("tar --no-recursion -C '" + src.string() + "' -czf '" + tgz_.string() + "' -T '" +
        (dir_ / "list").string() + "'");
  }
  void TearDown() override { ::umask(old_umask_); }

  static std::string octal(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%o", static_cast<unsigned>(mode));
    return text;
  }

  fs::path extract(const fs::path &archive, archive::Limits limits,
                   archive::Stats *stats = nullptr) {
    const fs::path out = dir_ / ("out" + std::to_string(++n_));
    archive::Stats s = archive::extract(archive, out, limits, Logger());
    if (stats) *stats = s;
    return out;
  }

  TempDir dir_;
  fs::path zip_, tgz_;
  mode_t old_umask_ = 022;
  int n_ = 0;
};

TEST_F(ArchiveTree, ModesAndTimesAsStoredWhateverCreationGives) {
  for (const fs::path &archive : {zip_, tgz_}) {
    const fs::path out = extract(archive, archive::Limits{});
    for (const Node &n : kTree) {
      const struct stat st = lstat_of(out / n.name);
      if (n.kind != 'l') {
        EXPECT_EQ(st.st_mode & 07777, n.mode) << archive << ": " << n.name;
      }
      EXPECT_EQ(st.st_mtime, n.mtime) << archive << ": " << n.name;
    }
    EXPECT_EQ(fs::read_symlink(out / "link"), "d1/f1");
    EXPECT_EQ(read_file(out / "d1" / "f2"), std::string(10000, 'g'));
    run("chmod -R u+w '" + out.string() + "'");
  }
}

TEST_F(ArchiveTree, SealedWhileWriting) {
  archive::Limits limits;
  limits.seal = true;
  for (const fs::path &archive : {zip_, tgz_}) {
    const fs::path out = extract(archive, limits);
    EXPECT_EQ(mode_of(out) & 0700, 0700u) << "the root stays writable, for the cache to rename";
    for (const Node &n : kTree) {
      const struct stat st = lstat_of(out / n.name);
      if (n.kind == 'd') {
        EXPECT_EQ(st.st_mode & 07777, n.mode & 0555) << archive << ": " << n.name;
      } else if (n.kind == 'f') {
        EXPECT_EQ(st.st_mode & 07777, n.mode & ~022u) << archive << ": " << n.name;
      }
      EXPECT_EQ(st.st_mtime, n.mtime) << archive << ": " << n.name;
    }
    run("chmod -R u+w '" + out.string() + "'");
  }
}

// Space on disk as a walk of the finished tree counts it: allocated blocks, hard links once.
uint64_t walked_bytes(const fs::path &root) {
  std::set<std::pair<dev_t, ino_t>> seen;
  uint64_t bytes = 0;
  auto add = [&](const fs::path &p) {
    const struct stat st = lstat_of(p);
    if (seen.insert({st.st_dev, st.st_ino}).second)
      bytes += static_cast<uint64_t>(st.st_blocks) * 512;
  };
  add(root);
  for (const auto &entry : fs::recursive_directory_iterator(root)) add(entry.path());
  return bytes;
}

TEST_F(ArchiveTree, DiskBytesCountedWhileWritingMatchAWalk) {
  std::vector<Entry> entries;
  // Directories of one block and of several, files from empty to many blocks, a hard link.
  for (int i = 0; i < 400; ++i) {
    entries.push_back(file_entry("many/a-rather-long-file-name-" + std::to_string(i) + ".py",
                                 std::string(static_cast<size_t>(i) * 97, 'x')));
  }
  entries.push_back(file_entry("empty", ""));
  entries.push_back(file_entry("big.so", std::string(5u << 20, 'b')));
  entries.push_back(dir_entry("nested/deeper/still"));
  entries.push_back(link_entry("short", "empty"));
  entries.push_back(Entry{"again", "", S_IFREG | 0644, "big.so"});
  const fs::path tgz = dir_ / "sized.tgz";
  write_tar(tgz, entries);
  std::vector<Entry> zip_entries(entries.begin(), entries.end() - 1);  // no hard links in zip
  const fs::path zip = dir_ / "sized.zip";
  write_zip(zip, zip_entries);
  for (const fs::path &archive : {zip, tgz}) {
    for (bool seal : {false, true}) {
      archive::Limits limits;
      limits.seal = seal;
      archive::Stats stats;
      const fs::path out = extract(archive, limits, &stats);
      EXPECT_EQ(stats.disk_bytes, walked_bytes(out)) << archive << (seal ? ", sealed" : "");
      EXPECT_GT(stats.disk_bytes, stats.bytes);
      run("chmod -R u+w '" + out.string() + "'");
    }
  }
}

// Also the tar.gz, whose inflating runs on a thread of its own (under tsan: AcrossWorkers).
TEST_F(ArchiveTree, EveryDistributionAcrossWorkersMakesTheSameTree) {
  std::vector<Entry> entries;
  for (int i = 0; i < 500; ++i) {
    entries.push_back(file_entry(
        "d" + std::to_string(i % 11) + "/s" + std::to_string(i % 3) + "/f" + std::to_string(i),
        std::string(static_cast<size_t>(i) * 131, char('a' + i % 26)), i % 2 ? 0644 : 0755));
  }
  entries.push_back(file_entry("big", std::string(6u << 20, 'b')));  // streamed, not whole
  const fs::path zip = dir_ / "workers.zip";
  write_zip(zip, entries);
  const fs::path tgz = dir_ / "workers.tgz";
  write_tar(tgz, entries);
  const std::pair<fs::path, archive::Distribution> runs[] = {
      {zip, archive::Distribution::kPipeline},
      {zip, archive::Distribution::kEntries},
      {zip, archive::Distribution::kDirectories},
      {tgz, archive::Distribution::kPipeline}};
  for (const auto &[archive, d] : runs) {
    archive::Limits limits;
    limits.threads = 3;
    limits.distribution = d;
    limits.seal = true;
    const fs::path out = extract(archive, limits);
    for (const Entry &e : entries) {
      ASSERT_EQ(read_file(out / e.name), e.data) << e.name;
      EXPECT_EQ(mode_of(out / e.name), e.mode & 0777) << e.name;
    }
    EXPECT_EQ(mode_of(out / "d3" / "s1") & 0222, 0u);
    run("chmod -R u+w '" + out.string() + "'");
  }
}

}  // namespace
}  // namespace pyenv::test
