// host.hpp alone, as C++17: it includes what it uses, and instantiating its templates and
// inline functions gives no warning.
#include <pyenv/host.hpp>
#include <string>

std::string headers_check(const std::string &path) {
  pyenv::host::Plugin plugin = pyenv::host::Plugin::load(path);
  pyenv::host::Options options;
  options.job_id = "job";
  options.tmp_dirs = {"/tmp"};
  options.log = [](int, const char *) {};
  options.progress = [](const char *, uint64_t, uint64_t) {};
  pyenv::host::Manager manager = plugin.create(options);
  manager.open();
  pyenv::host::Environment env = manager.create_environment();
  std::string out = env.to_json() + env.python_exec() + env.python_home().value_or("");
  for (const auto &[key, value] : env.variables()) out += key + value;
  for (const std::string &p : env.paths()) out += p;
  manager.close();
  try {
    manager.open();
  } catch (const pyenv::host::Error &e) {
    out += std::to_string(e.status());
  }
  return out;
}
