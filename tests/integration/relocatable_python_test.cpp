// A real relocatable Python shipped in an archive: the machine's interpreter and standard
// library packed in a venv-like layout, extracted by libpyenv, and run with the home it
// reports.
#include <cstdio>

#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

// Packs `dir`'s regular files (skipping tests and caches) under `prefix` in the zip entries.
void add_tree(const fs::path &dir, const std::string &prefix, std::vector<Entry> &entries) {
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::end(it); ++it) {
    const std::string name = it->path().filename().string();
    if (it->is_directory() &&
        (name == "test" || name == "__pycache__" || name == "idlelib" || name == "tkinter" ||
         name == "site-packages" || name == "dist-packages")) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && !it->is_symlink()) {
      entries.push_back(file_entry(prefix + fs::relative(it->path(), dir).string(),
                                   read_file(it->path()), mode_of(it->path())));
    }
  }
}

// Runs `command` and returns its standard output.
std::string run(const std::string &command) {
  std::string out;
  FILE *pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

class RelocatablePython : public ConformanceTest {};

TEST_F(RelocatablePython, RunsFromTheArchiveWithItsHome) {
  const fs::path python = fs::canonical("/usr/bin/python3");
  const std::string version = python.filename().string();  // python3.11
  std::vector<Entry> entries = {file_entry("bin/python3", read_file(python), 0755),
                                link_entry("bin/python", "python3")};
  add_tree("/usr/lib/" + version, "lib/" + version + "/", entries);
  write_zip(T / "env.zip", entries);

  auto manager = create("python.archives: " + (T / "env.zip").string() + "#env\n" +
                        "python.executable: env/bin/python3\n");
  manager.open();
  auto env = manager.create_environment();
  const fs::path W = base_dir() / "python-archives";
  ASSERT_EQ(env.python_home(), (W / "env").string());
  ASSERT_EQ(env.python_exec(), (W / "env" / "bin" / "python3").string());
  EXPECT_EQ(mode_of(env.python_exec()), 0755u);

  std::string out =
      run("cd " + *env.working_directory() + " && env -i PYTHONHOME=" + *env.python_home() + " " +
          env.python_exec() + " -c 'import sys, json; print(sys.prefix); print(json.dumps([1]))'");
  EXPECT_EQ(out, *env.python_home() + "\n[1]\n");
}

}  // namespace
}  // namespace pyenv::test
