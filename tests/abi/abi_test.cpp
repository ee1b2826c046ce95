// The built libpyenv.so seen only through its C ABI: what it exports, how it reports bad
// arguments and calls out of order, per-thread errors, calls from many threads, unloading,
// and cleanup over many cycles.
#include <dlfcn.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <pyenv/pyenv.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Every function of ABI 1.0, as pyenv.h declares them.
const std::set<std::string> kAbiFunctions = {
    "pyenv_abi_version",
    "pyenv_version",
    "pyenv_last_error",
    "pyenv_create",
    "pyenv_open",
    "pyenv_create_environment",
    "pyenv_close",
    "pyenv_environment_exec_type",
    "pyenv_environment_python_exec",
    "pyenv_environment_python_home",
    "pyenv_environment_working_directory",
    "pyenv_environment_path_count",
    "pyenv_environment_path_at",
    "pyenv_environment_var_count",
    "pyenv_environment_var_at",
    "pyenv_environment_getenv",
    "pyenv_environment_to_json",
    "pyenv_environment_free",
    "pyenv_environment_get_interpreter",
    "pyenv_interpreter_exec",
    "pyenv_interpreter_call_json",
    "pyenv_interpreter_call_bytes",
    "pyenv_free",
    "pyenv_interpreter_close",
};

// What ABI 1.1 added, exported under version node PYENV_1.1.
const std::set<std::string> kAbi11Functions = {
    "pyenv_interpreter_info",
    "pyenv_cache_list",
    "pyenv_cache_warm",
    "pyenv_cache_prune",
    "pyenv_cache_remove",
};

// What ABI 1.2 added, exported under version node PYENV_1.2.
const std::set<std::string> kAbi12Functions = {
    "pyenv_interpreter_call_batch",
};

