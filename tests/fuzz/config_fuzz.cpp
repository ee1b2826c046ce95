// libFuzzer target: arbitrary text as config_yaml through pyenv::parse_config.
//
// Invariant: the result is a Config or a pyenv::Error with Status::kConfig; never another
// exception (yaml-cpp's own, std::out_of_range, ...), a crash or a sanitizer report. A
// Config that parses also answers its derived questions without surprises.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "config/config.hpp"
#include "error.hpp"

namespace {

[[noreturn]] void violated(const std::string &what) {
  std::fprintf(stderr, "config_fuzz: invariant violated: %s\n", what.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pyenv::ConfigSources sources;
  sources.text = std::string(reinterpret_cast<const char *>(data), size);
  // Relative paths resolve against this; the parser must not need it to exist.
  sources.working_dir = "/nonexistent/pyenv-config-fuzz";
  try {
    pyenv::Config config = pyenv::parse_config(sources);
    (void)config.dependency_fingerprint();
    (void)config.executable_home_in_archives();
    for (const pyenv::PythonArchive &a : config.archives) {
      if (a.target.empty() || a.target.find('/') != std::string::npos || a.target == "." ||
          a.target == "..") {
        violated("archive target \"" + a.target + "\" is not one plain name");
      }
    }
  } catch (const pyenv::Error &e) {
    if (e.status() != pyenv::Status::kConfig) {
      violated("status " + std::to_string(static_cast<int>(e.status())) + ": " + e.what());
    }
  } catch (const std::exception &e) {
    violated(std::string("an exception other than pyenv::Error: ") + e.what());
  }
  return 0;
}
