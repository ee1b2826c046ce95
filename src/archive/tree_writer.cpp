#include "archive/tree_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <thread>

#include "error.hpp"
#include "util/fs.hpp"
#include "util/utf8.hpp"

namespace pyenv::archive {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
// ext4 keeps link targets shorter than this in the inode itself (a "fast" link).
constexpr size_t kInlineLinkTarget = 60;

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

// The process's umask, read without changing it (umask(2) can only set it, and setting it
// to read it would race with other threads creating files).
mode_t current_umask() {
  if (FILE *status = std::fopen("/proc/self/status", "re")) {
    char line[256];
    unsigned value = 0;
    bool found = false;
    while (!found && std::fgets(line, sizeof line, status) != nullptr) {
      found = std::sscanf(line, "Umask: %o", &value) == 1;
    }
    std::fclose(status);
    if (found) return static_cast<mode_t>(value) & 0777;
  }
  return 022;  // the usual one: at worst a mode is set that creation already gave
}

}  // namespace

class TreeWriter::Dir {
 public:
  Dir(TreeWriter *writer, DirRef parent, std::string name, std::string path, UniqueFd fd)
      : parent(std::move(parent)),
        name(std::move(name)),
        path(std::move(path)),
        fd(std::move(fd)),
        writer_(writer) {}
  ~Dir() {
    if (writer_ != nullptr) writer_->finish_dir(*this);
  }
  Dir(const Dir &) = delete;
  Dir &operator=(const Dir &) = delete;

  // Declared first, destroyed last: a parent is finished after its children.
  DirRef parent;
  std::string name;  // the component in its parent; empty for the root
  std::string path;  // relative to the root, for messages
  UniqueFd fd;
  mode_t mode = 0755;  // given by the archive, or the default for a directory it implies
  time_t mtime = 0;    // 0: none given
  mode_t current = 0700;

 private:
  TreeWriter *writer_;  // null for the root, which the caller finishes
};

TreeWriter::TreeWriter(const fs::path &root, std::string label, const Limits &limits)
    : root_path_(root.string()),
      label_(std::move(label)),
      limits_(limits),
      umask_(current_umask()) {
  UniqueFd fd(::open(root.c_str(), kDirFlags));
  if (!fd.valid()) fail(Status::kIo, errno_message(label_ + ": cannot open " + root_path_, errno));
  struct statfs fs_info {};
  if (::fstatfs(fd.get(), &fs_info) == 0 && fs_info.f_bsize > 0) {
    block_ = static_cast<uint64_t>(fs_info.f_bsize);
  }
  cursor_.push_back(std::make_shared<Dir>(nullptr, nullptr, "", "", std::move(fd)));
}

TreeWriter::~TreeWriter() {
  // Deepest first, as finish() does; after a failure the tree is removed anyway.
  while (!cursor_.empty()) cursor_.pop_back();
}

void TreeWriter::refuse(const std::string &name, const std::string &why) const {
  fail(Status::kArchive, label_ + ": entry \"" + printable(name) + "\" " + why);
}

void TreeWriter::failed_io(const std::string &message) noexcept {
  std::lock_guard<std::mutex> lock(error_mutex_);
  if (io_error_.empty()) io_error_ = message;
}

void TreeWriter::count_entry(const std::string &name) {
  if (++entries_ > limits_.max_entries) {
    refuse(name, "is past the limit of " + std::to_string(limits_.max_entries) +
                     " entries (pyenv.archive.max-entries)");
  }
}

void TreeWriter::finish_dir(Dir &dir) noexcept {
  std::lock_guard<std::recursive_mutex> lock(dirs_mutex_);
  struct Forget {
    TreeWriter &writer;
    const std::string &path;
    ~Forget() {  // once finished, so that open_child never opens it half-finished
      auto it = writer.open_dirs_.find(path);
      if (it != writer.open_dirs_.end() && it->second.expired()) writer.open_dirs_.erase(it);
    }
  } forget{*this, dir.path};
  const int fd = dir.fd.get();
  mode_t mode = dir.mode;
  if (limits_.seal) mode &= 0555;
  if (mode != dir.current && ::fchmod(fd, mode) != 0) {
    failed_io(
        errno_message(label_ + ": cannot set the mode of " + root_path_ + "/" + dir.path, errno));
  }
  if (dir.mtime > 0) {
    const struct timespec times[2] = {{dir.mtime, 0}, {dir.mtime, 0}};
    ::futimens(fd, times);  // best effort: a time is not content
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0) disk_bytes_ += static_cast<uint64_t>(st.st_blocks) * 512;
}

