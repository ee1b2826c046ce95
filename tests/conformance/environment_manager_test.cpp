// CONFORMANCE.md, "Environment manager": C1-C9, through the built plugin's C ABI.
#include <thread>

#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

using Env = std::map<std::string, std::string>;
using pyenv::host::Error;

class EnvironmentManager : public ConformanceTest {};

TEST_F(EnvironmentManager, C1_Executable) {
  auto manager = create("python.executable: /usr/local/bin/python\n");
  manager.open();
  const fs::path B = base_dir();
  auto env = manager.create_environment();

  EXPECT_EQ(env.variables(), basic_env(B, "/usr/local/bin/python"));
  EXPECT_FALSE(env.getenv("PYTHONPATH"));
  EXPECT_EQ(env.python_exec(), "/usr/local/bin/python");
  EXPECT_EQ(env.exec_type(), 0);
  EXPECT_FALSE(env.python_home());
  EXPECT_FALSE(env.working_directory());
  EXPECT_TRUE(env.paths().empty());
}

TEST_F(EnvironmentManager, C2_PythonFiles) {
  auto manager = create("python.files: [" + (T / "zip0").string() + "#test_zip.zip, " +
                        (T / "file1").string() + "#test_file1.py, " + (T / "file2").string() +
                        "#test_file2.egg, " + (T / "dir0").string() + "#test_dir]\n" +
                        "python.executable: python\n");
  manager.open();
  const fs::path F = base_dir() / "python-files";
  auto env = manager.create_environment();

  const std::vector<std::string> expected = {
      (F / "zip0" / "test_zip").string(), (F / "file1").string(),
      (F / "file2" / "test_file2.egg").string(), (F / "dir0" / "test_dir").string()};
  EXPECT_EQ(env.getenv("PYTHONPATH"), expected[0] + ":" + expected[1] + ":" + expected[2] + ":" +
                                          expected[3]);
  EXPECT_EQ(env.paths(), expected);

  EXPECT_EQ(read_file(F / "file1" / "test_file1.py"), std::string(1, '\1'));
  EXPECT_EQ(read_file(F / "zip0" / "test_zip" / "zipDir0" / "zipfile0"), std::string(5, '\1'));
  EXPECT_EQ(read_file(F / "zip0" / "test_zip" / "zipDir0" / "zipfile1"), std::string(5, '\2'));
  EXPECT_EQ(read_file(F / "file2" / "test_file2.egg"), std::string(1, '\2'));
  EXPECT_EQ(list_tree(F / "dir0" / "test_dir"), list_tree(T / "dir0"));
  EXPECT_EQ(read_file(F / "dir0" / "test_dir" / "file1"), std::string(1, '\1'));
}

TEST_F(EnvironmentManager, C3_Archives) {
  auto manager = create("python.archives: [" + (T / "zip0").string() + "#py312.zip, " +
                        (T / "zip1").string() + "#py312]\n" +
                        "python.executable: py312.zip/bin/python\n");
  manager.open();
  const fs::path B = base_dir();
  const fs::path W = B / "python-archives";
  auto env = manager.create_environment();

  Env expected = basic_env(B, "py312.zip/bin/python");
  expected["_PYTHON_WORKING_DIR"] = W.string();
  EXPECT_EQ(env.variables(), expected);

  EXPECT_EQ(read_file(W / "py312.zip" / "zipDir0" / "zipfile0"), std::string(5, '\1'));
  EXPECT_EQ(read_file(W / "py312" / "zipDir1" / "zipfile1"), std::string(5, '\2'));
  EXPECT_EQ(mode_of(W / "py312.zip" / "zipDir0" / "zipfile0"), 0711u);
  EXPECT_EQ(mode_of(W / "py312.zip" / "zipDir0" / "zipfile1"), 0644u);
  EXPECT_EQ(mode_of(W / "py312" / "zipDir1" / "zipfile0"), 0711u);

  EXPECT_EQ(env.working_directory(), W.string());
  EXPECT_EQ(env.python_home(), (W / "py312.zip").string());
  EXPECT_EQ(env.python_exec(), (W / "py312.zip" / "bin" / "python").string());
}

