#include "config/config.hpp"

#include <gtest/gtest.h>

#include "error.hpp"
#include "support/fixture.hpp"

namespace pyenv {
namespace {

Config parse(const std::string &yaml, const fs::path &cwd = "/work") {
  return parse_config(ConfigSources{std::nullopt, yaml, cwd});
}

// The status and message of a configuration that must be refused.
std::pair<Status, std::string> refused(const std::string &yaml) {
  try {
    parse(yaml);
  } catch (const Error &e) {
    return {e.status(), e.what()};
  }
  return {Status::kError, "accepted"};
}

TEST(Config, Defaults) {
  Config c = parse("");
  EXPECT_EQ(c.executable, "python");
  EXPECT_TRUE(c.files.empty());
  EXPECT_TRUE(c.systemenv_enabled);
  EXPECT_TRUE(c.cache_enabled);
  EXPECT_EQ(c.cache_max_bytes, 10ull << 30);
  EXPECT_EQ(c.archive_max_bytes, 16ull << 30);
  EXPECT_EQ(c.archive_max_entries, 1000000u);
  EXPECT_EQ(c.pip_timeout, std::chrono::minutes(10));
  EXPECT_EQ(c.pip_attempts, 3u);
}

TEST(Config, FlatAndNestedKeysAreTheSame) {
  Config flat = parse("python.files: [a.py, b.py]\npython.systemenv.enabled: false\n");
  Config nested = parse("python:\n  files:\n    - a.py\n    - b.py\n  systemenv: {enabled: false}\n");
  EXPECT_EQ(flat.dependency_fingerprint(), nested.dependency_fingerprint());
  EXPECT_FALSE(nested.systemenv_enabled);
  ASSERT_EQ(nested.files.size(), 2u);
  EXPECT_EQ(nested.files[1].path, "/work/b.py");
}

TEST(Config, CommaStringsAreLists) {
  Config c = parse("python.files: ' a.py#x.py , /abs/b.egg,,'\n");
  ASSERT_EQ(c.files.size(), 2u);
  EXPECT_EQ(c.files[0].path, "/work/a.py");
  EXPECT_EQ(c.files[0].original_name, "x.py");
  EXPECT_EQ(c.files[1].path, "/abs/b.egg");
  EXPECT_EQ(c.files[1].original_name, "b.egg");
}

TEST(Config, RelativePathsFollowTheConfigFile) {
  test::TempDir dir;
  test::write_file(dir / "conf" / "job.yaml", "python.files: mod.py\npython.requirements: r.txt#wheels\n");
  Config c = parse_config(ConfigSources{dir / "conf" / "job.yaml", std::nullopt, "/elsewhere"});
  EXPECT_EQ(c.files[0].path, dir / "conf" / "mod.py");
  EXPECT_EQ(c.requirements->file, dir / "conf" / "r.txt");
  EXPECT_EQ(c.requirements->cache_dir, dir / "conf" / "wheels");
}

TEST(Config, YamlTextOverridesTheFile) {
  test::TempDir dir;
  test::write_file(dir / "job.yaml", "python.executable: python3\npython.pythonpath: /a\n");
  Config c = parse_config(ConfigSources{dir / "job.yaml", "python: {executable: py}", "/"});
  EXPECT_EQ(c.executable, "py");
  EXPECT_EQ(c.pythonpath, "/a");
}

TEST(Config, OtherNamespacesAreIgnored) {
  Config c = parse("taskmanager.memory.process.size: 1g\nstate: {backend: rocksdb}\npythonic: 1\n");
  EXPECT_EQ(c.executable, "python");
}

TEST(Config, UnknownKeyNamesTheClosest) {
  auto [status, message] = refused("python.fles: a.py\n");
  EXPECT_EQ(status, Status::kConfig);
  EXPECT_NE(message.find("python.fles"), std::string::npos) << message;
  EXPECT_NE(message.find("python.files"), std::string::npos) << message;

  std::tie(status, message) = refused("pyenv:\n  cache:\n    max-byte: 1g\n");
  EXPECT_NE(message.find("pyenv.cache.max-byte"), std::string::npos) << message;
  EXPECT_NE(message.find("pyenv.cache.max-bytes"), std::string::npos) << message;
}

TEST(Config, WrongTypesNameTheKey) {
  EXPECT_NE(refused("python.executable: [a, b]").second.find("python.executable: expected a string"),
            std::string::npos);
  EXPECT_NE(refused("python.files: {a: b}").second.find("python.files: expected a list"),
            std::string::npos);
  EXPECT_NE(refused("python.files: [[a]]").second.find("python.files[0]"), std::string::npos);
  EXPECT_NE(refused("pyenv.cache.enabled: maybe").second.find("pyenv.cache.enabled"),
            std::string::npos);
  EXPECT_NE(refused("pyenv.pip.attempts: 0").second.find("pyenv.pip.attempts"), std::string::npos);
  EXPECT_NE(refused("pyenv.archive.symlinks: follow").second.find("preserve, within or reject"),
            std::string::npos);
  EXPECT_NE(refused("pyenv.pip.timeout: soon").second.find("pyenv.pip.timeout"), std::string::npos);
  EXPECT_NE(refused("pyenv.process.call-timeout: soon").second.find("500ms or 30s"),
            std::string::npos);
  EXPECT_NE(refused("pyenv.process.call-timeout: 0").second.find("longer than zero"),
            std::string::npos);
  EXPECT_NE(refused("python.execution-mode: fork").second.find("thread or process"),
            std::string::npos);
}

TEST(Config, BadYamlSaysWhere) {
  auto [status, message] = refused("python.files: [a\n");
  EXPECT_EQ(status, Status::kConfig);
  EXPECT_NE(message.find("config_yaml: line"), std::string::npos) << message;
  EXPECT_EQ(refused("- a\n- b\n").first, Status::kConfig);
}

TEST(Config, SizesAndDurations) {
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("4k"), 4096u);
  EXPECT_EQ(parse_size("3m"), 3u << 20);
  EXPECT_EQ(parse_size("10g"), 10ull << 30);
  EXPECT_EQ(parse_size("2GB"), 2ull << 30);
  EXPECT_THROW(parse_size("g"), std::invalid_argument);
  EXPECT_THROW(parse_size("1x"), std::invalid_argument);
  EXPECT_THROW(parse_size("99999999999999t"), std::invalid_argument);
  EXPECT_EQ(parse_duration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(parse_duration("30s"), std::chrono::seconds(30));
  EXPECT_EQ(parse_duration("10min"), std::chrono::minutes(10));
  EXPECT_EQ(parse_duration("2h"), std::chrono::hours(2));
  EXPECT_EQ(parse_duration("100"), std::chrono::milliseconds(100));
  EXPECT_THROW(parse_duration("10 years"), std::invalid_argument);
  Config c = parse("pyenv.cache.max-bytes: 1g\npyenv.pip.timeout: 90s\npyenv.extract.threads: 4\n");
  EXPECT_EQ(c.cache_max_bytes, 1ull << 30);
  EXPECT_EQ(c.pip_timeout, std::chrono::seconds(90));
  EXPECT_EQ(c.extract_threads, 4u);
  EXPECT_EQ(c.call_timeout, std::nullopt);
  EXPECT_EQ(parse("pyenv.process.call-timeout: 500ms").call_timeout, std::chrono::milliseconds(500));
}

TEST(Config, RequirementsWithAndWithoutCache) {
  Config c = parse("python.requirements: /r.txt\n");
  EXPECT_EQ(c.requirements->file, "/r.txt");
  EXPECT_FALSE(c.requirements->cache_dir);
  EXPECT_EQ(refused("python.requirements: /r.txt#\n").first, Status::kConfig);
}

TEST(Config, FingerprintFollowsDependencies) {
  EXPECT_EQ(parse("python.files: a.py").dependency_fingerprint(),
            parse("python.files: [a.py]\npython.pythonpath: /x").dependency_fingerprint());
  EXPECT_NE(parse("python.files: a.py").dependency_fingerprint(),
            parse("python.files: b.py").dependency_fingerprint());
  EXPECT_NE(parse("python.archives: a.zip#x").dependency_fingerprint(),
            parse("python.archives: a.zip#y").dependency_fingerprint());
}

TEST(Config, KnownKeysAreTheDesignTable) {
  std::vector<std::string> expected = {
      "pyenv.archive.max-bytes", "pyenv.archive.max-entries", "pyenv.archive.symlinks",
      "pyenv.cache.dir",         "pyenv.cache.enabled",       "pyenv.cache.max-bytes",
      "pyenv.extract.threads",   "pyenv.pip.attempts",        "pyenv.pip.timeout",
      "pyenv.process.call-timeout",
      "python.archives",         "python.executable",         "python.execution-mode",
      "python.files",            "python.pythonpath",         "python.requirements",
      "python.systemenv.enabled"};
  EXPECT_EQ(known_config_keys(), expected);
}

}  // namespace
}  // namespace pyenv
