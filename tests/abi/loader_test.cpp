// host.hpp's loader against fake plugins, one per failure mode: what a host sees when the
// .so it is pointed at is of another ABI, incomplete, not a plugin, or fails to create.
#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <pyenv/host.hpp>
#include <string>
#include <utility>
#include <vector>

namespace {

using pyenv::host::Environment;
using pyenv::host::Error;
using pyenv::host::Manager;
using pyenv::host::Options;
using pyenv::host::Plugin;
using ::testing::HasSubstr;

// Runs Plugin::load and returns the Error it throws; fails the test when it does not throw.
Error load_error(const std::string &path, uint32_t required_minor = PYENV_ABI_VERSION_MINOR) {
  try {
    Plugin::load(path, required_minor);
  } catch (const Error &e) {
    return e;
  }
  ADD_FAILURE() << "Plugin::load(" << path << ") was expected to throw";
  return Error(PYENV_OK, "");
}

// `message` with every occurrence of `path` removed, so that checks for version numbers
// cannot be satisfied by digits in the build directory's path.
std::string without(std::string message, const std::string &path) {
  for (size_t at; (at = message.find(path)) != std::string::npos;) message.erase(at, path.size());
  return message;
}

// Whether the dynamic loader still has `path` mapped. RTLD_NOLOAD never loads anything; it
// only bumps the count of an object already there, which we give back at once.
bool is_loaded(const std::string &path) {
  void *handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return false;
  ::dlclose(handle);
  return true;
}

Options fake_options() {
  Options options;
  options.job_id = "job-fake";
  options.tmp_dirs = {"/nonexistent-tmp"};  // the fake only echoes it back
  return options;
}

TEST(LoaderTest, LoadsAWorkingPlugin) {
  Plugin plugin = Plugin::load(FAKE_GOOD_PATH);
  EXPECT_EQ(plugin.abi_version(), PYENV_ABI_VERSION);
  EXPECT_EQ(plugin.version(), "0.0.0-fake");
  EXPECT_EQ(plugin.path(), FAKE_GOOD_PATH);
}

TEST(LoaderTest, PassesOptionsAndCallbacksThrough) {
  Plugin plugin = Plugin::load(FAKE_GOOD_PATH);
  std::vector<std::string> logged;
  std::vector<std::string> phases;
  Options options = fake_options();
  options.log = [&](int level, const char *message) {
    logged.push_back(std::to_string(level) + " " + message);
  };
  options.progress = [&](const char *phase, uint64_t done, uint64_t total) {
    phases.push_back(std::string(phase) + " " + std::to_string(done) + "/" + std::to_string(total));
  };
  Manager manager = plugin.create(options);
  manager.open();
  Environment env = manager.create_environment();

  EXPECT_EQ(logged, std::vector<std::string>{"1 fake: opened"});
  EXPECT_EQ(phases, std::vector<std::string>{"files 1/1"});
  const std::map<std::string, std::string> expected = {{"JOB_ID", "job-fake"},
                                                       {"TMP_DIR", "/nonexistent-tmp"}};
  EXPECT_EQ(env.variables(), expected);
  EXPECT_EQ(env.getenv("JOB_ID"), "job-fake");
  EXPECT_EQ(env.getenv("ABSENT"), std::nullopt);
  EXPECT_EQ(env.python_exec(), "/fake/bin/python");
  EXPECT_EQ(env.python_home(), "/fake");
  EXPECT_EQ(env.working_directory(), std::nullopt);
  EXPECT_EQ(env.paths(), std::vector<std::string>{"/fake/lib"});
  EXPECT_EQ(env.exec_type(), 0);
  EXPECT_EQ(env.to_json(), "{\"fake\": true}");
}

TEST(LoaderTest, AcceptsANewerMinor) {
  Plugin plugin = Plugin::load(FAKE_NEWER_MINOR_PATH);
  EXPECT_EQ(plugin.abi_version(), (uint32_t{PYENV_ABI_VERSION_MAJOR} << 16) | 5u);
}

TEST(LoaderTest, RefusesAnotherMajorNamingBothVersions) {
  Error e = load_error(FAKE_WRONG_MAJOR_PATH);
  EXPECT_EQ(e.status(), PYENV_ERROR);
  EXPECT_THAT(e.what(), HasSubstr(FAKE_WRONG_MAJOR_PATH));
  EXPECT_THAT(without(e.what(), FAKE_WRONG_MAJOR_PATH), HasSubstr("2.0"));
  EXPECT_THAT(without(e.what(), FAKE_WRONG_MAJOR_PATH),
              HasSubstr(std::to_string(PYENV_ABI_VERSION_MAJOR) + "." +
                        std::to_string(PYENV_ABI_VERSION_MINOR)));
  // A refused plugin must not stay mapped in the host.
  EXPECT_FALSE(is_loaded(FAKE_WRONG_MAJOR_PATH));
}

TEST(LoaderTest, RefusesAnOlderMinorThanRequiredNamingBothVersions) {
  Error e = load_error(FAKE_ABI_1_0_PATH);  // the header's minor by default
  EXPECT_EQ(e.status(), PYENV_ERROR);
  EXPECT_THAT(without(e.what(), FAKE_ABI_1_0_PATH), HasSubstr("1.0"));
  EXPECT_THAT(without(e.what(), FAKE_ABI_1_0_PATH),
              HasSubstr("1." + std::to_string(PYENV_ABI_VERSION_MINOR)));
}

TEST(LoaderTest, AnOlderMinorAcceptedOnPurposeLacksOnlyWhatCameLater) {
  Plugin plugin = Plugin::load(FAKE_ABI_1_0_PATH, /*required_minor=*/0);
  EXPECT_EQ(plugin.api().cache_list, nullptr);
  Options options;
  options.job_id = "job";
  options.tmp_dirs = {"/tmp"};
  Manager manager = plugin.create(options);
  try {
    manager.cache_list();
    FAIL() << "cache_list on an ABI 1.0 plugin";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), PYENV_ERROR);
    EXPECT_THAT(e.what(), HasSubstr("pyenv_cache_list needs a plugin of ABI 1.1"));
    EXPECT_THAT(e.what(), HasSubstr("has 1.0"));
  }
}

