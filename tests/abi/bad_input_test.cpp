// Bad input through the C ABI: each one must come back as a specific status with a message
// that names the culprit (the key, the path, the argument), and leave nothing on disk.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pyenv/pyenv.h>
#include <unistd.h>

#include <optional>
#include <set>
#include <string>

#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;

struct Outcome {
  pyenv_status status = PYENV_OK;
  std::string message;
};

class BadInputTest : public ::testing::Test {
 protected:
  pyenv_options options(const std::string &yaml) {
    yaml_ = yaml;
    return job_options("bad-input-job", tmp_dirs_, yaml_.c_str());
  }

  // pyenv_create alone; a manager it makes is closed at once.
  Outcome create(const pyenv_options &o) {
    pyenv_manager *m = nullptr;
    Outcome out{api().create(&m, &o), api().last_error()};
    if (out.status != PYENV_OK) {
      EXPECT_EQ(m, nullptr) << "out-param not cleared on failure";
    }
    EXPECT_EQ(api().close(&m), PYENV_OK);
    return out;
  }
  Outcome create(const std::string &yaml) { return create(options(yaml)); }

  // pyenv_create, which must succeed, then pyenv_open.
  Outcome open(const pyenv_options &o) {
    pyenv_manager *m = nullptr;
    Outcome out;
    if (api().create(&m, &o) != PYENV_OK) {
      ADD_FAILURE() << "create failed: " << api().last_error();
      return {PYENV_OK, "(create failed)"};
    }
    out.status = api().open(m);
    out.message = api().last_error();
    EXPECT_EQ(api().close(&m), PYENV_OK) << api().last_error();
    return out;
  }
  Outcome open(const std::string &yaml) { return open(options(yaml)); }

  TempDir tmp_;
  std::string tmp_path_ = tmp_.path().string();
  const char *tmp_dirs_[1] = {tmp_path_.c_str()};
  std::string yaml_;
};

TEST_F(BadInputTest, UnknownKeyNamesItAndTheClosestKnownKey) {
  Outcome out = create("python.fles: job.py");
  EXPECT_EQ(out.status, PYENV_ECONFIG);
  EXPECT_THAT(out.message, HasSubstr("python.fles"));
  EXPECT_THAT(out.message, HasSubstr("python.files"));
}

TEST_F(BadInputTest, UnknownNestedKeyNamesItsFullNameAndTheClosestKnownKey) {
  Outcome out = create("python:\n  fles: job.py\n");
  EXPECT_EQ(out.status, PYENV_ECONFIG);
  EXPECT_THAT(out.message, HasSubstr("python.fles"));
  EXPECT_THAT(out.message, HasSubstr("python.files"));
}

TEST_F(BadInputTest, UnknownPyenvKeyNamesItAndTheClosestKnownKey) {
  for (const char *yaml : {"pyenv.cache.enabeld: true", "pyenv:\n  cache:\n    enabeld: true\n"}) {
    Outcome out = create(yaml);
    EXPECT_EQ(out.status, PYENV_ECONFIG) << yaml;
    EXPECT_THAT(out.message, HasSubstr("pyenv.cache.enabeld"));
    EXPECT_THAT(out.message, HasSubstr("pyenv.cache.enabled"));
  }
}

TEST_F(BadInputTest, NonBooleanForABooleanKeyNamesTheKeyAndValue) {
  Outcome out = create("python.systemenv.enabled: maybe");
  EXPECT_EQ(out.status, PYENV_ECONFIG);
  EXPECT_THAT(out.message, HasSubstr("python.systemenv.enabled"));
  EXPECT_THAT(out.message, HasSubstr("maybe"));
}

TEST_F(BadInputTest, NonNumberForANumberKeyNamesTheKeyAndValue) {
  Outcome out = create("pyenv.pip.attempts: abc");
  EXPECT_EQ(out.status, PYENV_ECONFIG);
  EXPECT_THAT(out.message, HasSubstr("pyenv.pip.attempts"));
  EXPECT_THAT(out.message, HasSubstr("abc"));
}

