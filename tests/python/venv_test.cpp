// A packed virtualenv shipped as an archive (like config/venv-archive.yaml): bin/python links
// to the machine's python3, pyvenv.cfg names its home, and its site-packages holds the job's
// module. The venv is not the machine's plain Python, so it has an executable of its own.
#include "python/python_support.hpp"

namespace pyenv::test {
namespace {

using python::Interpreter;

class PackedVenv : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir;
    write_zip(*tmp_ / "venv.zip",
              {link_entry("bin/python", "/usr/bin/python3"), link_entry("bin/python3", "python"),
               file_entry("pyvenv.cfg",
                          "home = /usr/bin\ninclude-system-site-packages = false\n"
                          "version = 3.11.2\n"),
               file_entry("lib/python3.11/site-packages/venvmod.py",
                          "import sys\n"
                          "def f(b):\n"
                          "    return sys.prefix.encode() + b':' + b\n")});
    manager_ = open_manager(tmp_->path(), "python.archives: " + (*tmp_ / "venv.zip").string() +
                                              "#venv\n"
                                              "python.executable: venv/bin/python\n"
                                              "python.systemenv.enabled: false\n")
                   .release();
    env_ = new Environment(manager_->create_environment());
  }
  static void TearDownTestSuite() {
    delete env_;
    delete manager_;
    delete tmp_;
  }

  static TempDir *tmp_;
  static EnvironmentManager *manager_;
  static Environment *env_;
};

TempDir *PackedVenv::tmp_ = nullptr;
EnvironmentManager *PackedVenv::manager_ = nullptr;
Environment *PackedVenv::env_ = nullptr;

TEST_F(PackedVenv, SitePackagesOfTheVenvAreOnThePath) {
  ASSERT_TRUE(env_->python_home);
  auto interpreter = Interpreter::open(*env_, Logger());
  const fs::path venv = fs::canonical(*env_->python_home);
  auto info = Interpreter::running();
  ASSERT_TRUE(info);
  EXPECT_EQ(info->home, "/usr") << "the venv's base interpreter's prefix";
  EXPECT_EQ(info->executable, venv / "bin" / "python");
  EXPECT_EQ(text(interpreter->call_bytes("venvmod:f", "x", 1)), venv.string() + ":x");
  interpreter->exec("import sys\ndef base():\n    return sys.base_prefix\n");
  EXPECT_EQ(interpreter->call_json("base", "[]"), "\"/usr\"");
}

TEST_F(PackedVenv, ThePlainBasePythonIsAnotherPython) {
  auto interpreter = Interpreter::open(*env_, Logger());
  Error e = error_of([&] { Interpreter::open(system_python(), Logger()); });
  EXPECT_EQ(e.status(), Status::kPython);
  EXPECT_NE(std::string(e.what()).find("(venv " + fs::canonical(*env_->python_home).string()),
            std::string::npos)
      << e.what();
}

}  // namespace
}  // namespace pyenv::test
