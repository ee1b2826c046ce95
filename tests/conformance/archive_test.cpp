// CONFORMANCE.md, "Archive extraction": A1-A7, through python.archives.
#include <unistd.h>

#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

using pyenv::host::Error;

class ArchiveExtraction : public ConformanceTest {
 protected:
  // Opens a manager with archive `path#target` and returns the extracted tree's root.
  fs::path extract(const fs::path &path, const std::string &target = "out",
                   const std::string &extra_yaml = "") {
    manager_.emplace(create("python.archives: " + path.string() + "#" + target + "\n" +
                            extra_yaml));
    manager_->open();
    return base_dir() / "python-archives" / target;
  }

  // Opens a manager that must fail with PYENV_EARCHIVE; returns the message. Checks that T
  // holds nothing new afterwards.
  std::string refused(const fs::path &path, const std::string &extra_yaml = "") {
    const auto before = job_files();
    auto manager = create("python.archives: " + path.string() + "#out\n" + extra_yaml);
    std::string message;
    try {
      manager.open();
      ADD_FAILURE() << "open of " << path << " must fail";
    } catch (const Error &e) {
      EXPECT_EQ(e.status(), PYENV_EARCHIVE) << e.what();
      message = e.what();
    }
    EXPECT_EQ(job_files(), before) << "a failed open left something behind";
    return message;
  }

  std::optional<pyenv::host::Manager> manager_;
};

std::string link_text(const fs::path &p) { return fs::read_symlink(p).string(); }

TEST_F(ArchiveExtraction, A1_SymlinkKeepsItsText) {
  write_zip(T / "a1", {file_entry("zipFile1", "one"), file_entry("zipFile2", "two"),
                       Entry{"softlink", "zipFile1", S_IFLNK | 0644, ""}});
  fs::path root = extract(T / "a1");
  ASSERT_TRUE(fs::is_symlink(root / "softlink"));
  EXPECT_EQ(link_text(root / "softlink"), "zipFile1");
  EXPECT_EQ(read_file(root / "softlink"), "one");
  EXPECT_EQ(mode_of(root / "zipFile2"), 0644u);
}

TEST_F(ArchiveExtraction, A2_DanglingLink) {
  write_zip(T / "a2", {link_entry("softlink", "targetFile")});
  fs::path root = extract(T / "a2");
  ASSERT_TRUE(fs::is_symlink(root / "softlink"));
  EXPECT_EQ(link_text(root / "softlink"), "targetFile");
  EXPECT_FALSE(fs::exists(root / "softlink"));
}

TEST_F(ArchiveExtraction, A3_EscapeRefused) {
  write_zip(T / "a3", {file_entry("../zipFile", "x")});
  std::string message = refused(T / "a3");
  EXPECT_NE(message.find("would create a file outside of"), std::string::npos) << message;
  EXPECT_NE(message.find("../zipFile"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(T / "zipFile"));
}

TEST_F(ArchiveExtraction, A4_Mode) {
  write_zip(T / "a4", {file_entry("f", "x", 0355)});
  EXPECT_EQ(mode_of(extract(T / "a4") / "f"), 0355u);
}

TEST_F(ArchiveExtraction, A5_AbsoluteLinkKept) {
  write_zip(T / "a5", {file_entry("lib/x", "x"), link_entry("bin/python", "/usr/bin/python3"),
                       link_entry("bin/python3", "python")});
  fs::path root = extract(T / "a5");
  EXPECT_EQ(link_text(root / "bin/python"), "/usr/bin/python3");
  EXPECT_EQ(link_text(root / "bin/python3"), "python");
  EXPECT_EQ(fs::canonical(root / "bin/python3"), fs::canonical("/usr/bin/python3"));
}

TEST_F(ArchiveExtraction, A6_WriteThroughLinkRefused) {
  TempDir outside;
  write_zip(T / "a6", {link_entry("a", outside.path().string()), file_entry("a/evil", "x")});
  std::string message = refused(T / "a6");
  EXPECT_NE(message.find("a/evil"), std::string::npos) << message;
  EXPECT_TRUE(list_tree(outside.path()).empty());
}

TEST_F(ArchiveExtraction, A6_WriteThroughLinkRefusedInTar) {
  TempDir outside;
  write_tar(T / "a6tar", {link_entry("a", outside.path().string()), file_entry("a/evil", "x")});
  std::string message = refused(T / "a6tar");
  EXPECT_NE(message.find("a/evil"), std::string::npos) << message;
  EXPECT_TRUE(list_tree(outside.path()).empty());
}

TEST_F(ArchiveExtraction, A7_SuffixlessTarGz) {
  write_tar(T / "blob_123", {dir_entry("bin"), file_entry("bin/python", "#!", 0755),
                             link_entry("bin/python3", "python")});
  fs::path root = extract(T / "blob_123", "venv");
  EXPECT_EQ(read_file(root / "bin/python"), "#!");
  EXPECT_EQ(mode_of(root / "bin/python"), 0755u);
  EXPECT_EQ(link_text(root / "bin/python3"), "python");
}

}  // namespace
}  // namespace pyenv::test

namespace pyenv::test {
namespace {

class ArchiveCacheThroughAbi : public ConformanceTest {};

// DESIGN.md 5.3: two jobs with the same archive share one extracted tree, by link.
TEST_F(ArchiveCacheThroughAbi, JobsShareOneTree) {
  write_zip(T / "venv.zip", {file_entry("bin/python", "#!", 0755)});
  auto a = create("python.archives: " + (T / "venv.zip").string() + "#venv\n");
  auto b = create("python.archives: " + (T / "venv.zip").string() + "#env\n");
  a.open();
  b.open();
  const fs::path wa = *a.create_environment().working_directory();
  const fs::path wb = *b.create_environment().working_directory();
  ASSERT_NE(wa, wb);
  ASSERT_TRUE(fs::is_symlink(wa / "venv"));
  EXPECT_EQ(fs::read_symlink(wa / "venv"), fs::read_symlink(wb / "env"));
  const fs::path tree = fs::read_symlink(wa / "venv");
  EXPECT_EQ(tree.parent_path(), test::default_cache_dir(T) / "trees");
  a.close();
  b.close();
  EXPECT_TRUE(base_dirs().empty());
  EXPECT_EQ(read_file(tree / "bin" / "python"), "#!") << "the cached tree outlives the jobs";
}

TEST_F(ArchiveCacheThroughAbi, DisabledExtractsPrivately) {
  write_zip(T / "venv.zip", {file_entry("bin/python", "#!", 0755)});
  auto m = create("python.archives: " + (T / "venv.zip").string() +
                  "#venv\npyenv.cache.enabled: false\n");
  m.open();
  const fs::path w = *m.create_environment().working_directory();
  EXPECT_FALSE(fs::is_symlink(w / "venv"));
  EXPECT_EQ(mode_of(w / "venv" / "bin" / "python"), 0755u);
  EXPECT_FALSE(fs::exists(test::default_cache_dir(T)));
}

TEST_F(ArchiveCacheThroughAbi, CacheDirFromConfiguration) {
  TempDir cache;
  write_zip(T / "venv.zip", {file_entry("bin/python", "#!", 0755)});
  auto m = create("python.archives: " + (T / "venv.zip").string() + "#venv\npyenv.cache.dir: " +
                  (cache / "c").string() + "\n");
  m.open();
  const fs::path w = *m.create_environment().working_directory();
  EXPECT_EQ(fs::read_symlink(w / "venv").parent_path(), cache / "c" / "trees");
  EXPECT_FALSE(fs::exists(test::default_cache_dir(T)));
}

}  // namespace
}  // namespace pyenv::test