TEST_F(BadInputTest, MapForAListKeyNamesTheKey) {
  Outcome out = create("python.files:\n  a.py: b.py\n");
  EXPECT_EQ(out.status, PYENV_ECONFIG);
  EXPECT_THAT(out.message, HasSubstr("python.files"));
  EXPECT_THAT(out.message, HasSubstr("map"));
}

TEST_F(BadInputTest, InvalidYamlGivesLineAndColumn) {
  // The flow sequence opened on line 2 is never closed.
  Outcome out = create("python.executable: python\npython.files: [a.py, b.py\n");
  EXPECT_EQ(out.status, PYENV_ECONFIG);
  EXPECT_THAT(out.message, HasSubstr("config_yaml"));
  EXPECT_THAT(out.message, ContainsRegex("line [0-9]+, column [0-9]+"));
}

TEST_F(BadInputTest, UnreadableConfigFileNamesIt) {
  pyenv_options o = options("");
  const std::string missing = (tmp_ / "missing.yaml").string();
  o.config_file = missing.c_str();
  Outcome out = create(o);
  EXPECT_EQ(out.status, PYENV_ECONFIG);
  EXPECT_THAT(out.message, HasSubstr(missing));
}

TEST_F(BadInputTest, KeysOutsideOurNamespacesAreIgnored) {
  pyenv_options o = options(
      "taskmanager.memory: 1g\n"
      "parallelism:\n  default: 4\n"
      "pythonic: not ours either\n"
      "python.executable: python3\n");
  pyenv_manager *m = nullptr;
  ASSERT_EQ(api().create(&m, &o), PYENV_OK) << api().last_error();
  ASSERT_EQ(api().open(m), PYENV_OK) << api().last_error();
  pyenv_environment *env = nullptr;
  ASSERT_EQ(api().create_environment(m, &env), PYENV_OK) << api().last_error();
  EXPECT_STREQ(api().environment_getenv(env, "python"), "python3");
  EXPECT_EQ(api().environment_getenv(env, "taskmanager.memory"), nullptr);
  api().environment_free(&env);
  EXPECT_EQ(api().close(&m), PYENV_OK);
}

TEST_F(BadInputTest, MissingPythonFileNamesThePathAndLeavesNothing) {
  TempDir sources;
  const std::string missing = (sources / "missing.py").string();
  const std::set<std::string> before = list_tree(tmp_.path());
  Outcome out = open("python.files: " + missing);
  EXPECT_EQ(out.status, PYENV_ECONFIG);
  EXPECT_THAT(out.message, HasSubstr(missing));
  EXPECT_THAT(out.message, HasSubstr("python.files"));
  EXPECT_EQ(list_tree(tmp_.path()), before);
}

// pyenv.h: "A failed open removes everything it created and may be retried."
TEST_F(BadInputTest, FailedOpenCanBeRetriedOnceTheCauseIsFixed) {
  TempDir sources;
  const fs::path file = sources / "late.py";
  pyenv_options o = options("python.files: " + file.string());
  pyenv_manager *m = nullptr;
  ASSERT_EQ(api().create(&m, &o), PYENV_OK) << api().last_error();
  EXPECT_EQ(api().open(m), PYENV_ECONFIG);
  write_file(file, "print('late')\n");
  EXPECT_EQ(api().open(m), PYENV_OK) << api().last_error();
  pyenv_environment *env = nullptr;
  ASSERT_EQ(api().create_environment(m, &env), PYENV_OK) << api().last_error();
  ASSERT_EQ(api().environment_path_count(env), 1u);
  EXPECT_TRUE(fs::exists(fs::path(api().environment_path_at(env, 0)) / "late.py"));
  api().environment_free(&env);
  EXPECT_EQ(api().close(&m), PYENV_OK) << api().last_error();
  EXPECT_EQ(list_tree(tmp_.path()), std::set<std::string>{});
}

