#include "cache/holders.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace pyenv::cache {
namespace {

using Id = std::pair<dev_t, ino_t>;

// "fe:00:10952849" (hex major, hex minor, decimal inode) -> (dev, ino).
bool parse_device(const std::string &text, Id &out) {
  unsigned major_number = 0, minor_number = 0;
  unsigned long long inode = 0;
  if (std::sscanf(text.c_str(), "%x:%x:%llu", &major_number, &minor_number, &inode) != 3) {
    return false;
  }
  out = {makedev(major_number, minor_number), static_cast<ino_t>(inode)};
  return true;
}

// Locks held (not waited for) that cover byte 0, per file.
std::map<Id, unsigned> locks_on_byte_zero() {
  std::map<Id, unsigned> out;
  std::ifstream in("/proc/locks");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string word; fields >> word;) f.push_back(word);
    if (f.size() < 8 || f[1] == "->") continue;  // a waiter, not a holder
    Id id;
    if (!parse_device(f[5], id)) continue;
    if (f[6] != "0") continue;  // starts past byte 0: the extract byte
    ++out[id];
  }
  return out;
}

std::vector<std::string> names_in(const std::string &dir) {
  std::vector<std::string> names;
  if (DIR *d = ::opendir(dir.c_str())) {
    while (dirent *entry = ::readdir(d)) {
      if (entry->d_name[0] != '.') names.emplace_back(entry->d_name);
    }
    ::closedir(d);
  }
  return names;
}

bool has_lock(const std::string &fdinfo) {
  std::ifstream in(fdinfo);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("lock:", 0) == 0) return true;
  }
  return false;
}

}  // namespace

std::map<std::pair<dev_t, ino_t>, Holders> count_holders(const std::vector<LockFile> &files) {
  std::map<Id, Holders> out;
  const std::map<Id, unsigned> locks = locks_on_byte_zero();
  std::map<std::string, Id> wanted;  // path -> file, for the files someone locks
  for (const LockFile &file : files) {
    const Id id{file.dev, file.ino};
    auto it = locks.find(id);
    out[id].locks = it == locks.end() ? 0 : it->second;
    if (out[id].locks > 0) wanted[file.path.string()] = id;
  }
  if (wanted.empty()) return out;

  std::map<Id, std::set<std::string>> pids;
  for (const std::string &pid : names_in("/proc")) {
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string fd_dir = "/proc/" + pid + "/fd";
    for (const std::string &fd : names_in(fd_dir)) {
      char target[PATH_MAX];
      const ssize_t n = ::readlink((fd_dir + "/" + fd).c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      auto it = wanted.find(std::string(target, static_cast<size_t>(n)));
      if (it != wanted.end() && has_lock("/proc/" + pid + "/fdinfo/" + fd)) {
        pids[it->second].insert(pid);
      }
    }
  }
  for (const auto &[id, holders] : pids) out[id].processes = static_cast<unsigned>(holders.size());
  return out;
}

}  // namespace pyenv::cache
