#include "archive/tree_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <vector>

#include "error.hpp"
#include "util/fs.hpp"
#include "util/utf8.hpp"

namespace pyenv::archive {
namespace {

void set_time(const fs::path &path, time_t mtime, int flags) {
  if (mtime <= 0) return;
  struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
  ::utimensat(AT_FDCWD, path.c_str(), times, flags);  // best effort: a time is not content
}

bool is_utf8(const std::string &s) {
  for (size_t i = 0, n; i < s.size(); i += n) {
    if ((n = utf8_length(s, i)) == 0) return false;
  }
  return true;
}

// `name` fit for a message, which hosts log and print as JSON: control characters and bytes
// that are not UTF-8 become \xNN.
std::string printable(const std::string &name) {
  std::string out;
  for (size_t i = 0, n; i < name.size(); i += n) {
    n = utf8_length(name, i);
    const auto c = static_cast<unsigned char>(name[i]);
    if (n == 0 || c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
      n = 1;
    } else {
      out.append(name, i, n);
    }
  }
  return out;
}

}  // namespace

TreeWriter::TreeWriter(fs::path root, std::string label, const Limits &limits)
    : root_(std::move(root)), label_(std::move(label)), limits_(limits) {}

void TreeWriter::refuse(const std::string &name, const std::string &why) const {
  fail(Status::kArchive, label_ + ": entry \"" + printable(name) + "\" " + why);
}

void TreeWriter::count_entry(const std::string &name) {
  if (++entries_ > limits_.max_entries) {
    refuse(name, "is past the limit of " + std::to_string(limits_.max_entries) +
                     " entries (pyenv.archive.max-entries)");
  }
}

fs::path TreeWriter::place(const std::string &name, Kind kind) {
  count_entry(name);
  std::optional<fs::path> rel = fsx::confined_relative(name);
  if (!rel) refuse(name, "would create a file outside of " + root_.string());
  // Checked here, so that what the file system would refuse later (as an I/O error, after
  // part of the tree is written) is refused as the archive's fault, naming the entry.
  if (!is_utf8(name)) refuse(name, "has a name that is not UTF-8");
  for (const fs::path &part : *rel) {
    if (part.native().size() > NAME_MAX) {
      refuse(name, "has a name component longer than " + std::to_string(NAME_MAX) + " bytes");
    }
  }
  if ((root_ / *rel).native().size() >= PATH_MAX) {
    refuse(name, "is too long: its path under " + root_.string() + " would be longer than " +
                     std::to_string(PATH_MAX - 1) + " bytes");
  }
  if (rel->empty()) {
    if (kind == Kind::kDirectory) return *rel;
    refuse(name, "names the archive's root, which is a directory");
  }
  fs::path prefix;
  for (const fs::path &part : rel->parent_path()) {
    prefix /= part;
    auto it = kinds_.find(prefix);
    if (it == kinds_.end()) {
      if (::mkdir((root_ / prefix).c_str(), 0700) != 0) {
        fail(Status::kIo,
             errno_message(label_ + ": cannot create " + (root_ / prefix).string(), errno));
      }
      kinds_.emplace(prefix, Kind::kDirectory);
      dirs_.emplace(prefix, Dir{prefix, 0755, 0});
    } else if (it->second == Kind::kLink) {
      refuse(name, "would be written through the symbolic link \"" + prefix.string() + "\"");
    } else if (it->second == Kind::kFile) {
      refuse(name, "lies under \"" + prefix.string() + "\", which is a file");
    }
  }
  auto it = kinds_.find(*rel);
  if (it != kinds_.end()) {
    if (it->second == Kind::kDirectory && kind == Kind::kDirectory) return *rel;
    refuse(name, "appears twice in the archive (as \"" + rel->string() + "\")");
  }
  kinds_.emplace(*rel, kind);
  return *rel;
}

void TreeWriter::directory(const std::string &name, mode_t mode, time_t mtime) {
  fs::path rel = place(name, Kind::kDirectory);
  if (rel.empty()) return;
  auto [it, created] = dirs_.try_emplace(rel, Dir{rel, safe_mode(mode), mtime});
  if (created) {
    if (::mkdir((root_ / rel).c_str(), 0700) != 0) {
      fail(Status::kIo, errno_message(label_ + ": cannot create " + (root_ / rel).string(), errno));
    }
  } else {
    it->second = Dir{rel, safe_mode(mode), mtime};
  }
}

fs::path TreeWriter::place_file(const std::string &name) {
  return root_ / place(name, Kind::kFile);
}

void TreeWriter::write_file(const std::string &name, const fs::path &path, mode_t mode,
                            time_t mtime, uint64_t expected_size, const Chunks &next) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) fail(Status::kIo, errno_message(label_ + ": cannot create " + path.string(), errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  uint64_t written = 0;
  for (;;) {
    const std::string_view chunk = next();
    const size_t n = chunk.size();
    if (n == 0) break;
    written += n;
    if (written > expected_size) {
      refuse(name, "holds more than its declared " + std::to_string(expected_size) + " bytes");
    }
    if (bytes_.fetch_add(n) + n > limits_.max_bytes) {
      refuse(name, "takes the archive past the limit of " + std::to_string(limits_.max_bytes) +
                       " bytes (pyenv.archive.max-bytes)");
    }
    for (size_t off = 0; off < n;) {
      ssize_t w = ::write(fd, chunk.data() + off, n - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        fail(Status::kIo, errno_message(label_ + ": cannot write " + path.string(), errno));
      }
      off += static_cast<size_t>(w);
    }
  }
  if (written != expected_size) {
    refuse(name, "is truncated: " + std::to_string(written) + " of " +
                     std::to_string(expected_size) + " bytes");
  }
  ::fchmod(fd, safe_mode(mode));
  if (mtime > 0) {
    struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
    ::futimens(fd, times);
  }
}

void TreeWriter::symlink(const std::string &name, const std::string &target, time_t mtime) {
  if (limits_.symlinks == SymlinkPolicy::kReject) {
    refuse(name, "is a symbolic link, and pyenv.archive.symlinks is reject");
  }
  if (target.empty()) refuse(name, "is a symbolic link with an empty target");
  if (target.find('\0') != std::string::npos) refuse(name, "has a link target holding NUL");
  if (target.size() >= PATH_MAX) {
    refuse(name, "is a symbolic link whose target is longer than " + std::to_string(PATH_MAX - 1) +
                     " bytes");
  }
  std::optional<fs::path> rel = fsx::confined_relative(name);
  if (rel && limits_.symlinks == SymlinkPolicy::kWithin &&
      (target.front() == '/' || !fsx::confined_relative((rel->parent_path() / target).string()))) {
    refuse(name, "links to \"" + target +
                     "\", outside the archive, and pyenv.archive.symlinks is within");
  }
  links_.push_back(Link{place(name, Kind::kLink), target, mtime});
}

void TreeWriter::hardlink(const std::string &name, const std::string &target) {
  std::optional<fs::path> source = fsx::confined_relative(target);
  auto it = source ? kinds_.find(*source) : kinds_.end();
  if (it == kinds_.end() || it->second != Kind::kFile) {
    refuse(name,
           "is a hard link to \"" + target + "\", which is not an earlier file of the archive");
  }
  fs::path path = root_ / place(name, Kind::kFile);
  if (::link((root_ / *source).c_str(), path.c_str()) != 0) {
    fail(Status::kIo, errno_message(label_ + ": cannot link " + path.string(), errno));
  }
}

void TreeWriter::finish() {
  for (const Link &link : links_) {
    fs::path path = root_ / link.path;
    if (::symlink(link.target.c_str(), path.c_str()) != 0) {
      fail(Status::kIo, errno_message(label_ + ": cannot create link " + path.string(), errno));
    }
    set_time(path, link.mtime, AT_SYMLINK_NOFOLLOW);
  }
  // Children sort after their parents, so walking backwards applies modes deepest first.
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    fs::path path = root_ / it->second.path;
    ::chmod(path.c_str(), it->second.mode);
    set_time(path, it->second.mtime, 0);
  }
}

}  // namespace pyenv::archive
