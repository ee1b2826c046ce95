#include "cache/cache_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "cache/private_dir.hpp"
#include "error.hpp"
#include "util/fs.hpp"
#include "util/unique_fd.hpp"

namespace pyenv::cache {

bool is_key(const std::string &s) {
  return s.size() == kKeyLength && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string key_prefix(const std::string &name) {
  if (name.size() <= kKeyLength + 1 || name[kKeyLength] != '.') return "";
  std::string key = name.substr(0, kKeyLength);
  return is_key(key) ? key : "";
}

std::vector<std::string> list_names(int dir_fd, const fs::path &shown, const Logger &log) {
  std::vector<std::string> names;
  UniqueFd copy(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  DIR *dir = copy.valid() ? ::fdopendir(copy.get()) : nullptr;
  if (dir == nullptr) {
    log.warn(errno_message("archive cache: cannot list " + shown.string(), errno));
    return names;
  }
  copy.release();  // closedir() closes it
  while (dirent *entry = ::readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    names.emplace_back(entry->d_name);
  }
  ::closedir(dir);
  return names;
}

std::optional<uint64_t> read_size(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return std::nullopt;
  char *end = nullptr;
  errno = 0;
  unsigned long long value = std::strtoull(buf, &end, 10);
  if (errno != 0 || end == buf || *end != '\n') return std::nullopt;
  return value;
}

std::optional<std::string> read_private_file(int dir_fd, const std::string &name, size_t limit,
                                             std::string *why) {
  UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ELOOP) *why = "is a symbolic link";
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::nullopt;
  if (std::string problem = why_not_private_file(st); !problem.empty()) {
    *why = problem;
    return std::nullopt;
  }
  std::string text(limit, '\0');
  ssize_t n = ::pread(fd.get(), text.data(), limit, 0);
  if (n < 0) return std::nullopt;
  text.resize(static_cast<size_t>(n));
  return text;
}

void write_private_file(int dir_fd, const std::string &name, const fs::path &dir_shown,
                        const std::string &text) {
  const std::string temp = "." + fsx::random_uuid() + ".tmp";
  UniqueFd out(
      ::openat(dir_fd, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out.valid()) {
    fail(Status::kIo, errno_message("cannot create " + (dir_shown / temp).string(), errno));
  }
  const bool written =
      ::write(out.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int err = errno;
  out.reset();
  if (!written || ::renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) != 0) {
    const int why = written ? errno : err;
    ::unlinkat(dir_fd, temp.c_str(), 0);
    fail(Status::kIo, errno_message("cannot write " + (dir_shown / name).string(), why));
  }
}

Record read_record(int info_fd, const std::string &key) {
  Record record;
  std::string why;
  std::optional<std::string> text = read_private_file(info_fd, key, 64 << 10, &why);
  if (!text) return record;
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("kind ", 0) == 0) record.kind = line.substr(5);
    if (line.rfind("source ", 0) == 0) record.sources.push_back(line.substr(7));
  }
  return record;
}

void write_record(int info_fd, const std::string &key, const fs::path &info_shown,
                  const Record &record) {
  std::string text = "kind " + record.kind + "\n";
  for (const std::string &source : record.sources) {
    // A path holding a newline cannot be a line of its own; it is not worth a format.
    if (source.find('\n') == std::string::npos) text += "source " + source + "\n";
  }
  write_private_file(info_fd, key, info_shown, text);
}

}  // namespace pyenv::cache
