// The archive engine's safety rules and fidelity, with hand-built zips and tars.
#include <sys/stat.h>

#include "archive/extract.hpp"
#include "error.hpp"
#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

class ArchiveSafety : public ::testing::Test {
 protected:
  fs::path extract(const fs::path &archive, archive::Limits limits = {}) {
    fs::path out = dir_ / "out";
    archive::extract(archive, out, limits, Logger());
    return out;
  }

  // Extraction must fail with kArchive, leave nothing beside the archive, and say `entry`.
  std::string refused(const fs::path &archive, const std::string &entry,
                      archive::Limits limits = {}) {
    const auto before = list_tree(dir_.path());
    std::string message;
    try {
      archive::extract(archive, dir_ / "out", limits, Logger());
      ADD_FAILURE() << archive << " was extracted";
    } catch (const Error &e) {
      EXPECT_EQ(e.status(), Status::kArchive) << e.what();
      message = e.what();
    }
    EXPECT_NE(message.find(entry), std::string::npos) << message;
    EXPECT_EQ(list_tree(dir_.path()), before) << "a failed extraction left something behind";
    return message;
  }

  fs::path zip(const std::vector<Entry> &entries, bool stored = false) {
    fs::path p = dir_ / ("a" + std::to_string(++n_) + ".zip");
    write_zip(p, entries, stored);
    return p;
  }
  fs::path tar(const std::vector<Entry> &entries, const std::string &filter = "gzip") {
    fs::path p = dir_ / ("a" + std::to_string(++n_) + ".tar");
    write_tar(p, entries, filter);
    return p;
  }

  TempDir dir_;
  int n_ = 0;
};

// Flips the "encrypted" flag of every local and central header of a zip.
void mark_encrypted(const fs::path &path) {
  std::string bytes = read_file(path);
  for (size_t i = 0; i + 10 < bytes.size(); ++i) {
    if (bytes.compare(i, 4, "PK\x03\x04") == 0) bytes[i + 6] |= 1;
    if (bytes.compare(i, 4, "PK\x01\x02") == 0) bytes[i + 8] |= 1;
  }
  write_file(path, bytes);
}

TEST_F(ArchiveSafety, AbsolutePathRefused) {
  refused(zip({file_entry("/etc/evil", "x")}), "/etc/evil");
  refused(tar({file_entry("/etc/evil", "x")}, "none"), "/etc/evil");
}

TEST_F(ArchiveSafety, EscapeRefused) {
  std::string m = refused(tar({file_entry("a/../../evil", "x")}), "a/../../evil");
  EXPECT_NE(m.find("would create a file outside of"), std::string::npos) << m;
  EXPECT_FALSE(fs::exists(dir_ / "evil"));
}

TEST_F(ArchiveSafety, DotDotThatStaysInsideIsFine) {
  fs::path out = extract(zip({file_entry("a/../b", "x")}));
  EXPECT_EQ(read_file(out / "b"), "x");
}

TEST_F(ArchiveSafety, LinkedParentRefusedWhicheverComesFirst) {
  TempDir outside;
  refused(zip({link_entry("a", outside.path().string()), file_entry("a/evil", "x")}), "a/evil");
  // The file first, then a link of the same name as its directory.
  refused(tar({file_entry("a/evil", "x"), link_entry("a", outside.path().string())}), "\"a\"");
  EXPECT_TRUE(list_tree(outside.path()).empty());
}

TEST_F(ArchiveSafety, SpecialFilesRefused) {
  refused(tar({Entry{"fifo", "", S_IFIFO | 0644, ""}}), "fifo");
  refused(tar({Entry{"dev", "", S_IFCHR | 0644, ""}}), "dev");
  refused(zip({Entry{"dev", "x", S_IFBLK | 0644, ""}}), "dev");
}

TEST_F(ArchiveSafety, EncryptedRefused) {
  fs::path p = zip({file_entry("secret", "x")});
  mark_encrypted(p);
  std::string m = refused(p, "secret");
  EXPECT_NE(m.find("encrypted"), std::string::npos) << m;
}

TEST_F(ArchiveSafety, CrcMismatchRefused) {
  fs::path p = zip({file_entry("data", "0123456789abcdef")}, /*stored=*/true);
  std::string bytes = read_file(p);
  bytes[bytes.find("0123456789abcdef")] = 'X';
  write_file(p, bytes);
  refused(p, "data");
}

