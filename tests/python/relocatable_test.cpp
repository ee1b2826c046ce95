// A relocatable Python shipped in an archive: the machine's interpreter, standard library and
// libpython packed in a prefix layout, extracted by a real EnvironmentManager, and embedded
// with the archive's home and the archive's own libpython. Its own executable: the home is
// not the machine's.
#include <thread>

#include "python/python_support.hpp"

namespace pyenv::test {
namespace {

using python::Interpreter;

// Packs `dir`'s regular files (skipping tests and caches) under `prefix` in the zip entries.
void add_tree(const fs::path &dir, const std::string &prefix, std::vector<Entry> &entries) {
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::end(it); ++it) {
    const std::string name = it->path().filename().string();
    if (it->is_directory() &&
        (name == "test" || name == "__pycache__" || name == "idlelib" || name == "tkinter" ||
         name == "site-packages" || name == "dist-packages" || name == "lib2to3")) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && !it->is_symlink()) {
      entries.push_back(file_entry(prefix + fs::relative(it->path(), dir).string(),
                                   read_file(it->path()), mode_of(it->path())));
    }
  }
}

// One archive and one manager for the whole suite: run directly, all tests share one process
// and so one CPython, which must keep one home.
class RelocatablePython : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir;
    const fs::path python = fs::canonical("/usr/bin/python3");
    const std::string version = python.filename().string();  // python3.11
    const fs::path libpython = fs::canonical("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0");
    std::vector<Entry> entries = {
        file_entry("bin/python3", read_file(python), 0755),
        link_entry("bin/python", "python3"),
        file_entry("lib/" + libpython.filename().string(), read_file(libpython), 0755),
        link_entry("lib/libpython3.11.so", libpython.filename().string()),
        // Debian's site.py, packed with the rest of its standard library, names
        // dist-packages where an upstream build's names site-packages.
        file_entry("lib/" + version + "/dist-packages/archived.py",
                   "def f(b):\n    return b'archived:' + b\n"),
    };
    add_tree("/usr/lib/" + version, "lib/" + version + "/", entries);
    write_zip(*tmp_ / "env.zip", entries, /*stored=*/true);
    write_file(*tmp_ / "relmod.py",
               "import json\n"
               "def f(b):\n"
               "    return json.dumps({'record': b.decode()}).encode()\n");
    yaml_ = new std::string("python.archives: " + (*tmp_ / "env.zip").string() +
                            "#env\n"
                            "python.executable: env/bin/python3\n"
                            "python.systemenv.enabled: false\n"
                            "python.files: " +
                            (*tmp_ / "relmod.py").string() + "\n");
    manager_ = open_manager(tmp_->path(), *yaml_).release();
    env_ = new Environment(manager_->create_environment());
  }
  static void TearDownTestSuite() {
    delete env_;
    delete manager_;
    delete yaml_;
    delete tmp_;
  }
  void SetUp() override { ASSERT_TRUE(env_->python_home); }

  static TempDir *tmp_;
  static std::string *yaml_;
  static EnvironmentManager *manager_;
  static Environment *env_;
};

TempDir *RelocatablePython::tmp_ = nullptr;
std::string *RelocatablePython::yaml_ = nullptr;
EnvironmentManager *RelocatablePython::manager_ = nullptr;
Environment *RelocatablePython::env_ = nullptr;

TEST_F(RelocatablePython, RunsWithTheArchivesHomeAndLibpython) {
  auto interpreter = Interpreter::open(*env_, Logger());
  const fs::path home = fs::canonical(*env_->python_home);
  auto info = Interpreter::running();
  ASSERT_TRUE(info);
  EXPECT_EQ(info->home, home);
  EXPECT_EQ(info->libpython, home / "lib" / "libpython3.11.so.1.0");

  interpreter->exec(
      "import sys, json, _decimal, _json\n"
      "def facts():\n"
      "    return [sys.prefix, sys.base_prefix,\n"
      "            any(p.startswith('/usr/lib/python3') for p in sys.path)]\n");
  EXPECT_EQ(interpreter->call_json("facts", "[]"),
            "[\"" + home.string() + "\", \"" + home.string() + "\", false]");
  EXPECT_EQ(text(interpreter->call_bytes("relmod:f", "r1", 2)), R"({"record": "r1"})");
  // site.py found the archive's own site-packages.
  EXPECT_EQ(text(interpreter->call_bytes("archived:f", "x", 1)), "archived:x");

  // The machine's libpython was never loaded.
  const std::string maps = read_file("/proc/self/maps");
  EXPECT_EQ(maps.find("/usr/lib/x86_64-linux-gnu/libpython"), std::string::npos);
  EXPECT_NE(maps.find((home / "lib" / "libpython3.11.so.1.0").string()), std::string::npos);

  // Host threads work the same with this home.
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string r = std::to_string(t * 1000 + i);
        if (text(interpreter->call_bytes("relmod:f", r.data(), r.size())) !=
            "{\"record\": \"" + r + "\"}") {
          ++wrong;
        }
      }
    });
  }
  for (auto &thread : threads) thread.join();
  EXPECT_EQ(wrong, 0);
}

TEST_F(RelocatablePython, TheSameHomeAgainIsFineAnotherIsRefused) {
  auto interpreter = Interpreter::open(*env_, Logger());
  // The same environment again (a task of the same job): joins the running CPython.
  auto again = Interpreter::open(manager_->create_environment(), Logger());
  EXPECT_EQ(again->call_json("len", "[[1]]"), "1");

  Error e = error_of([&] { Interpreter::open(system_python(), Logger()); });
  EXPECT_EQ(e.status(), Status::kPython);
  const std::string message = e.what();
  EXPECT_NE(message.find("home /usr"), std::string::npos) << message;
  EXPECT_NE(message.find("home " + fs::canonical(*env_->python_home).string()), std::string::npos)
      << message;
}

// A job that fails over opens its environment again: a new base directory, but the archive
// cache's same tree, so the same home and the running CPython stays valid.
TEST_F(RelocatablePython, AJobReopeningItsEnvironmentGetsTheSameHome) {
  auto interpreter = Interpreter::open(*env_, Logger());
  auto reopened = open_manager(tmp_->path(), *yaml_);
  const Environment env = reopened->create_environment();
  ASSERT_TRUE(env.python_home);
  EXPECT_NE(*env.python_home, *env_->python_home);
  EXPECT_EQ(fs::canonical(*env.python_home), fs::canonical(*env_->python_home));
  auto again = Interpreter::open(env, Logger());
  EXPECT_EQ(text(again->call_bytes("relmod:f", "r2", 2)), R"({"record": "r2"})");
  // The first job goes; the second keeps working.
  interpreter.reset();
  EXPECT_EQ(text(again->call_bytes("relmod:f", "r3", 2)), R"({"record": "r3"})");
}

}  // namespace
}  // namespace pyenv::test