TEST_F(EnvironmentManager, C5_OpenClose) {
  auto manager = create("python.executable: python3\n");
  EXPECT_TRUE(base_dirs().empty()) << "create must not touch the disk";
  manager.open();
  const fs::path B = base_dir();
  EXPECT_TRUE(fs::is_directory(B));
  manager.close();
  EXPECT_FALSE(fs::exists(B));
  manager.close();  // closing again is fine

  pyenv_manager *null_manager = nullptr;
  EXPECT_EQ(api().close(&null_manager), PYENV_OK);
  EXPECT_EQ(api().close(nullptr), PYENV_OK);
}

TEST_F(EnvironmentManager, C6_SharedPerJob) {
  const std::string job = new_job_id();
  const std::string yaml = "python.files: " + (T / "file1").string() + "#a.py\n";
  auto first = create(yaml, {}, job);
  auto second = create(yaml, {}, job);
  first.open();
  second.open();
  const fs::path B = base_dir();
  EXPECT_EQ(first.create_environment().getenv("BOOT_LOG_DIR"), B.string());
  EXPECT_EQ(second.create_environment().getenv("BOOT_LOG_DIR"), B.string());
  first.close();
  EXPECT_TRUE(fs::is_directory(B));
  second.close();
  EXPECT_FALSE(fs::exists(B));
}

TEST_F(EnvironmentManager, C6_DifferentConfigurationGetsItsOwnDirectory) {
  const std::string job = new_job_id();
  auto first = create("python.files: " + (T / "file1").string() + "#a.py\n", {}, job);
  auto second = create("python.files: " + (T / "file2").string() + "#b.py\n", {}, job);
  first.open();
  second.open();
  ASSERT_EQ(base_dirs().size(), 2u);
  EXPECT_NE(first.create_environment().getenv("BOOT_LOG_DIR"),
            second.create_environment().getenv("BOOT_LOG_DIR"));
  EXPECT_EQ(second.create_environment().paths(),
            std::vector<std::string>{
                (fs::path(*second.create_environment().getenv("BOOT_LOG_DIR")) / "python-files" /
                 "file2")
                    .string()});
  first.close();
  second.close();
  EXPECT_TRUE(base_dirs().empty());
}

TEST_F(EnvironmentManager, C6_SameJobFromManyThreadsPreparesOnce) {
  const std::string job = new_job_id();
  const std::string yaml = "python.archives: " + (T / "zip0").string() + "#venv\n";
  std::vector<pyenv::host::Manager> managers;
  for (int i = 0; i < 8; ++i) managers.push_back(create(yaml, {}, job));
  std::vector<std::thread> threads;
  std::vector<std::string> seen(managers.size());
  for (size_t i = 0; i < managers.size(); ++i) {
    threads.emplace_back([&, i] {
      managers[i].open();
      seen[i] = managers[i].create_environment().to_json();
    });
  }
  for (auto &t : threads) t.join();
  const fs::path B = base_dir();
  for (const std::string &json : seen) EXPECT_EQ(json, seen.front());
  for (size_t i = 0; i + 1 < managers.size(); ++i) managers[i].close();
  EXPECT_TRUE(fs::is_directory(B));
  managers.back().close();
  EXPECT_FALSE(fs::exists(B));
}

TEST_F(EnvironmentManager, C8_SystemEnv) {
  auto enabled = create("python.executable: python\n", {"A=1"});
  enabled.open();
  EXPECT_EQ(enabled.create_environment().getenv("A"), "1");
  enabled.close();

  auto disabled = create("python.systemenv.enabled: false\n", {"A=1"});
  disabled.open();
  const fs::path B = base_dir();
  auto env = disabled.create_environment();
  EXPECT_FALSE(env.getenv("A"));
  EXPECT_EQ(env.variables(), basic_env(B));
}

