#include "util/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "error.hpp"
#include "util/unique_fd.hpp"

namespace pyenv {

std::string errno_message(const std::string &what, int err) {
  return what + ": " + std::strerror(err);
}

namespace fsx {
namespace {

// Opens directory `name` under `parent` without following a link; makes it readable and
// searchable first if that is what stops us.
int open_dir_nofollow(int parent, const char *name) {
  int fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == EACCES) {
    ::fchmodat(parent, name, 0700, 0);
    fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  return fd;
}

bool unlink_entry(int dir_fd, const char *name, int flags) {
  if (::unlinkat(dir_fd, name, flags) == 0 || errno == ENOENT) return true;
  if (errno == EACCES || errno == EPERM) {
    ::fchmod(dir_fd, 0700);
    if (::unlinkat(dir_fd, name, flags) == 0 || errno == ENOENT) return true;
  }
  return false;
}

// Empties the directory open as `dir_fd`, appending failures under `where`.
void remove_contents(int dir_fd, const fs::path &where, std::vector<std::string> &failures) {
  int dup_fd = ::dup(dir_fd);
  if (dup_fd < 0) {
    failures.push_back(errno_message(where.string(), errno));
    return;
  }
  DIR *dir = ::fdopendir(dup_fd);
  if (dir == nullptr) {
    ::close(dup_fd);
    failures.push_back(errno_message(where.string(), errno));
    return;
  }
  std::vector<std::string> names;
  while (dirent *entry = ::readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    names.emplace_back(entry->d_name);
  }
  ::closedir(dir);
  for (const std::string &name : names) {
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) failures.push_back(errno_message((where / name).string(), errno));
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      UniqueFd child(open_dir_nofollow(dir_fd, name.c_str()));
      if (child.get() < 0) {
        failures.push_back(errno_message((where / name).string(), errno));
        continue;
      }
      remove_contents(child.get(), where / name, failures);
    }
    if (!unlink_entry(dir_fd, name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0)) {
      failures.push_back(errno_message((where / name).string(), errno));
    }
  }
}

std::vector<std::string> remove_once(const fs::path &path) {
  std::vector<std::string> failures;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) failures.push_back(errno_message(path.string(), errno));
    return failures;
  }
  fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  UniqueFd parent_fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (parent_fd.get() < 0) {
    failures.push_back(errno_message(parent.string(), errno));
    return failures;
  }
  std::string name = path.filename().string();
  if (S_ISDIR(st.st_mode)) {
    UniqueFd dir_fd(open_dir_nofollow(parent_fd.get(), name.c_str()));
    if (dir_fd.get() < 0) {
      failures.push_back(errno_message(path.string(), errno));
      return failures;
    }
    remove_contents(dir_fd.get(), path, failures);
  }
  if (failures.empty() &&
      !unlink_entry(parent_fd.get(), name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0)) {
    failures.push_back(errno_message(path.string(), errno));
  }
  return failures;
}

}  // namespace

std::string random_uuid() {
  unsigned char b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = ::getrandom(b + got, sizeof b - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(Status::kIo, errno_message("getrandom", errno));
    }
    got += static_cast<size_t>(n);
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 15];
  }
  return out;
}

std::vector<std::string> remove_tree(const fs::path &path) {
  using namespace std::chrono_literals;
  auto delay = 5ms;
  for (int attempt = 1;; ++attempt) {
    std::vector<std::string> failures = remove_once(path);
    if (failures.empty() || attempt == 5) return failures;
    std::this_thread::sleep_for(delay);
    delay *= 4;
  }
}

void make_directory(const fs::path &path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0) {
    fail(Status::kIo, errno_message("cannot create directory " + path.string(), errno));
  }
}

void link_or_copy(const fs::path &source, const fs::path &target) {
  std::error_code ec;
  fs::path absolute = fs::absolute(source, ec);
  if (!ec) fs::create_symlink(absolute, target, ec);
  if (!ec) return;
  fs::copy(source, target, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
  if (ec) {
    fail(Status::kIo,
         "cannot stage " + source.string() + " at " + target.string() + ": " + ec.message());
  }
}

std::optional<fs::path> confined_relative(const std::string &relative) {
  if (!relative.empty() && relative.front() == '/') return std::nullopt;
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= relative.size()) {
    size_t end = relative.find('/', start);
    if (end == std::string::npos) end = relative.size();
    std::string part = relative.substr(start, end - start);
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(std::move(part));
    }
    start = end + 1;
  }
  fs::path out;
  for (const std::string &part : parts) out /= part;
  return out;
}

}  // namespace fsx
}  // namespace pyenv
