#include "helpers.hpp"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/fixture.hpp"

namespace pyenv::test {

Ran run_host(const std::string &args, const std::filesystem::path &dir,
             const std::string &stdin_text) {
  write_file(dir / "stdin", stdin_text);
  const std::string command = std::string(PYENV_HOST_PATH) + " " + args + " <" +
                              (dir / "stdin").string() + " >" + (dir / "out").string() + " 2>" +
                              (dir / "err").string();
  Ran ran;
  const int raw = std::system(command.c_str());
  ran.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  ran.out = read_file(dir / "out");
  ran.err = read_file(dir / "err");
  return ran;
}

bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!stat || !std::getline(stat, text)) return true;
  // The state follows the command name, which is in parentheses and may hold anything.
  size_t paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return true;
  char state = text[paren + 2];
  return state == 'Z' || state == 'X';
}

bool wait_gone(pid_t pid, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!process_gone(pid)) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

Logger LogRecorder::logger() {
  return Logger(
      [this](LogLevel level, const std::string &text) {
        std::lock_guard<std::mutex> lock(mutex_);
        lines_.push_back({level, text});
      },
      [this](const char *phase, uint64_t done, uint64_t total) {
        std::lock_guard<std::mutex> lock(mutex_);
        progress_.push_back({phase, done, total});
      });
}

std::vector<LogRecorder::Line> LogRecorder::lines() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lines_;
}

std::vector<LogRecorder::Progress> LogRecorder::progress() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return progress_;
}

std::vector<std::string> LogRecorder::starting_with(const std::string &prefix) const {
  std::vector<std::string> out;
  for (const Line &line : lines()) {
    if (line.text.rfind(prefix, 0) == 0) out.push_back(line.text);
  }
  return out;
}

size_t LogRecorder::count(LogLevel level) const {
  size_t n = 0;
  for (const Line &line : lines()) n += line.level == level;
  return n;
}

std::string LogRecorder::dump() const {
  std::ostringstream out;
  for (const Line &line : lines()) out << static_cast<int>(line.level) << " " << line.text << "\n";
  return out.str();
}

}  // namespace pyenv::test