TEST(LoaderTest, ResolvesWhatAbi11Added) {
  Plugin plugin = Plugin::load(FAKE_GOOD_PATH);
  Options options;
  options.job_id = "job";
  options.tmp_dirs = {"/tmp"};
  Manager manager = plugin.create(options);
  EXPECT_EQ(manager.cache_list(), "{\"fake\": \"list\"}");
  EXPECT_EQ(manager.cache_prune(), "{\"fake\": \"prune\"}");
  EXPECT_EQ(manager.cache_remove("ab"), "{\"fake\": \"remove\"}");
  manager.cache_warm();
}

TEST(LoaderTest, ResolvesWhatAbi12Added) {
  Plugin plugin = Plugin::load(FAKE_GOOD_PATH);
  EXPECT_NE(plugin.api().interpreter_call_batch, nullptr);
  pyenv_record *out = nullptr;
  const pyenv_record in{"x", 1};
  ASSERT_EQ(plugin.api().interpreter_call_batch(nullptr, "f", &in, 1, &out), PYENV_OK);
  EXPECT_EQ(std::string(static_cast<const char *>(out->data), out->size), "fake");
  plugin.api().free(out);
  EXPECT_EQ(Plugin::load(FAKE_ABI_1_0_PATH, 0).api().interpreter_call_batch, nullptr);
}

TEST(LoaderTest, RefusesAPluginMissingAFunction) {
  Error e = load_error(FAKE_MISSING_OPEN_PATH);
  EXPECT_EQ(e.status(), PYENV_ERROR);
  EXPECT_THAT(e.what(), HasSubstr("pyenv_open"));
  EXPECT_THAT(e.what(), HasSubstr(FAKE_MISSING_OPEN_PATH));
}

TEST(LoaderTest, RefusesALibraryThatIsNotAPlugin) {
  Error e = load_error(FAKE_NOT_A_PLUGIN_PATH);
  EXPECT_EQ(e.status(), PYENV_ERROR);
  EXPECT_THAT(e.what(), HasSubstr(FAKE_NOT_A_PLUGIN_PATH));
  EXPECT_THAT(e.what(), HasSubstr("pyenv_abi_version"));
  EXPECT_THAT(e.what(), HasSubstr("not a libpyenv plugin"));
}

TEST(LoaderTest, RefusesANonexistentPathNamingIt) {
  const std::string path = std::string(FAKE_GOOD_PATH) + ".does-not-exist";
  Error e = load_error(path);
  EXPECT_EQ(e.status(), PYENV_ERROR);
  EXPECT_THAT(e.what(), HasSubstr(path));
}

TEST(LoaderTest, CreateFailureCarriesThePluginsStatusAndMessage) {
  Plugin plugin = Plugin::load(FAKE_CREATE_FAILS_PATH);
  try {
    plugin.create(fake_options());
    FAIL() << "create was expected to throw";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), PYENV_ECONFIG);
    EXPECT_STREQ(e.what(), "fake: python.files[0]: \"missing.py\": no such file");
  }
}

// Handles share ownership of the library: destroying the Plugin must not unmap the code
// that a Manager or Environment still calls into, and the last handle must unmap it.
TEST(LoaderTest, HandlesKeepTheLibraryLoadedUntilTheLastOneGoes) {
  ASSERT_FALSE(is_loaded(FAKE_GOOD_PATH)) << "another test left the fake plugin loaded";
  std::optional<Manager> manager;
  std::optional<Environment> env;
  {
    Plugin plugin = Plugin::load(FAKE_GOOD_PATH);
    manager.emplace(plugin.create(fake_options()));
  }
  ASSERT_TRUE(is_loaded(FAKE_GOOD_PATH));
  manager->open();
  env.emplace(manager->create_environment());

  manager.reset();  // closes quietly
  ASSERT_TRUE(is_loaded(FAKE_GOOD_PATH));
  EXPECT_EQ(env->python_exec(), "/fake/bin/python");
  EXPECT_EQ(env->getenv("JOB_ID"), "job-fake");

  // Moving keeps the one owner alive; the moved-from object no longer pins anything.
  Environment moved = std::move(*env);
  env.reset();
  ASSERT_TRUE(is_loaded(FAKE_GOOD_PATH));
  EXPECT_EQ(moved.python_home(), "/fake");
  { Environment gone = std::move(moved); }
  EXPECT_FALSE(is_loaded(FAKE_GOOD_PATH));
}

TEST(LoaderTest, ClosedManagerRefusesFurtherUse) {
  Plugin plugin = Plugin::load(FAKE_GOOD_PATH);
  Manager manager = plugin.create(fake_options());
  manager.close();
  EXPECT_EQ(manager.get(), nullptr);
  manager.close();  // closing twice is fine
  try {
    manager.open();
    FAIL() << "open after close was expected to throw";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), PYENV_ESTATE);
  }
}

}  // namespace
