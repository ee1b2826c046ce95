#include "util/fs.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "support/fixture.hpp"

namespace pyenv {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::write_file;

TEST(RemoveTree, RemovesReadOnlyTreesAndNeverFollowsLinks) {
  TempDir outside;
  write_file(outside / "keep", "precious");
  TempDir dir;
  fs::path root = dir / "root";
  write_file(root / "a" / "b" / "f", "x", 0444);
  fs::create_symlink(outside.path(), root / "link-to-outside");
  fs::create_symlink(outside / "keep", root / "a" / "file-link");
  ::chmod((root / "a" / "b").c_str(), 0555);
  ::chmod((root / "a").c_str(), 0);

  EXPECT_TRUE(fsx::remove_tree(root).empty());
  EXPECT_FALSE(fs::exists(fs::symlink_status(root)));
  EXPECT_EQ(test::read_file(outside / "keep"), "precious");
}

TEST(RemoveTree, MissingPathIsFine) {
  TempDir dir;
  EXPECT_TRUE(fsx::remove_tree(dir / "nothing").empty());
}

TEST(RemoveTree, ReportsWhatItCannotRemove) {
  // /proc entries cannot be removed, even by root.
  std::vector<std::string> failures = fsx::remove_tree("/proc/self/status");
  ASSERT_FALSE(failures.empty());
  EXPECT_NE(failures[0].find("/proc/self/status"), std::string::npos) << failures[0];
}

TEST(ConfinedRelative, StaysInside) {
  EXPECT_EQ(fsx::confined_relative("a/./b//c"), fs::path("a/b/c"));
  EXPECT_EQ(fsx::confined_relative("a/../b"), fs::path("b"));
  EXPECT_EQ(fsx::confined_relative("./"), fs::path());
  EXPECT_FALSE(fsx::confined_relative("../x"));
  EXPECT_FALSE(fsx::confined_relative("a/../../x"));
  EXPECT_FALSE(fsx::confined_relative("/etc/passwd"));
}

TEST(RandomUuid, IsVersionFour) {
  std::string id = fsx::random_uuid();
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '4');
  EXPECT_NE(id, fsx::random_uuid());
}

}  // namespace
}  // namespace pyenv