// host.hpp's Api table must have exactly the types pyenv.h declares, or a host calling
// through it would pass arguments the plugin does not expect.
#define PYENV_EXPECT_API_TYPE(member, function)                                          \
  static_assert(std::is_same_v<decltype(pyenv::host::Api::member), decltype(&function)>, \
                "host::Api::" #member " does not match " #function " in pyenv.h")
PYENV_EXPECT_API_TYPE(abi_version, pyenv_abi_version);
PYENV_EXPECT_API_TYPE(version, pyenv_version);
PYENV_EXPECT_API_TYPE(last_error, pyenv_last_error);
PYENV_EXPECT_API_TYPE(create, pyenv_create);
PYENV_EXPECT_API_TYPE(open, pyenv_open);
PYENV_EXPECT_API_TYPE(create_environment, pyenv_create_environment);
PYENV_EXPECT_API_TYPE(close, pyenv_close);
PYENV_EXPECT_API_TYPE(environment_exec_type, pyenv_environment_exec_type);
PYENV_EXPECT_API_TYPE(environment_python_exec, pyenv_environment_python_exec);
PYENV_EXPECT_API_TYPE(environment_python_home, pyenv_environment_python_home);
PYENV_EXPECT_API_TYPE(environment_working_directory, pyenv_environment_working_directory);
PYENV_EXPECT_API_TYPE(environment_path_count, pyenv_environment_path_count);
PYENV_EXPECT_API_TYPE(environment_path_at, pyenv_environment_path_at);
PYENV_EXPECT_API_TYPE(environment_var_count, pyenv_environment_var_count);
PYENV_EXPECT_API_TYPE(environment_var_at, pyenv_environment_var_at);
PYENV_EXPECT_API_TYPE(environment_getenv, pyenv_environment_getenv);
PYENV_EXPECT_API_TYPE(environment_to_json, pyenv_environment_to_json);
PYENV_EXPECT_API_TYPE(environment_free, pyenv_environment_free);
PYENV_EXPECT_API_TYPE(environment_get_interpreter, pyenv_environment_get_interpreter);
PYENV_EXPECT_API_TYPE(interpreter_exec, pyenv_interpreter_exec);
PYENV_EXPECT_API_TYPE(interpreter_call_json, pyenv_interpreter_call_json);
PYENV_EXPECT_API_TYPE(interpreter_call_bytes, pyenv_interpreter_call_bytes);
PYENV_EXPECT_API_TYPE(free, pyenv_free);
PYENV_EXPECT_API_TYPE(interpreter_close, pyenv_interpreter_close);
PYENV_EXPECT_API_TYPE(interpreter_info, pyenv_interpreter_info);
PYENV_EXPECT_API_TYPE(cache_list, pyenv_cache_list);
PYENV_EXPECT_API_TYPE(cache_warm, pyenv_cache_warm);
PYENV_EXPECT_API_TYPE(cache_prune, pyenv_cache_prune);
PYENV_EXPECT_API_TYPE(cache_remove, pyenv_cache_remove);
PYENV_EXPECT_API_TYPE(interpreter_call_batch, pyenv_interpreter_call_batch);
#undef PYENV_EXPECT_API_TYPE
static_assert(sizeof(pyenv::host::Api) == 30 * sizeof(void (*)()),
              "host::Api has a member this test does not check");

// Output of `command`, or nullopt when it could not run or exited non-zero.
std::optional<std::string> run(const std::string &command) {
  FILE *pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string out;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  if (::pclose(pipe) != 0) return std::nullopt;
  return out;
}

// A directory on tmpfs when there is one, else under /tmp; removed at scope exit. The
// tests that cycle many tasks check cleanup, not the disk: on a busy disk each mkdir or rmdir
// can take milliseconds, which would make 1000 cycles take tens of seconds.
class ScratchDir {
 public:
  ScratchDir() {
    std::error_code ec;
    const bool shm = fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0;
    std::string pattern = std::string(shm ? "/dev/shm" : "/tmp") + "/pyenv-abi-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir &) = delete;
  ScratchDir &operator=(const ScratchDir &) = delete;
  const fs::path &path() const { return path_; }

 private:
  fs::path path_;
};

TEST(AbiExportsTest, ExactlyTheAbiFunctionsUnderVersionNode) {
  const std::string command = std::string(PYENV_NM) + " -D --defined-only " + plugin_path();
  std::optional<std::string> out = run(command);
  ASSERT_TRUE(out) << "could not run: " << command;

  std::set<std::string> names;
  std::istringstream lines(*out);
  for (std::string line; std::getline(lines, line);) {
    // "<address> <type> <name>[@@<version>]"
    std::istringstream fields(line);
    std::string address, type, name;
    if (!(fields >> address >> type >> name)) continue;
    const size_t at = name.find('@');
    const std::string base = name.substr(0, at);
    // The version nodes themselves.
    if (base == "PYENV_1.0" || base == "PYENV_1.1" || base == "PYENV_1.2") continue;
    EXPECT_EQ(type, "T") << name << " is not a function";
    const std::string node = kAbi12Functions.count(base)   ? "@@PYENV_1.2"
                             : kAbi11Functions.count(base) ? "@@PYENV_1.1"
                                                           : "@@PYENV_1.0";
    if (at != std::string::npos) {
      EXPECT_EQ(name.substr(at), node) << name << " is outside its version node";
    } else {
      ADD_FAILURE() << name << " has no symbol version";
    }
    names.insert(base);
  }
  std::set<std::string> expected = kAbiFunctions;
  expected.insert(kAbi11Functions.begin(), kAbi11Functions.end());
  expected.insert(kAbi12Functions.begin(), kAbi12Functions.end());
  EXPECT_EQ(names, expected);
}

TEST(AbiVersionTest, MatchesTheHeader) {
  EXPECT_EQ(api().abi_version(), PYENV_ABI_VERSION);
  EXPECT_EQ(api().abi_version() >> 16, uint32_t{PYENV_ABI_VERSION_MAJOR});
  const char *version = api().version();
  ASSERT_NE(version, nullptr);
  EXPECT_STRNE(version, "");
  EXPECT_STREQ(version, PYENV_EXPECTED_VERSION);
}

// Options on a real tmp dir; the manager keeps copies, so the strings may die after create.
class AbiCallTest : public ::testing::Test {
 protected:
  pyenv_options options(const char *yaml = nullptr) {
    return job_options(job_id_.c_str(), tmp_dirs_, yaml);
  }

  pyenv_manager *create_open() {
    pyenv_manager *m = nullptr;
    pyenv_options o = options();
    EXPECT_EQ(api().create(&m, &o), PYENV_OK) << api().last_error();
    EXPECT_EQ(api().open(m), PYENV_OK) << api().last_error();
    return m;
  }

  TempDir tmp_;
  std::string tmp_path_ = tmp_.path().string();
  const char *tmp_dirs_[1] = {tmp_path_.c_str()};
  std::string job_id_ = "abi-job-" + std::to_string(::getpid());
};

// A non-NULL pointer value no valid handle has: an out-param left alone keeps it.
template <class T>
T *garbage() {
  return reinterpret_cast<T *>(uintptr_t{0xdead0});
}

TEST_F(AbiCallTest, CreateWithNullOutIsInvalid) {
  pyenv_options o = options();
  EXPECT_EQ(api().create(nullptr, &o), PYENV_EINVAL);
  EXPECT_THAT(api().last_error(), HasSubstr("pyenv_create: out must not be NULL"));
}

TEST_F(AbiCallTest, CreateWithNullOptionsIsInvalidAndClearsOut) {
  pyenv_manager *m = garbage<pyenv_manager>();
  EXPECT_EQ(api().create(&m, nullptr), PYENV_EINVAL);
  EXPECT_EQ(m, nullptr);
  EXPECT_THAT(api().last_error(), HasSubstr("options must not be NULL"));
}

TEST_F(AbiCallTest, StructSizeLargerThanKnownIsInvalid) {
  pyenv_manager *m = garbage<pyenv_manager>();
  pyenv_options o = options();
  o.struct_size = sizeof o + 8;
  EXPECT_EQ(api().create(&m, &o), PYENV_EINVAL);
  EXPECT_EQ(m, nullptr);
  EXPECT_THAT(api().last_error(), HasSubstr("struct_size"));
  EXPECT_THAT(api().last_error(), HasSubstr(std::to_string(sizeof o + 8)));
}

TEST_F(AbiCallTest, StructSizeTooSmallForRequiredFieldsIsInvalid) {
  for (uint32_t size : {0u, 4u, static_cast<uint32_t>(offsetof(pyenv_options, tmp_dirs_count))}) {
    pyenv_manager *m = garbage<pyenv_manager>();
    pyenv_options o = options();
    o.struct_size = size;
    EXPECT_EQ(api().create(&m, &o), PYENV_EINVAL) << "struct_size " << size;
    EXPECT_EQ(m, nullptr);
    EXPECT_THAT(api().last_error(), HasSubstr("struct_size"));
  }
}

// An older host's struct ends earlier: the fields past its struct_size must not be read.
TEST_F(AbiCallTest, FieldsPastStructSizeAreNotRead) {
  pyenv_options o = options("python.fles: this key would be refused");
  o.struct_size = offsetof(pyenv_options, config_file);
  pyenv_manager *m = nullptr;
  ASSERT_EQ(api().create(&m, &o), PYENV_OK) << api().last_error();
  EXPECT_EQ(api().close(&m), PYENV_OK);
}

TEST_F(AbiCallTest, OpenWithNullManagerIsInvalid) {
  EXPECT_EQ(api().open(nullptr), PYENV_EINVAL);
  EXPECT_THAT(api().last_error(), HasSubstr("pyenv_open: manager must not be NULL"));
}

TEST_F(AbiCallTest, CreateEnvironmentWithNullManagerIsInvalidAndClearsOut) {
  pyenv_environment *env = garbage<pyenv_environment>();
  EXPECT_EQ(api().create_environment(nullptr, &env), PYENV_EINVAL);
  EXPECT_EQ(env, nullptr);
  EXPECT_THAT(api().last_error(), HasSubstr("pyenv_create_environment: manager must not be NULL"));
}

TEST_F(AbiCallTest, CreateEnvironmentWithNullOutIsInvalid) {
  pyenv_manager *m = create_open();
  EXPECT_EQ(api().create_environment(m, nullptr), PYENV_EINVAL);
  EXPECT_THAT(api().last_error(), HasSubstr("pyenv_create_environment: out must not be NULL"));
  EXPECT_EQ(api().close(&m), PYENV_OK);
}

TEST_F(AbiCallTest, VarAtRefusesNullArgumentsAndIndexPastTheEnd) {
  pyenv_manager *m = create_open();
  pyenv_environment *env = nullptr;
  ASSERT_EQ(api().create_environment(m, &env), PYENV_OK) << api().last_error();
  const size_t count = api().environment_var_count(env);
  ASSERT_GT(count, 0u);

  const char *key = "stale";
  const char *value = "stale";
  EXPECT_EQ(api().environment_var_at(nullptr, 0, &key, &value), PYENV_EINVAL);
  EXPECT_EQ(key, nullptr);
  EXPECT_EQ(value, nullptr);
  EXPECT_THAT(api().last_error(), HasSubstr("env must not be NULL"));

  value = "stale";
  EXPECT_EQ(api().environment_var_at(env, 0, nullptr, &value), PYENV_EINVAL);
  EXPECT_EQ(value, nullptr);
  EXPECT_THAT(api().last_error(), HasSubstr("key must not be NULL"));

  key = "stale";
  EXPECT_EQ(api().environment_var_at(env, 0, &key, nullptr), PYENV_EINVAL);
  EXPECT_EQ(key, nullptr);
  EXPECT_THAT(api().last_error(), HasSubstr("value must not be NULL"));

  key = value = "stale";
  EXPECT_EQ(api().environment_var_at(env, count, &key, &value), PYENV_EINVAL);
  EXPECT_EQ(key, nullptr);
  EXPECT_EQ(value, nullptr);
  EXPECT_THAT(api().last_error(), HasSubstr("index " + std::to_string(count)));

  EXPECT_EQ(api().environment_var_at(env, count - 1, &key, &value), PYENV_OK);
  EXPECT_NE(key, nullptr);
  EXPECT_NE(value, nullptr);

  api().environment_free(&env);
  EXPECT_EQ(env, nullptr);
  EXPECT_EQ(api().close(&m), PYENV_OK);
}

TEST_F(AbiCallTest, AccessorsOfNullEnvironmentReturnNothing) {
  EXPECT_EQ(api().environment_python_exec(nullptr), nullptr);
  EXPECT_EQ(api().environment_python_home(nullptr), nullptr);
  EXPECT_EQ(api().environment_working_directory(nullptr), nullptr);
  EXPECT_EQ(api().environment_path_count(nullptr), 0u);
  EXPECT_EQ(api().environment_path_at(nullptr, 0), nullptr);
  EXPECT_EQ(api().environment_var_count(nullptr), 0u);
  EXPECT_EQ(api().environment_getenv(nullptr, "python"), nullptr);
  EXPECT_EQ(api().environment_to_json(nullptr), nullptr);
  api().environment_free(nullptr);
  pyenv_environment *env = nullptr;
  api().environment_free(&env);
}

TEST_F(AbiCallTest, CloseOfNullIsFine) {
  EXPECT_EQ(api().close(nullptr), PYENV_OK);
  pyenv_manager *m = nullptr;
  EXPECT_EQ(api().close(&m), PYENV_OK);
  EXPECT_EQ(m, nullptr);
}

TEST_F(AbiCallTest, CloseSetsTheHandleToNull) {
  pyenv_manager *m = create_open();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(api().close(&m), PYENV_OK) << api().last_error();
  EXPECT_EQ(m, nullptr);
}

TEST_F(AbiCallTest, CreateEnvironmentBeforeOpenIsOutOfOrder) {
  pyenv_manager *m = nullptr;
  pyenv_options o = options();
  ASSERT_EQ(api().create(&m, &o), PYENV_OK) << api().last_error();
  pyenv_environment *env = garbage<pyenv_environment>();
  EXPECT_EQ(api().create_environment(m, &env), PYENV_ESTATE);
  EXPECT_EQ(env, nullptr);
  EXPECT_THAT(api().last_error(), HasSubstr("open"));
  EXPECT_EQ(api().close(&m), PYENV_OK);
}

TEST_F(AbiCallTest, OpenTwiceIsOutOfOrder) {
  pyenv_manager *m = create_open();
  EXPECT_EQ(api().open(m), PYENV_ESTATE);
  EXPECT_THAT(api().last_error(), HasSubstr("already open"));
  EXPECT_EQ(api().close(&m), PYENV_OK);
  EXPECT_EQ(list_tree(tmp_.path()), std::set<std::string>{});
}

// Lets N threads proceed only once all of them have arrived; reusable, round after round
// (std::barrier is C++20).
class Rendezvous {
 public:
  explicit Rendezvous(int count) : count_(count), waiting_(count) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const int round = round_;
    if (--waiting_ == 0) {
      waiting_ = count_;
      ++round_;
      all_arrived_.notify_all();
    } else {
      all_arrived_.wait(lock, [&] { return round_ != round; });
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable all_arrived_;
  const int count_;
  int waiting_;
  int round_ = 0;
};

TEST_F(AbiCallTest, LastErrorIsNoErrorOnAFreshThread) {
  EXPECT_EQ(api().open(nullptr), PYENV_EINVAL);  // this thread's error must not leak over
  std::string seen = "(not run)";
  std::thread([&] {
    const char *message = api().last_error();
    seen = message ? message : "(NULL)";
  }).join();
  EXPECT_EQ(seen, "no error");
}

TEST_F(AbiCallTest, EachThreadSeesItsOwnLastError) {
  Rendezvous both_failed(2);
  pyenv_status status_a = PYENV_OK, status_b = PYENV_OK;
  std::string seen_a, seen_b;
  std::thread a([&] {
    status_a = api().open(nullptr);
    both_failed.arrive_and_wait();
    seen_a = api().last_error();
  });
  std::thread b([&] {
    pyenv_manager *m = nullptr;
    pyenv_options o = options();
    o.struct_size = 1;
    status_b = api().create(&m, &o);
    both_failed.arrive_and_wait();
    seen_b = api().last_error();
  });
  a.join();
  b.join();
  EXPECT_EQ(status_a, PYENV_EINVAL);
  EXPECT_EQ(status_b, PYENV_EINVAL);
  EXPECT_THAT(seen_a, HasSubstr("pyenv_open: manager must not be NULL"));
  EXPECT_THAT(seen_a, Not(HasSubstr("struct_size")));
  EXPECT_THAT(seen_b, HasSubstr("struct_size is 1"));
  EXPECT_THAT(seen_b, Not(HasSubstr("pyenv_open")));
}

// Messages longer than the per-thread buffer keep their start (what failed, where) and their
// end (for a tool's output, its last lines) rather than being cut anywhere or overflowing.
TEST_F(AbiCallTest, OverlongErrorMessageKeepsBothEnds) {
  const std::string value(64 * 1024, 'x');
  const std::string yaml = "python.systemenv.enabled: " + value;
  pyenv_options o = options(yaml.c_str());
  pyenv_manager *m = nullptr;
  ASSERT_EQ(api().create(&m, &o), PYENV_ECONFIG);
  const std::string message = api().last_error();
  EXPECT_LT(message.size(), value.size());
  EXPECT_EQ(message.rfind("python.systemenv.enabled: expected true or false", 0), 0u)
      << message.substr(0, 200);
  EXPECT_THAT(message, HasSubstr("truncated"));
  const std::string end = "xxx\" (in config_yaml)";
  ASSERT_GE(message.size(), end.size());
  EXPECT_EQ(message.substr(message.size() - end.size()), end);
}

// Makes a directory undeletable even for root (chattr +i). False where the filesystem or
// the process's capabilities do not allow it.
bool set_immutable(const fs::path &dir, bool on) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  int flags = 0;
  bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  if (ok) {
    flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  ::close(fd);
  return ok;
}

// The contract of pyenv_close: a removal that fails is PYENV_EIO naming what is left, and
// the manager is freed and the handle cleared all the same.
TEST_F(AbiCallTest, CloseThatCannotRemoveIsAnIoErrorAndStillFrees) {
  TempDir sources;
  write_file(sources / "job.py", "print('hi')\n");
  const std::string yaml = "python.files: " + (sources / "job.py").string();
  pyenv_options o = options(yaml.c_str());
  pyenv_manager *m = nullptr;
  ASSERT_EQ(api().create(&m, &o), PYENV_OK) << api().last_error();
  ASSERT_EQ(api().open(m), PYENV_OK) << api().last_error();
  std::vector<fs::path> bases;
  for (const auto &entry : fs::directory_iterator(tmp_.path())) bases.push_back(entry.path());
  ASSERT_EQ(bases.size(), 1u);
  const fs::path stuck = bases[0] / "python-files";
  if (!set_immutable(stuck, true)) {
    EXPECT_EQ(api().close(&m), PYENV_OK);
    GTEST_SKIP() << "cannot make " << stuck << " immutable here";
  }

  const pyenv_status status = api().close(&m);
  const std::string message = api().last_error();
  set_immutable(stuck, false);
  EXPECT_EQ(status, PYENV_EIO);
  EXPECT_THAT(message, HasSubstr(stuck.string()));
  EXPECT_EQ(m, nullptr);
}

// Every call is safe from any thread: tasks of one job opening and closing together share one
// base directory while they overlap, and the last of them removes it.
TEST(AbiThreadsTest, ConcurrentTasksOfOneJobShareOneBaseDirAndCleanUp) {
  TempDir sources;
  write_file(sources / "job.py", "print('hi')\n");
  const std::string yaml = "python.files: " + (sources / "job.py").string();
  ScratchDir tmp;
  const std::string tmp_path = tmp.path().string();
  const char *tmp_dirs[] = {tmp_path.c_str()};
  constexpr int kThreads = 4;
  constexpr int kRounds = 25;
  Rendezvous all_open(kThreads);
  Rendezvous all_compared(kThreads);
  std::mutex mutex;
  std::vector<std::set<std::string>> bases_per_round(kRounds);
  std::vector<std::string> errors;

  auto task = [&] {
    for (int round = 0; round < kRounds; ++round) {
      pyenv_options o = job_options("threads-job", tmp_dirs, yaml.c_str());
      pyenv_manager *m = nullptr;
      pyenv_environment *env = nullptr;
      std::string base = "(failed)";
      if (api().create(&m, &o) != PYENV_OK || api().open(m) != PYENV_OK ||
          api().create_environment(m, &env) != PYENV_OK) {
        std::lock_guard<std::mutex> lock(mutex);
        errors.push_back(api().last_error());
      } else {
        base = api().environment_getenv(env, "BOOT_LOG_DIR");
      }
      all_open.arrive_and_wait();  // every task of this round is open now
      {
        std::lock_guard<std::mutex> lock(mutex);
        bases_per_round[round].insert(base);
      }
      all_compared.arrive_and_wait();
      api().environment_free(&env);
      if (api().close(&m) != PYENV_OK) {
        std::lock_guard<std::mutex> lock(mutex);
        errors.push_back(api().last_error());
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(task);
  for (std::thread &t : threads) t.join();

  EXPECT_EQ(errors, std::vector<std::string>{});
  for (int round = 0; round < kRounds; ++round) {
    EXPECT_EQ(bases_per_round[round].size(), 1u) << "round " << round;
  }
  EXPECT_EQ(list_tree(tmp.path()), std::set<std::string>{});
}

// A plugin that cannot be unloaded leaks its code and data into a host that reloads it (a
// thread_local with a destructor, a STB_GNU_UNIQUE symbol, or a leaked dlopen would pin it).
// The copy is loaded only here, so no other test's handle keeps it mapped.
TEST(AbiUnloadTest, DlcloseUnloadsThePlugin) {
  TempDir dir;
  const fs::path copy = dir / "libpyenv-unload-copy.so";
  fs::copy_file(plugin_path(), copy);
  ASSERT_EQ(::dlopen(copy.c_str(), RTLD_NOW | RTLD_NOLOAD), nullptr);

  void *handle = ::dlopen(copy.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << ::dlerror();
  auto symbol = [&](const char *name) {
    void *address = ::dlsym(handle, name);
    EXPECT_NE(address, nullptr) << name;
    return address;
  };
  auto create = reinterpret_cast<decltype(&pyenv_create)>(symbol("pyenv_create"));
  auto open = reinterpret_cast<decltype(&pyenv_open)>(symbol("pyenv_open"));
  auto create_environment =
      reinterpret_cast<decltype(&pyenv_create_environment)>(symbol("pyenv_create_environment"));
  auto environment_free =
      reinterpret_cast<decltype(&pyenv_environment_free)>(symbol("pyenv_environment_free"));
  auto close = reinterpret_cast<decltype(&pyenv_close)>(symbol("pyenv_close"));
  auto last_error = reinterpret_cast<decltype(&pyenv_last_error)>(symbol("pyenv_last_error"));
  ASSERT_FALSE(::testing::Test::HasFailure());

  TempDir tmp;
  write_file(dir / "job.py", "print('hi')\n");
  const std::string tmp_path = tmp.path().string();
  const char *tmp_dirs[] = {tmp_path.c_str()};
  const std::string yaml = "python.files: " + (dir / "job.py").string();
  pyenv_options o = job_options("unload-job", tmp_dirs, yaml.c_str());
  pyenv_manager *m = nullptr;
  ASSERT_EQ(create(&m, &o), PYENV_OK) << last_error();
  ASSERT_EQ(open(m), PYENV_OK) << last_error();
  pyenv_environment *env = nullptr;
  ASSERT_EQ(create_environment(m, &env), PYENV_OK) << last_error();
  environment_free(&env);
  EXPECT_EQ(close(&m), PYENV_OK) << last_error();
  // Touches this thread's error buffer in the plugin.
  EXPECT_EQ(open(nullptr), PYENV_EINVAL);
  EXPECT_THAT(last_error(), HasSubstr("manager"));

  ASSERT_EQ(::dlclose(handle), 0) << ::dlerror();
  void *still = ::dlopen(copy.c_str(), RTLD_NOW | RTLD_NOLOAD);
  EXPECT_EQ(still, nullptr) << "the plugin stayed loaded after its last dlclose";
  if (still != nullptr) ::dlclose(still);
}

// Many tasks come and go in a long-running host: each cycle must remove everything it staged
// and free everything it allocated (the asan build checks the latter).
TEST(AbiCycleTest, ManyCyclesLeaveNothingBehind) {
  TempDir sources;
  write_file(sources / "job.py", "print('hi')\n");
  const std::string yaml = "python.files: " + (sources / "job.py").string();
  ScratchDir tmp;
  const std::string tmp_path = tmp.path().string();
  const char *tmp_dirs[] = {tmp_path.c_str()};
  constexpr int kCycles = 1000;
  for (int i = 0; i < kCycles; ++i) {
    pyenv_options o = job_options("cycle-job", tmp_dirs, yaml.c_str());
    pyenv_manager *m = nullptr;
    ASSERT_EQ(api().create(&m, &o), PYENV_OK) << "cycle " << i << ": " << api().last_error();
    ASSERT_EQ(api().open(m), PYENV_OK) << "cycle " << i << ": " << api().last_error();
    pyenv_environment *env = nullptr;
    ASSERT_EQ(api().create_environment(m, &env), PYENV_OK)
        << "cycle " << i << ": " << api().last_error();
    // Something really was staged, so the emptiness checked below means cleanup.
    ASSERT_EQ(api().environment_path_count(env), 1u);
    ASSERT_TRUE(fs::exists(fs::path(api().environment_path_at(env, 0)) / "job.py"))
        << "cycle " << i;
    api().environment_free(&env);
    ASSERT_EQ(api().close(&m), PYENV_OK) << "cycle " << i << ": " << api().last_error();
  }
  EXPECT_EQ(list_tree(tmp.path()), std::set<std::string>{});
}

}  // namespace
}  // namespace pyenv::test
