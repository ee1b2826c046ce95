// Who is using a cached tree right now: the processes holding a lock on its lock file.
//
// /proc/locks lists every lock on the machine, but an OFD lock's process shows as -1 there;
// /proc/<pid>/fd and /proc/<pid>/fdinfo tell which process holds a descriptor of the file
// and whether a lock hangs on that descriptor. Processes of other users are not visible to
// an unprivileged caller, but they cannot open our private lock files either.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <utility>
#include <vector>

namespace pyenv::cache {

struct Holders {
  unsigned locks = 0;      // locks covering byte 0 (each task's open holds one)
  unsigned processes = 0;  // distinct processes holding them
};

struct LockFile {
  dev_t dev = 0;
  ino_t ino = 0;
  std::filesystem::path path;  // as the kernel shows it: resolved
};

// Holders of each file, keyed by (dev, ino). Reads /proc/locks once, and walks /proc only
// when some file is locked.
std::map<std::pair<dev_t, ino_t>, Holders> count_holders(const std::vector<LockFile> &files);

}  // namespace pyenv::cache
