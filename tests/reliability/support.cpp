#include "support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

extern char **environ;

namespace pyenv::test::reliability {

bool running_as_root() { return ::geteuid() == 0; }

std::unique_ptr<Tmpfs> Tmpfs::mount(const std::string &options, bool read_only, std::string &why) {
  std::unique_ptr<Tmpfs> fs(new Tmpfs());
  if (!running_as_root()) {
    why = "mounting a tmpfs needs root (running as uid " + std::to_string(::geteuid()) + ")";
    return nullptr;
  }
  if (::mount("tmpfs", fs->path().c_str(), "tmpfs", read_only ? MS_RDONLY : 0, options.c_str()) !=
      0) {
    why = "mount -t tmpfs -o " + options + " " + fs->path().string() + ": " + std::strerror(errno);
    return nullptr;
  }
  fs->mounted_ = true;
  return fs;
}

std::string Tmpfs::remount(const std::string &options, bool read_only) {
  if (::mount("tmpfs", path().c_str(), "tmpfs", MS_REMOUNT | (read_only ? MS_RDONLY : 0),
              options.c_str()) != 0) {
    return "remount " + path().string() + " (" + options + (read_only ? ", ro" : ", rw") +
           "): " + std::strerror(errno);
  }
  return "";
}

Tmpfs::~Tmpfs() {
  // Lazily: the mount goes even when something still holds a descriptor in it, and the
  // TempDir under it is then an empty directory again.
  if (mounted_) ::umount2(path().c_str(), MNT_DETACH);
}

Outcome outcome_of(const std::function<void()> &call) {
  try {
    call();
    return {};
  } catch (const pyenv::host::Error &e) {
    return {e.status(), e.what()};
  }
}

const char *status_name(pyenv_status status) {
  switch (status) {
    case PYENV_OK:
      return "PYENV_OK";
    case PYENV_ERROR:
      return "PYENV_ERROR";
    case PYENV_EINVAL:
      return "PYENV_EINVAL";
    case PYENV_ECONFIG:
      return "PYENV_ECONFIG";
    case PYENV_EIO:
      return "PYENV_EIO";
    case PYENV_EARCHIVE:
      return "PYENV_EARCHIVE";
    case PYENV_ESTATE:
      return "PYENV_ESTATE";
    case PYENV_EPYTHON:
      return "PYENV_EPYTHON";
    case PYENV_ENOMEM:
      return "PYENV_ENOMEM";
  }
  return "unknown status";
}

std::ostream &operator<<(std::ostream &out, const Outcome &outcome) {
  return out << status_name(outcome.status) << ": " << outcome.message;
}

void print_outcome(const Outcome &outcome) {
  const ::testing::TestInfo *test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::printf("[ outcome  ] %s.%s: %s: %s\n", test ? test->test_suite_name() : "?",
              test ? test->name() : "?", status_name(outcome.status), outcome.message.c_str());
}

std::function<void(int, const char *)> LogLines::sink() {
  return [this](int, const char *message) {
    std::function<void(const std::string &)> hook;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.emplace_back(message);
      hook = hook_;
    }
    if (hook) hook(message);
  };
}

void LogLines::set_hook(std::function<void(const std::string &)> hook) {
  std::lock_guard<std::mutex> lock(mutex_);
  hook_ = std::move(hook);
}

size_t LogLines::count(const std::string &part) const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  for (const std::string &line : lines_) n += line.find(part) != std::string::npos;
  return n;
}

std::string LogLines::dump() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const std::string &line : lines_) out += "  " + line + "\n";
  return out;
}

std::vector<fs::path> base_dirs_in(const fs::path &tmp) {
  std::vector<fs::path> out;
  for (const std::string &name : names_in(tmp)) {
    if (name.rfind("python-dist-", 0) == 0) out.push_back(tmp / name);
  }
  return out;
}

std::vector<std::string> names_in(const fs::path &dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    out.push_back(it->path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> cache_problems(const fs::path &cache) {
  std::vector<std::string> problems;
  for (const std::string &name : names_in(cache / "staging")) {
    problems.push_back("staging left: " + (cache / "staging" / name).string());
  }
  for (const std::string &name : names_in(cache / "trees")) {
    const fs::path tree = cache / "trees" / name;
    struct stat st {};
    if (name.size() != 64 || ::lstat(tree.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      problems.push_back("not a published tree: " + tree.string());
      continue;
    }
    if (st.st_mode & 0222) problems.push_back("published tree not sealed: " + tree.string());
    // The lock file of a published tree records its size, for eviction.
    std::ifstream lock(cache / "locks" / (name + ".lock"));
    unsigned long long size = 0;
    if (!(lock >> size)) problems.push_back("published tree without a size record: " + name);
  }
  return problems;
}

std::vector<Entry> many_files(size_t count, size_t size, unsigned seed) {
  std::mt19937 random(seed);
  std::vector<Entry> entries;
  char name[64];
  for (size_t i = 0; i < count; ++i) {
    std::snprintf(name, sizeof name, "d%03zu/f%05zu.txt", i / 40, i);
    // Text-like bytes: compressible, like the sources of a real environment, so that a
    // tar.gz is cheap to write and the extraction is dominated by creating files.
    std::string data;
    data.reserve(size);
    while (data.size() < size) {
      data += "line " + std::to_string(random() % 100000) + " of " + name + "\n";
    }
    data.resize(size);
    entries.push_back(file_entry(name, data));
  }
  return entries;
}

// Extracted trees ("d0..." directories) are never walked: only the way to staging.
bool extraction_reached(const fs::path &root, const std::string &marker, int depth) {
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
    if (name.find(".staging-") != std::string::npos) {
      if (fs::exists(it->path() / marker, ec)) return true;
      continue;
    }
    if (depth > 1 && name.rfind("d0", 0) != 0 && extraction_reached(it->path(), marker, depth - 1))
      return true;
  }
  return false;
}

bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!stat || !std::getline(stat, text)) return true;
  // The state follows the command name, which is in parentheses and may hold anything.
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return true;
  const char state = text[paren + 2];
  return state == 'Z' || state == 'X';
}

