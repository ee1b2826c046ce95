// CONFORMANCE.md, "Executable from archives": X1-X10.
#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

using pyenv::host::Error;

class ExecutableFromArchives : public ConformanceTest {
 protected:
  // Opens a manager with `executable` and archives given as "name#target" (each name a
  // small zip made here), and returns its environment.
  pyenv::host::Environment open_with(const std::string &executable,
                                     const std::vector<std::string> &archives) {
    std::string list;
    for (const std::string &spec : archives) {
      std::string name = spec.substr(0, spec.find('#'));
      if (!fs::exists(T / name)) write_zip(T / name, {file_entry("bin/python", "#!", 0755)});
      list += (list.empty() ? "" : ", ") + (T / spec).string();
    }
    manager_.emplace(create("python.executable: " + executable + "\npython.archives: [" + list +
                            "]\n"));
    manager_->open();
    W_ = base_dir() / "python-archives";
    return manager_->create_environment();
  }

  // The status and message of creating a manager with this configuration.
  std::pair<pyenv_status, std::string> create_error(const std::string &yaml) {
    try {
      create(yaml);
    } catch (const Error &e) {
      return {e.status(), e.what()};
    }
    return {PYENV_OK, ""};
  }

  std::optional<pyenv::host::Manager> manager_;
  fs::path W_;
};

TEST_F(ExecutableFromArchives, X1) {
  auto env = open_with("py312.zip/bin/python", {"zip0#py312.zip", "zip1#py312"});
  EXPECT_EQ(env.python_home(), (W_ / "py312.zip").string());
  EXPECT_EQ(env.python_exec(), (W_ / "py312.zip/bin/python").string());
}

TEST_F(ExecutableFromArchives, X2) {
  auto env = open_with("venv/bin/python", {"venv.zip#venv"});
  EXPECT_EQ(env.python_home(), (W_ / "venv").string());
  EXPECT_EQ(env.python_exec(), (W_ / "venv/bin/python").string());
}

TEST_F(ExecutableFromArchives, X3) {
  auto env = open_with("venv/bin/python", {"venv.zip"});
  EXPECT_EQ(env.python_exec(), "venv/bin/python");
  EXPECT_FALSE(env.python_home());
  EXPECT_TRUE(fs::is_directory(W_ / "venv.zip" / "bin"));
}

TEST_F(ExecutableFromArchives, X4) {
  auto env = open_with("/usr/bin/python3", {"v.zip#venv"});
  EXPECT_EQ(env.python_exec(), "/usr/bin/python3");
  EXPECT_FALSE(env.python_home());
}

TEST_F(ExecutableFromArchives, X5) {
  auto env = open_with("robin/bin/python", {"r.zip#robin"});
  EXPECT_EQ(env.python_home(), (W_ / "robin").string());
}

TEST_F(ExecutableFromArchives, X6) {
  auto env = open_with("venv/bin/python-binary", {"v.zip#venv"});
  EXPECT_EQ(env.python_home(), (W_ / "venv").string());
  EXPECT_EQ(env.python_exec(), (W_ / "venv/bin/python-binary").string());
}

TEST_F(ExecutableFromArchives, X7) {
  auto [status, message] =
      create_error("python.executable: python\npython.archives: " + (T / "p.zip").string() +
                   "#python\n");
  EXPECT_EQ(status, PYENV_ECONFIG);
  EXPECT_NE(message.find("python.executable"), std::string::npos) << message;
  EXPECT_NE(message.find("bin"), std::string::npos) << message;
}

TEST_F(ExecutableFromArchives, X8) {
  auto [status, message] =
      create_error("python.executable: /usr/bin/python3\npython.archives: " +
                   (T / "x.zip").string() + "#\n");
  EXPECT_EQ(status, PYENV_ECONFIG);
  EXPECT_NE(message.find("python.archives[0]"), std::string::npos) << message;
  EXPECT_NE(message.find("empty target"), std::string::npos) << message;
}

TEST_F(ExecutableFromArchives, X9) {
  for (const std::string target : {"../up", "a/b", ".", ".."}) {
    auto [status, message] = create_error("python.archives: " + (T / "a.zip").string() + "#" +
                                          target + "\n");
    EXPECT_EQ(status, PYENV_ECONFIG) << target;
    EXPECT_NE(message.find("single plain name"), std::string::npos) << message;
    EXPECT_NE(message.find(target), std::string::npos) << message;
  }
}

TEST_F(ExecutableFromArchives, X10) {
  auto [status, message] = create_error("python.archives: [" + (T / "a.zip").string() + "#t, " +
                                        (T / "b.zip").string() + "#t]\n");
  EXPECT_EQ(status, PYENV_ECONFIG);
  EXPECT_NE(message.find("python.archives[1]"), std::string::npos) << message;
  EXPECT_NE(message.find("python.archives[0]"), std::string::npos) << message;
}

}  // namespace
}  // namespace pyenv::test