TEST_F(BadInputTest, EmptyJobIdIsInvalid) {
  pyenv_options o = options("");
  o.job_id = "";
  Outcome out = create(o);
  EXPECT_EQ(out.status, PYENV_EINVAL);
  EXPECT_THAT(out.message, HasSubstr("job_id"));
}

TEST_F(BadInputTest, NullJobIdIsInvalid) {
  pyenv_options o = options("");
  o.job_id = nullptr;
  Outcome out = create(o);
  EXPECT_EQ(out.status, PYENV_EINVAL);
  EXPECT_THAT(out.message, HasSubstr("job_id"));
}

TEST_F(BadInputTest, NoTmpDirsIsInvalid) {
  pyenv_options o = options("");
  o.tmp_dirs = nullptr;
  o.tmp_dirs_count = 0;
  Outcome out = create(o);
  EXPECT_EQ(out.status, PYENV_EINVAL);
  EXPECT_THAT(out.message, HasSubstr("tmp_dirs"));
}

TEST_F(BadInputTest, CountWithNullArrayIsInvalid) {
  pyenv_options o = options("");
  o.tmp_dirs = nullptr;
  Outcome out = create(o);
  EXPECT_EQ(out.status, PYENV_EINVAL);
  EXPECT_THAT(out.message, HasSubstr("tmp_dirs"));

  o = options("");
  o.system_env = nullptr;
  o.system_env_count = 1;
  out = create(o);
  EXPECT_EQ(out.status, PYENV_EINVAL);
  EXPECT_THAT(out.message, HasSubstr("system_env"));
}

TEST_F(BadInputTest, NullTmpDirEntryIsInvalid) {
  pyenv_options o = options("");
  const char *dirs[] = {tmp_path_.c_str(), nullptr};
  o.tmp_dirs = dirs;
  o.tmp_dirs_count = 2;
  Outcome out = create(o);
  EXPECT_EQ(out.status, PYENV_EINVAL);
  EXPECT_THAT(out.message, HasSubstr("tmp_dirs[1]"));
}

TEST_F(BadInputTest, SystemEnvEntryWithoutEqualsIsInvalid) {
  pyenv_options o = options("");
  const char *env[] = {"A=1", "NOT_A_PAIR"};
  o.system_env = env;
  o.system_env_count = 2;
  Outcome out = create(o);
  EXPECT_EQ(out.status, PYENV_EINVAL);
  EXPECT_THAT(out.message, HasSubstr("system_env[1]"));
}

// Root ignores permission bits, so the unwritable tmp dirs are paths no one can create a
// directory in: a regular file, and a path under one.
TEST_F(BadInputTest, TmpDirThatIsAFileIsAnIoErrorNamingIt) {
  const fs::path file = tmp_ / "not-a-dir";
  write_file(file, "x");
  for (const fs::path &dir : {file, file / "below"}) {
    pyenv_options o = options("");
    const std::string path = dir.string();
    const char *dirs[] = {path.c_str()};
    o.tmp_dirs = dirs;
    Outcome out = open(o);
    EXPECT_EQ(out.status, PYENV_EIO) << dir;
    EXPECT_THAT(out.message, HasSubstr(path));
  }
  EXPECT_EQ(list_tree(tmp_.path()), std::set<std::string>{"not-a-dir"});
}

TEST_F(BadInputTest, ReadOnlyTmpDirIsAnIoErrorNamingIt) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes into read-only directories";
  const fs::path dir = tmp_ / "read-only";
  fs::create_directory(dir);
  fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                           fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  pyenv_options o = options("");
  const std::string path = dir.string();
  const char *dirs[] = {path.c_str()};
  o.tmp_dirs = dirs;
  Outcome out = open(o);
  EXPECT_EQ(out.status, PYENV_EIO);
  EXPECT_THAT(out.message, HasSubstr(path));
  EXPECT_TRUE(fs::is_empty(dir));
}

}  // namespace
}  // namespace pyenv::test
