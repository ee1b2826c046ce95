// Filesystem helpers that the standard library does not give safely.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace pyenv::fsx {

namespace fs = std::filesystem;

// A random RFC 4122 version-4 UUID, lower-case hex.
std::string random_uuid();

// Removes `path` and everything below it. Symbolic links are removed, never followed, so
// nothing outside `path` is touched. Entries that resist (permissions, a busy mount) are
// retried with back-off; directories without write or search permission are opened up
// first. Returns one "path: reason" line per entry that could not be removed; empty on
// success, and also when `path` does not exist.
std::vector<std::string> remove_tree(const fs::path &path);

// Creates directory `path` (its parent must exist) with `mode` (less the umask). Throws
// Error(kIo) naming the path.
void make_directory(const fs::path &path, mode_t mode = 0755);

// Stages `source` at `target` as a symbolic link to its absolute path; falls back to a
// recursive copy where links cannot be made. Throws Error(kIo) naming both.
void link_or_copy(const fs::path &source, const fs::path &target);

// Normalises `relative` (which may hold "..", "." and repeated slashes) lexically. Returns
// nullopt when it is absolute or climbs above its root; an empty path names the root.
std::optional<fs::path> confined_relative(const std::string &relative);

}  // namespace pyenv::fsx