TEST_F(EnvironmentManager, C7_SystemPythonPathAndPythonPathOrder) {
  // The requirements part of C7 needs pip: see tests/integration. Here the rest of the order.
  auto manager = create("python.pythonpath: /pp\npython.files: " + (T / "file1").string() +
                            "#m.py\n",
                        {"PYTHONPATH=/sys"});
  manager.open();
  const fs::path F = base_dir() / "python-files";
  EXPECT_EQ(manager.create_environment().getenv("PYTHONPATH"),
            "/pp:" + (F / "file1").string() + ":/sys");
}

TEST_F(EnvironmentManager, C9_MissingArchiveLeavesNothing) {
  const auto before = job_files();
  auto manager = create("python.archives: " + (T / "nope.zip").string() + "#venv\n");
  try {
    manager.open();
    FAIL() << "open must fail";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), PYENV_ECONFIG);
    EXPECT_NE(std::string(e.what()).find((T / "nope.zip").string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(job_files(), before);
}

TEST_F(EnvironmentManager, C9_CorruptArchiveLeavesNothing) {
  std::string bytes = read_file(T / "zip0");
  write_file(T / "corrupt", bytes.substr(0, bytes.size() / 2));
  const auto before = job_files();
  auto manager = create("python.archives: " + (T / "corrupt").string() + "#venv\n");
  try {
    manager.open();
    FAIL() << "open must fail";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), PYENV_EARCHIVE) << e.what();
    EXPECT_NE(std::string(e.what()).find((T / "corrupt").string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(job_files(), before);
  // The next open, once the fault is gone, works.
  write_file(T / "corrupt", bytes);
  manager.open();
  EXPECT_TRUE(fs::is_directory(base_dir() / "python-archives" / "venv" / "zipDir0"));
}

TEST_F(EnvironmentManager, C9_FailureAfterAnArchiveRemovesWhatWasExtracted) {
  const auto before = job_files();
  auto manager = create("python.archives: [" + (T / "zip0").string() + "#good, " +
                        (T / "file3").string() + "#bad]\n");
  try {
    manager.open();
    FAIL() << "open must fail";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), PYENV_EARCHIVE) << e.what();
  }
  EXPECT_EQ(job_files(), before);
}

// DESIGN.md 7.8: two python.files sharing a file name are staged side by side.
TEST_F(EnvironmentManager, DuplicateFileNamesAreStagedSideBySide) {
  write_file(T / "a" / "util.py", "A = 1\n");
  write_file(T / "b" / "util.py", "B = 2\n");
  auto manager = create("python.files: [" + (T / "a" / "util.py").string() + ", " +
                        (T / "b" / "util.py").string() + "#util2.py]\n");
  manager.open();
  const fs::path F = base_dir() / "python-files";
  EXPECT_EQ(manager.create_environment().paths(),
            (std::vector<std::string>{(F / "util.py").string(), (F / "util.py-1").string()}));
  EXPECT_EQ(read_file(F / "util.py" / "util.py"), "A = 1\n");
  EXPECT_EQ(read_file(F / "util.py-1" / "util2.py"), "B = 2\n");
}

// DESIGN.md 7.10: no empty PYTHONPATH entry, whatever the inputs hold.
TEST_F(EnvironmentManager, NoEmptyPythonPathEntries) {
  auto manager = create("python.pythonpath: ':/a::/b:'\n", {"PYTHONPATH=::/sys:"});
  manager.open();
  auto env = manager.create_environment();
  EXPECT_EQ(env.getenv("PYTHONPATH"), "/a:/b:/sys");
  EXPECT_EQ(env.paths(), (std::vector<std::string>{"/a", "/b", "/sys"}));
}

}  // namespace
}  // namespace pyenv::test
