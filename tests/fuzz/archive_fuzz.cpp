// libFuzzer target: arbitrary bytes as an archive file, extracted by pyenv::archive::extract.
//
// Invariants checked on every input (a violation aborts, which libFuzzer reports as a crash):
// - extraction either succeeds or throws pyenv::Error with Status::kArchive naming the
//   archive; no other exception, status, crash or sanitizer report;
// - nothing is written outside the target: the workspace around it holds exactly what it
//   held before (the archive, an empty sentinel directory beside the target), plus the
//   target itself after a success;
// - a failure leaves nothing behind: no target, no staging directory beside it;
// - what a success wrote holds only regular files, directories and links, with no setuid,
//   setgid or sticky bit; under `symlinks: within`, every link stays inside the target.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <system_error>

#include "archive/extract.hpp"
#include "error.hpp"
#include "util/fs.hpp"

namespace {

namespace fs = std::filesystem;

struct Workspace {
  fs::path root;      // a fresh temp directory, removed at exit
  fs::path input;     // root/input: the archive's bytes
  fs::path area;      // root/area: holds the target and the sentinel
  fs::path target;    // root/area/out: the extraction's destination
  fs::path sentinel;  // root/area/sentinel: must stay empty
};

void remove_workspace();

const Workspace &workspace() {
  static const Workspace ws = [] {
    // Every input writes and removes a tree: on tmpfs that is several times faster.
    const char *tmp = std::getenv("TMPDIR");
    std::string base = tmp && *tmp ? tmp : ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string pattern = base + "/pyenv-archive-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    Workspace w;
    w.root = pattern;
    w.input = w.root / "input";
    w.area = w.root / "area";
    w.target = w.area / "out";
    w.sentinel = w.area / "sentinel";
    fs::create_directories(w.sentinel);
    std::atexit(remove_workspace);
    return w;
  }();
  return ws;
}

void remove_workspace() { pyenv::fsx::remove_tree(workspace().root); }

[[noreturn]] void violated(const std::string &what) {
  std::fprintf(stderr, "archive_fuzz: invariant violated: %s\n", what.c_str());
  std::abort();
}

// Every path under the workspace root except what lies below the target, relative to root.
// Links are listed, never followed.
std::set<std::string> outside_of_target(const Workspace &ws) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(ws.root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    out.insert(fs::relative(it->path(), ws.root).string());
    if (it->path() == ws.target) it.disable_recursion_pending();
  }
  if (ec) violated("cannot list " + ws.root.string() + ": " + ec.message());
  return out;
}

// What a successful extraction wrote: only safe kinds and modes, links confined when asked.
void check_tree(const Workspace &ws, pyenv::SymlinkPolicy policy) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(ws.target, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) violated("cannot lstat " + it->path().string());
    if (st.st_mode & (S_ISUID | S_ISGID | S_ISVTX)) {
      violated(it->path().string() + " kept a setuid, setgid or sticky bit");
    }
    if (S_ISLNK(st.st_mode)) {
      if (policy == pyenv::SymlinkPolicy::kReject) violated(it->path().string() + " is a link");
      if (policy == pyenv::SymlinkPolicy::kWithin) {
        const std::string text = fs::read_symlink(it->path()).string();
        const fs::path where = fs::relative(it->path(), ws.target).parent_path();
        if (text.empty() || text.front() == '/' ||
            !pyenv::fsx::confined_relative((where / text).string())) {
          violated(it->path().string() + " links to \"" + text + "\", outside the target");
        }
      }
    } else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
      violated(it->path().string() + " is neither a file, a directory nor a link");
    }
  }
  if (ec) violated("cannot walk " + ws.target.string() + ": " + ec.message());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const Workspace &ws = workspace();
  {
    std::ofstream out(ws.input, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(data), static_cast<std::streamsize>(size));
    if (!out) violated("cannot write " + ws.input.string());
  }
  const std::set<std::string> before = outside_of_target(ws);

  // Small limits keep each run fast and its memory bounded; the symbolic link policy comes
  // from the input's length, so that the same bytes always take the same path.
  pyenv::archive::Limits limits;
  limits.max_bytes = 16u << 20;
  limits.max_entries = 4096;
  limits.threads = 2;
  limits.symlinks = static_cast<pyenv::SymlinkPolicy>(size % 3);

  bool extracted = false;
  try {
    pyenv::archive::extract(ws.input, ws.target, limits, pyenv::Logger());
    extracted = true;
  } catch (const pyenv::Error &e) {
    const std::string message = e.what();
    if (e.status() != pyenv::Status::kArchive) {
      violated("status " + std::to_string(static_cast<int>(e.status())) + ": " + message);
    }
    if (message.find(ws.input.string()) == std::string::npos) {
      violated("the message does not name the archive: " + message);
    }
  }
  // Any other exception escapes to libFuzzer, which reports it as a crash (uncaught).

  std::set<std::string> expected = before;
  if (extracted) {
    expected.insert(fs::relative(ws.target, ws.root).string());
  }
  const std::set<std::string> after = outside_of_target(ws);
  if (after != expected) {
    std::string diff;
    for (const std::string &p : after) {
      if (!expected.count(p)) diff += " +" + p;
    }
    for (const std::string &p : expected) {
      if (!after.count(p)) diff += " -" + p;
    }
    violated(std::string(extracted ? "after a success" : "after a failure") +
             ", the workspace changed:" + diff);
  }
  if (extracted) {
    check_tree(ws, limits.symlinks);
    std::vector<std::string> failures = pyenv::fsx::remove_tree(ws.target);
    if (!failures.empty()) violated("cannot clean up: " + failures.front());
  }
  return 0;
}
