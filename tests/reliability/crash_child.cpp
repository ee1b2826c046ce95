// A host process to be killed: loads the plugin through host.hpp, opens one manager and
// then holds it until its stdin closes, so that the parent can SIGKILL it at any point of
// open() or afterwards.
//
//   pyenv_crash_child <tmp dir> <job id> <yaml file> [hold|close|worker]
//
// Its stdout, line by line, for the parent to synchronise on (no sleeps):
//   log <line>                 each log line of the manager, as it happens
//   opened <base dir>          open() returned; then "holding" (hold) or "closed" (close)
//   worker <pid>               (worker) an interpreter handle of a process-mode job runs in
//                              worker <pid>, in the middle of a call; then "holding"
//   failed <status> <message>  open() failed (exit status 1)
// With "hold" it then reads stdin until EOF, so it also goes when the parent dies.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "support/fixture.hpp"

namespace {

// One write per line: the parent reads lines, and a killed child must not leave half of
// one in a stdio buffer.
void say(const std::string &line) {
  std::string text = line;
  for (char &c : text) {
    if (c == '\n') c = ' ';
  }
  text += '\n';
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s <tmp dir> <job id> <yaml file> [hold|close|worker]\n",
                 argv[0]);
    return 2;
  }
  const std::string mode = argc > 4 ? argv[4] : "hold";
  std::ifstream in(argv[3]);
  std::stringstream yaml;
  yaml << in.rdbuf();

  pyenv::host::Options options;
  options.job_id = argv[2];
  options.tmp_dirs = {argv[1]};
  options.config_yaml = yaml.str();
  options.system_env = {"PATH=/usr/bin:/bin", "PIP_CONFIG_FILE=/dev/null",
                        "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1", "PIP_NO_CACHE_DIR=1"};
  options.log = [](int, const char *message) { say(std::string("log ") + message); };
  try {
    pyenv::host::Manager manager = pyenv::test::plugin().create(options);
    manager.open();
    pyenv::host::Environment env = manager.create_environment();
    say("opened " + env.getenv("BOOT_LOG_DIR").value_or(""));
    if (mode == "close") {
      manager.close();
      say("closed");
      return 0;
    }
    std::optional<pyenv::host::Interpreter> interp;
    std::thread caller;
    if (mode == "worker") {
      interp.emplace(env.interpreter());
      say("worker " + interp->call_json("os:getpid"));
      // Killed in the middle of a call that would last an hour.
      caller = std::thread([&] { interp->call_json("time:sleep", "[3600]"); });
    }
    say("holding");
    char buffer[256];
    while (::read(STDIN_FILENO, buffer, sizeof buffer) > 0) {
    }
    // The parent kills a "worker" child; one that reads EOF first exits without waiting.
    if (caller.joinable()) std::_Exit(0);
    return 0;
  } catch (const pyenv::host::Error &e) {
    say("failed " + std::to_string(e.status()) + " " + e.what());
    return 1;
  }
}