TreeWriter::DirRef TreeWriter::open_child(const DirRef &parent, const std::string &component,
                                          const std::string &entry, bool is_leaf) {
  const std::string path = parent->path.empty() ? component : parent->path + "/" + component;
  std::unique_lock<std::recursive_mutex> lock(dirs_mutex_);
  for (auto live = open_dirs_.find(path); live != open_dirs_.end(); live = open_dirs_.find(path)) {
    if (DirRef dir = live->second.lock()) return dir;
    // Its last holder let go and is about to finish it: wait for that, then open it again.
    lock.unlock();
    std::this_thread::yield();
    lock.lock();
  }
  const int parent_fd = parent->fd.get();
  const bool created = ::mkdirat(parent_fd, component.c_str(), 0700) == 0;
  if (!created && errno != EEXIST) {
    fail(Status::kIo, errno_message(label_ + ": cannot create " + root_path_ + "/" + path, errno));
  }
  UniqueFd fd(::openat(parent_fd, component.c_str(), kDirFlags));
  if (!fd.valid()) {
    const int error = errno;
    if (created || (error != ELOOP && error != ENOTDIR)) {
      fail(Status::kIo, errno_message(label_ + ": cannot open " + root_path_ + "/" + path, error));
    }
    if (is_leaf) refuse(entry, "appears twice in the archive (as \"" + path + "\")");
    if (error == ELOOP) {
      refuse(entry, "would be written through the symbolic link \"" + path + "\"");
    }
    refuse(entry, "lies under \"" + path + "\", which is a file");
  }
  auto dir = std::make_shared<Dir>(this, parent, component, path, std::move(fd));
  open_dirs_[path] = dir;
  if (created) {
    if ((0700 & umask_) != 0) {  // a umask that takes the owner's own bits
      ::fchmod(dir->fd.get(), 0700);
    }
    return dir;
  }
  // Written and finished before, when the archive's entries were elsewhere: open it up
  // again, and give it back its mode and time when done with it again.
  struct stat st {};
  if (::fstat(dir->fd.get(), &st) != 0) {
    fail(Status::kIo, errno_message(label_ + ": cannot stat " + root_path_ + "/" + path, errno));
  }
  disk_bytes_ -= static_cast<uint64_t>(st.st_blocks) * 512;  // counted again when finished
  dir->mode = st.st_mode & 07777;
  dir->current = dir->mode;
  dir->mtime = st.st_mtim.tv_sec;
  if ((st.st_mode & 0700) != 0700) {
    if (::fchmod(dir->fd.get(), dir->mode | 0700) != 0) {
      fail(Status::kIo,
           errno_message(label_ + ": cannot open up " + root_path_ + "/" + path, errno));
    }
    dir->current = dir->mode | 0700;
  }
  return dir;
}

TreeWriter::DirRef TreeWriter::place(const std::string &name, std::string &leaf) {
  count_entry(name);
  // A zip's names are counted bytes: a NUL would cut the name the kernel sees.
  if (name.find('\0') != std::string::npos) refuse(name, "has a name holding NUL");
  std::optional<fs::path> rel = fsx::confined_relative(name);
  if (!rel) refuse(name, "would create a file outside of " + root_path_);
  // Checked here, so that what the file system would refuse later (as an I/O error, after
  // part of the tree is written) is refused as the archive's fault, naming the entry.
  if (!is_utf8(name)) refuse(name, "has a name that is not UTF-8");
  if (root_path_.size() + 1 + rel->native().size() >= PATH_MAX) {
    refuse(name, "is too long: its path under " + root_path_ + " would be longer than " +
                     std::to_string(PATH_MAX - 1) + " bytes");
  }
  std::vector<std::string> parts;
  for (const fs::path &part : *rel) {
    if (part.native().size() > NAME_MAX) {
      refuse(name, "has a name component longer than " + std::to_string(NAME_MAX) + " bytes");
    }
    parts.push_back(part.native());
  }
  if (parts.empty()) {
    leaf.clear();
    return cursor_.front();
  }
  leaf = std::move(parts.back());
  parts.pop_back();
  // Keep what the cursor shares with this entry's parent; finish the rest, deepest first.
  size_t same = 0;
  while (same < parts.size() && same + 1 < cursor_.size() &&
         cursor_[same + 1]->name == parts[same]) {
    ++same;
  }
  while (cursor_.size() > same + 1) cursor_.pop_back();
  for (size_t i = same; i < parts.size(); ++i) {
    cursor_.push_back(open_child(cursor_.back(), parts[i], name, false));
  }
  return cursor_.back();
}

