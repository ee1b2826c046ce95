// Zips as the tools users pack environments with write them, extracted through the plugin:
// Info-ZIP's zip, Python's zipfile (seekable, and streamed to a pipe, which writes data
// descriptors), the JDK's jar, libarchive's bsdtar, and a ZIP64 archive of more entries
// than a plain zip can count. libpyenv reads zips with a reader of its own
// (src/archive/zip_reader.cpp), so each of these dialects is checked against the tree it
// was made from.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

// A directory on tmpfs when there is one (the ZIP64 case creates 66,000 files), else /tmp.
fs::path scratch_base() {
  std::error_code ec;
  return fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

class ZipInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (scratch_base() / "pyenv-zip-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    T = pattern;
    src_ = T / "src";
    std::string text, blob;
    for (int i = 0; i < 400; ++i) text += "line " + std::to_string(i) + " of a module\n";
    for (unsigned i = 0; i < 300000; ++i) blob += static_cast<char>((i * 2654435761u) >> 24);
    write_file(src_ / "pkg" / "__init__.py", "");
    write_file(src_ / "pkg" / "mod.py", text);
    write_file(src_ / "bin" / "run", "#!/bin/sh\necho run\n", 0755);
    write_file(src_ / "data" / "blob.bin", blob);
    fs::create_directories(src_ / "empty");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(T, ec);
  }

  // Runs `command` in the source tree; fails the test when it exits non-zero.
  void pack(const std::string &command) {
    const std::string full = "cd " + src_.string() + " && " + command + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(full.c_str()), 0) << full;
  }

  // The tree the plugin extracted from `archive` (the job stays open while it is read).
  fs::path extract(const fs::path &archive) {
    pyenv::host::Options options;
    options.job_id = "zip-interop-" + std::to_string(++jobs_);
    options.tmp_dirs = {(T / "tmp").string()};
    fs::create_directories(T / "tmp");
    options.config_yaml = "python.archives: " + archive.string() + "#t\n";
    jobs_open_.push_back(plugin().create(options));
    jobs_open_.back().open();
    return fs::path(*jobs_open_.back().create_environment().working_directory()) / "t";
  }

  // The source tree's files, as read back from `tree`: same names, same bytes.
  void expect_same_files(const fs::path &tree, bool with_empty_dir = true) {
    std::set<std::string> expected = {"bin", "bin/run",         "data",      "data/blob.bin",
                                      "pkg", "pkg/__init__.py", "pkg/mod.py"};
    if (with_empty_dir) expected.insert("empty");
    std::set<std::string> got = list_tree(tree);
    got.erase("META-INF");
    got.erase("META-INF/MANIFEST.MF");
    EXPECT_EQ(got, expected);
    for (const char *file : {"pkg/__init__.py", "pkg/mod.py", "bin/run", "data/blob.bin"}) {
      EXPECT_EQ(read_file(tree / file), read_file(src_ / file)) << file;
    }
  }

  fs::path T, src_;
  int jobs_ = 0;
  std::vector<pyenv::host::Manager> jobs_open_;
};

TEST_F(ZipInteropTest, InfoZip) {
  pack("zip -q -r " + (T / "info.zip").string() + " .");
  const fs::path tree = extract(T / "info.zip");
  expect_same_files(tree);
  EXPECT_EQ(mode_of(tree / "bin" / "run") & 0777, 0755u) << "Unix modes are kept";
}

TEST_F(ZipInteropTest, PythonZipfile) {
  pack(
      "python3 -c 'import os, sys, zipfile\n"
      "with zipfile.ZipFile(sys.argv[1], \"w\", zipfile.ZIP_DEFLATED) as z:\n"
      "    for d, _, fs in os.walk(\".\"):\n"
      "        z.write(d)\n"
      "        for f in fs: z.write(os.path.join(d, f))' " +
      (T / "py.zip").string());
  const fs::path tree = extract(T / "py.zip");
  expect_same_files(tree);
  EXPECT_EQ(mode_of(tree / "bin" / "run") & 0777, 0755u);
}

TEST_F(ZipInteropTest, PythonZipfileStreamedWithDataDescriptors) {
  // Written to a pipe, zipfile cannot seek back to the local headers: sizes and CRCs come
  // after each entry's data, in data descriptors.
  pack(
      "(python3 -c 'import os, sys, zipfile\n"
      "with zipfile.ZipFile(sys.stdout.buffer, \"w\", zipfile.ZIP_DEFLATED) as z:\n"
      "    for d, _, fs in os.walk(\".\"):\n"
      "        for f in fs:\n"
      "            with open(os.path.join(d, f), \"rb\") as i, z.open(os.path.join(d, f)[2:], "
      "\"w\") as o: o.write(i.read())' | cat > " +
      (T / "streamed.zip").string() + ")");
  std::string head = read_file(T / "streamed.zip").substr(0, 8);
  ASSERT_EQ(head.substr(0, 4), std::string("PK\x03\x04", 4));
  EXPECT_TRUE(static_cast<unsigned char>(head[6]) & 0x08) << "no data descriptor flag";
  expect_same_files(extract(T / "streamed.zip"), /*with_empty_dir=*/false);
}

TEST_F(ZipInteropTest, Jar) {
  const char *home = std::getenv("JAVA_HOME");
  const std::string jar =
      home != nullptr && *home ? std::string(home) + "/bin/jar" : std::string("jar");
  if (std::system(("command -v " + jar + " >/dev/null 2>&1").c_str()) != 0) {
    GTEST_SKIP() << "no jar tool (install-deps.sh installs openjdk-17-jdk-headless)";
  }
  pack(jar + " cf " + (T / "app.jar").string() + " .");
  expect_same_files(extract(T / "app.jar"));
}

TEST_F(ZipInteropTest, Bsdtar) {
  pack("bsdtar --format zip -cf " + (T / "bsd.zip").string() + " .");
  const fs::path tree = extract(T / "bsd.zip");
  expect_same_files(tree);
  EXPECT_EQ(mode_of(tree / "bin" / "run") & 0777, 0755u);
}

TEST_F(ZipInteropTest, Zip64WithMoreEntriesThanAPlainZipCounts) {
  // 66,000 entries: past the 16-bit count of the end of central directory record, so the
  // ZIP64 end record and locator carry it.
  pack(
      "python3 -c 'import sys, zipfile\n"
      "with zipfile.ZipFile(sys.argv[1], \"w\", zipfile.ZIP_STORED) as z:\n"
      "    for i in range(66000): z.writestr(\"d%02d/f%05d\" % (i % 64, i), str(i))' " +
      (T / "big.zip").string());
  const fs::path tree = extract(T / "big.zip");
  size_t files = 0;
  for (const auto &entry : fs::recursive_directory_iterator(tree)) files += entry.is_regular_file();
  EXPECT_EQ(files, 66000u);
  EXPECT_EQ(read_file(tree / "d17" / "f65297"), "65297");
}

}  // namespace
}  // namespace pyenv::test