bool wait_for(const std::function<bool()> &done, milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

Child::Child(const std::vector<std::string> &argv, const std::vector<std::string> &extra_env) {
  int to_child[2];
  int from_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
  std::vector<std::string> env_strings;
  for (char **e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const std::string &e : extra_env) env_strings.push_back(e);
  std::vector<char *> envp;
  for (std::string &e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char *> args;
  for (const std::string &a : argv) args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  const int err = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(to_child[0]);
  ::close(from_child[1]);
  in_ = to_child[1];
  out_ = from_child[0];
  if (err != 0) {
    ::close(in_);
    ::close(out_);
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(err));
  }
}

Child::~Child() {
  if (!reaped_) {
    kill(SIGKILL);
    wait();
  }
  close_input();
  ::close(out_);
}

std::optional<std::string> Child::read_line(milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const size_t nl = pending_.find('\n');
    if (nl != std::string::npos) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      return line;
    }
    const auto left =
        std::chrono::duration_cast<milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    struct pollfd p {
      out_, POLLIN, 0
    };
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    char buffer[4096];
    const ssize_t n = ::read(out_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    pending_.append(buffer, static_cast<size_t>(n));
  }
}

std::optional<std::string> Child::read_until(const std::string &prefix, milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(until - std::chrono::steady_clock::now());
    std::optional<std::string> line = read_line(std::max(left, milliseconds(0)));
    if (!line || line->rfind(prefix, 0) == 0) return line;
  }
}

void Child::write_line(const std::string &line) {
  const std::string text = line + "\n";
  if (::write(in_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    throw std::runtime_error("cannot write to child " + std::to_string(pid_));
  }
}

void Child::close_input() {
  if (in_ >= 0) ::close(in_);
  in_ = -1;
}

void Child::kill(int signal) {
  if (!reaped_) ::kill(pid_, signal);
}

int Child::wait() {
  while (!reaped_) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, 0);
    if (r == pid_) {
      status_ = status;
      reaped_ = true;
    } else if (r < 0 && errno != EINTR) {
      reaped_ = true;
      status_ = -1;
    }
  }
  return status_;
}

size_t open_fds() {
  size_t n = 0;
  DIR *dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  while (dirent *entry = ::readdir(dir)) n += entry->d_name[0] != '.';
  ::closedir(dir);
  return n - 1;  // the listing's own descriptor
}

size_t rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

fs::path write_hanging_python(const fs::path &dir, const fs::path &hang, const fs::path &pids) {
  const fs::path script = dir / "python";
  // dash: no job control, so the sleeping child stays in the script's process group, as a
  // build step started by pip would.
  write_file(script,
             "#!/bin/sh\n"
             "if [ \"$1\" = -m ] && [ \"$2\" = pip ] && [ -e '" +
                 hang.string() +
                 "' ]; then\n"
                 "  sleep 1000 &\n"
                 "  echo \"$$ $!\" > '" +
                 pids.string() +
                 ".tmp'\n"
                 "  mv '" +
                 pids.string() + ".tmp' '" + pids.string() +
                 "'\n"
                 "  wait\n"
                 "  exit 1\n"
                 "fi\n"
                 "exec /usr/bin/python3 \"$@\"\n",
             0755);
  return script;
}

std::optional<std::pair<pid_t, pid_t>> read_pids(const fs::path &pids) {
  std::ifstream in(pids);
  long first = 0;
  long second = 0;
  if (!(in >> first >> second)) return std::nullopt;
  return std::make_pair(static_cast<pid_t>(first), static_cast<pid_t>(second));
}

pyenv::host::Options options_for(const std::string &job_id, const std::vector<fs::path> &tmp_dirs,
                                 const std::string &yaml, LogLines *log) {
  pyenv::host::Options options;
  options.job_id = job_id;
  for (const fs::path &dir : tmp_dirs) options.tmp_dirs.push_back(dir.string());
  options.config_yaml = yaml;
  // pip must not reach the network nor the machine's configuration.
  options.system_env = {"PATH=/usr/bin:/bin", "PIP_CONFIG_FILE=/dev/null",
                        "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1", "PIP_NO_CACHE_DIR=1"};
  if (log != nullptr) options.log = log->sink();
  return options;
}

std::string crash_child_path() { return PYENV_CRASH_CHILD; }
std::string stress_worker_path() { return PYENV_STRESS_WORKER; }

}  // namespace pyenv::test::reliability