void TreeWriter::directory(const std::string &name, mode_t mode, time_t mtime) {
  std::string leaf;
  DirRef parent = place(name, leaf);
  if (leaf.empty()) return;  // the root: the caller's to set
  DirRef dir = open_child(parent, leaf, name, true);
  dir->mode = safe_mode(mode);
  dir->mtime = mtime;
  cursor_.push_back(std::move(dir));
}

TreeWriter::Placed TreeWriter::place_parent(const std::string &name) {
  Placed placed;
  placed.dir = place(name, placed.leaf);
  if (placed.leaf.empty()) refuse(name, "names the archive's root, which is a directory");
  return placed;
}

void TreeWriter::create(const std::string &name, Placed &placed, mode_t mode) {
  mode = safe_mode(mode);
  if (limits_.seal) mode &= ~mode_t{022};
  // Created with its final mode: the descriptor stays writable whatever the mode says.
  placed.fd.reset(::openat(placed.dir->fd.get(), placed.leaf.c_str(),
                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!placed.fd.valid()) {
    if (errno == EEXIST) refuse(name, "appears twice in the archive");
    fail(Status::kIo, errno_message(label_ + ": cannot create " + root_path_ + "/" + name, errno));
  }
  if ((mode & umask_) != 0 && ::fchmod(placed.fd.get(), mode) != 0) {
    fail(Status::kIo, errno_message(label_ + ": cannot set the mode of " + name, errno));
  }
}

void TreeWriter::write_file(const std::string &name, Placed &placed, time_t mtime,
                            uint64_t expected_size, const Chunks &next) {
  struct Release {
    Placed &placed;
    ~Release() {
      placed.fd.reset();
      placed.dir.reset();
    }
  } release{placed};
  const int fd = placed.fd.get();
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
        fail(Status::kIo, errno_message(label_ + ": cannot write " + name, errno));
      }
      off += static_cast<size_t>(w);
    }
  }
  if (written != expected_size) {
    refuse(name, "is truncated: " + std::to_string(written) + " of " +
                     std::to_string(expected_size) + " bytes");
  }
  if (mtime > 0) {
    const struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
    ::futimens(fd, times);
  }
  disk_bytes_ += blocks_of(written);
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
  std::string leaf;
  DirRef parent = place(name, leaf);
  if (leaf.empty()) refuse(name, "names the archive's root, which is a directory");
  // Made at once: every later entry is reached with O_NOFOLLOW, so none can go through it.
  if (::symlinkat(target.c_str(), parent->fd.get(), leaf.c_str()) != 0) {
    if (errno == EEXIST) refuse(name, "appears twice in the archive");
    fail(Status::kIo, errno_message(label_ + ": cannot create link " + name, errno));
  }
  if (mtime > 0) {
    const struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
    ::utimensat(parent->fd.get(), leaf.c_str(), times, AT_SYMLINK_NOFOLLOW);
  }
  if (target.size() >= kInlineLinkTarget) disk_bytes_ += blocks_of(target.size());
}

void TreeWriter::hardlink(const std::string &name, const std::string &target) {
  const std::string not_earlier =
      "is a hard link to \"" + target + "\", which is not an earlier file of the archive";
  std::optional<fs::path> source = fsx::confined_relative(target);
  if (!source || source->empty()) refuse(name, not_earlier);
  // The source's directory, walked from the root without following any link.
  UniqueFd walked;
  int dir_fd = cursor_.front()->fd.get();
  for (const fs::path &part : source->parent_path()) {
    // O_PATH: sealed directories need no read permission to be passed through.
    UniqueFd next(::openat(dir_fd, part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) refuse(name, not_earlier);
    walked = std::move(next);
    dir_fd = walked.get();
  }
  const std::string source_leaf = source->filename().string();
  struct stat st {};
  if (::fstatat(dir_fd, source_leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
      !S_ISREG(st.st_mode)) {
    refuse(name, not_earlier);
  }
  std::string leaf;
  DirRef parent = place(name, leaf);
  if (leaf.empty()) refuse(name, "names the archive's root, which is a directory");
  if (::linkat(dir_fd, source_leaf.c_str(), parent->fd.get(), leaf.c_str(), 0) != 0) {
    if (errno == EEXIST) refuse(name, "appears twice in the archive");
    fail(Status::kIo, errno_message(label_ + ": cannot link " + name, errno));
  }
}

void TreeWriter::finish() {
  while (cursor_.size() > 1) cursor_.pop_back();
  struct stat st {};
  if (::fstat(cursor_.front()->fd.get(), &st) == 0) {
    disk_bytes_ += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  std::lock_guard<std::mutex> lock(error_mutex_);
  if (!io_error_.empty()) fail(Status::kIo, io_error_);
}

}  // namespace pyenv::archive