TEST_F(ArchiveSafety, CorruptDeflateRefused) {
  fs::path p = zip({file_entry("data", std::string(100000, 'z') + "tail")});
  std::string bytes = read_file(p);
  for (size_t i = 40; i < 80; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
  write_file(p, bytes);
  refused(p, "data");
}

TEST_F(ArchiveSafety, TruncatedRefused) {
  fs::path z = zip({file_entry("a", std::string(50000, 'a')), file_entry("b", "b")});
  std::string bytes = read_file(z);
  write_file(z, bytes.substr(0, bytes.size() - 30));  // the central directory's end is gone
  refused(z, z.string());
  fs::path t = tar({file_entry("big", std::string(200000, 'q')), file_entry("b", "b")}, "none");
  bytes = read_file(t);
  write_file(t, bytes.substr(0, 100000));
  refused(t, "big");
}

TEST_F(ArchiveSafety, EntryLimit) {
  archive::Limits limits;
  limits.max_entries = 2;
  std::string m = refused(zip({file_entry("a", "1"), file_entry("b", "2"), file_entry("c", "3")}),
                          "\"c\"", limits);
  EXPECT_NE(m.find("pyenv.archive.max-entries"), std::string::npos) << m;
}

TEST_F(ArchiveSafety, ByteLimitCountedWhileWriting) {
  archive::Limits limits;
  limits.max_bytes = 100000;
  // A bomb in miniature: a few hundred bytes of zip, a megabyte of zeros.
  std::string m = refused(zip({file_entry("zeros", std::string(1 << 20, '\0'))}), "zeros", limits);
  EXPECT_NE(m.find("pyenv.archive.max-bytes"), std::string::npos) << m;
  refused(tar({file_entry("zeros", std::string(1 << 20, '\0'))}), "zeros", limits);
}

TEST_F(ArchiveSafety, DuplicatesAndFileDirectoryClashesRefused) {
  refused(tar({file_entry("a", "1"), file_entry("a", "2")}), "\"a\"");
  refused(zip({file_entry("a", "1"), file_entry("./a", "2")}), "./a");
  refused(tar({file_entry("a", "1"), file_entry("a/b", "2")}), "a/b");
}

TEST_F(ArchiveSafety, SymlinkPolicies) {
  archive::Limits within;
  within.symlinks = SymlinkPolicy::kWithin;
  refused(zip({link_entry("l", "/usr/bin/python3")}), "\"l\"", within);
  refused(tar({link_entry("sub/l", "../../x")}), "sub/l", within);
  fs::path out = extract(tar({file_entry("x", "1"), link_entry("sub/l", "../x")}), within);
  EXPECT_EQ(read_file(out / "sub" / "l"), "1");
  fs::remove_all(out);

  archive::Limits reject;
  reject.symlinks = SymlinkPolicy::kReject;
  refused(zip({file_entry("x", "1"), link_entry("l", "x")}), "\"l\"", reject);
}

TEST_F(ArchiveSafety, TarFidelity) {
  fs::path out = extract(tar({dir_entry("ro", 0555), file_entry("ro/f", "data", 04755),
                              Entry{"ro/h", "", S_IFREG | 0644, "ro/f"},
                              link_entry("abs", "/usr/bin/python3")},
                             "xz"));
  EXPECT_EQ(mode_of(out / "ro"), 0555u) << "directory modes are applied after their contents";
  EXPECT_EQ(mode_of(out / "ro" / "f"), 0755u) << "setuid is dropped";
  struct stat f {}, h {};
  ASSERT_EQ(::stat((out / "ro" / "f").c_str(), &f), 0);
  ASSERT_EQ(::stat((out / "ro" / "h").c_str(), &h), 0);
  EXPECT_EQ(f.st_ino, h.st_ino) << "hard links stay hard links";
  EXPECT_EQ(f.st_mtime, 1700000000) << "modification times are kept";
  EXPECT_EQ(fs::read_symlink(out / "abs"), "/usr/bin/python3");
}

TEST_F(ArchiveSafety, EveryTarCompressionByContent) {
  for (const char *filter : {"none", "gzip", "bzip2", "xz", "zstd"}) {
    fs::path out = extract(tar({file_entry("f", filter)}, filter));
    EXPECT_EQ(read_file(out / "f"), filter);
    fs::remove_all(out);
  }
}

TEST_F(ArchiveSafety, ZipWithoutUnixModesGetsDefaults) {
  fs::path out = extract(zip({Entry{"d/", "", 0, ""}, Entry{"d/f", "x", 0, ""}}));
  EXPECT_EQ(mode_of(out / "d"), 0755u);
  EXPECT_EQ(mode_of(out / "d" / "f"), 0644u);
}

TEST_F(ArchiveSafety, LargeAndManyEntriesAcrossWorkers) {
  std::vector<Entry> entries;
  for (int i = 0; i < 300; ++i) {
    entries.push_back(file_entry("d" + std::to_string(i % 7) + "/f" + std::to_string(i),
                                 std::string(static_cast<size_t>(i) * 37, char('a' + i % 26))));
  }
  // Larger than the whole-entry limit: streams through zlib.
  entries.push_back(file_entry("big", std::string(9u << 20, 'b')));
  archive::Limits limits;
  limits.threads = 4;
  fs::path out = extract(zip(entries), limits);
  for (int i = 0; i < 300; i += 17) {
    EXPECT_EQ(read_file(out / ("d" + std::to_string(i % 7)) / ("f" + std::to_string(i))),
              std::string(static_cast<size_t>(i) * 37, char('a' + i % 26)));
  }
  EXPECT_EQ(fs::file_size(out / "big"), 9u << 20);
}

TEST_F(ArchiveSafety, NotAnArchive) {
  write_file(dir_ / "plain", "just text");
  refused(dir_ / "plain", "neither a zip nor a tar");
}

}  // namespace
}  // namespace pyenv::test
