// The version matrix (ctest -L python-matrix): one plugin build embedding CPython 3.9, the
// machine's 3.11, 3.13 and free-threaded 3.13t, each shipped as a job ships it (an
// environment archive extracted by the plugin), through the built libpyenv.so loaded with
// dlopen. CPython starts once per process, so every test runs in a child process of its own
// (ctest already gives each test one; run directly, the child keeps them apart).
//
// A Python of the matrix that is not built is skipped with the reason, unless
// PYENV_REQUIRE_PYTHON_MATRIX=1 (CI's matrix stage), where it fails.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <regex>
#include <thread>

#include "python/own_process.hpp"
#include "python/python_matrix.hpp"
#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

using pyenv::host::Error;

// A private archive cache shared by the matrix's tests, so that each archive is extracted
// once per build tree rather than once per test.
std::string cache_yaml() {
  const fs::path cache = PYENV_MATRIX_CACHE_DIR;
  fs::create_directories(cache);
  fs::permissions(cache, fs::perms::owner_all);
  return "pyenv.cache.dir: " + cache.string() + "\n";
}

// Resident set size in bytes.
size_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

// The value of "key" in the flat JSON object `json` (true, false, a number or a string).
std::string json_member(const std::string &json, const std::string &key) {
  const std::regex member("\"" + key + "\": (\"([^\"]*)\"|[a-z0-9.]+)");
  std::smatch m;
  if (!std::regex_search(json, m, member)) return "<missing>";
  return m[2].matched ? m[2].str() : m[1].str();
}

// A job's manager on tmp dir `tmp` with `yaml` (the system environment left out), opened.
pyenv::host::Manager open_job(const fs::path &tmp, const std::string &job,
                              const std::string &yaml) {
  static int jobs = 0;
  pyenv::host::Options options;
  options.job_id = job + "-" + std::to_string(::getpid()) + "-" + std::to_string(++jobs);
  options.tmp_dirs = {tmp.string()};
  options.config_yaml = yaml + "python.systemenv.enabled: false\n";
  pyenv::host::Manager manager = plugin().create(options);
  manager.open();
  return manager;
}

class Matrix : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    auto found = find_matrix_python(GetParam(), why);
    if (!found) {
      if (matrix_required()) FAIL() << "Python " << GetParam() << ": " << why;
      GTEST_SKIP() << "Python " << GetParam() << ": " << why;
    }
    python_ = *found;
    write_file(tmp_ / "files" / "jobmod.py",
               "import json, sys\n"
               "def echo(value):\n"
               "    return {'got': value, 'version': list(sys.version_info[:2])}\n"
               "def tag(record):\n"
               "    return record + b'|' + str(len(record)).encode()\n"
               "def parse(record):\n"
               "    return check(record.decode())\n"
               "def check(text):\n"
               "    raise ValueError('bad record ' + text)\n");
  }

  // A manager of this Python's environment with `extra` configuration, opened.
  pyenv::host::Manager open_manager(const std::string &extra = "") {
    return open_job(tmp_.path(), "matrix",
                    python_.yaml() + cache_yaml() + "python.files: " + (tmp_ / "files").string() +
                        "\n" + extra);
  }

  // Where the environment's Python lives once extracted.
  fs::path home(const pyenv::host::Environment &env) const {
    return python_.archive.empty() ? python_.tree : fs::canonical(*env.python_home());
  }

  MatrixPython python_;
  TempDir tmp_;
};

TEST_P(Matrix, StartsIsolatedWithTheEnvironmentsHome) {
  if (!in_own_process()) return;
  auto manager = open_manager();
  auto env = manager.create_environment();
  struct sigaction before {};
  ::sigaction(SIGINT, nullptr, &before);
  auto interp = env.interpreter();
  struct sigaction after {};
  ::sigaction(SIGINT, nullptr, &after);
  EXPECT_EQ(before.sa_handler, after.sa_handler) << "CPython installed a SIGINT handler";

  interp.exec(
      "import sys\n"
      "def facts():\n"
      "    return ['%d.%d' % sys.version_info[:2], sys.prefix, sys.base_prefix,\n"
      "            sys.flags.utf8_mode, sys.flags.isolated, sys.flags.no_user_site,\n"
      "            sys.flags.ignore_environment, '' in sys.path]\n");
  const fs::path prefix = home(env);
  EXPECT_EQ(interp.call_json("facts"), "[\"" + python_.version + "\", \"" + prefix.string() +
                                           "\", \"" + prefix.string() + "\", 1, 1, 1, 1, false]");

  const std::string info = interp.info();
  EXPECT_EQ(json_member(info, "version").rfind(python_.version + ".", 0), 0u) << info;
  EXPECT_EQ(json_member(info, "implementation"), "cpython") << info;
  EXPECT_EQ(json_member(info, "free_threaded"), python_.free_threaded ? "true" : "false") << info;
  EXPECT_EQ(json_member(info, "gil_enabled"), python_.free_threaded ? "false" : "true") << info;
  EXPECT_EQ(json_member(info, "prefix"), prefix.string()) << info;
  const std::string executable = json_member(info, "executable");
  EXPECT_EQ(fs::path(executable).parent_path(), prefix / "bin") << info;
  EXPECT_EQ(fs::canonical(executable),
            fs::canonical(prefix / python_.executable.substr(python_.executable.find("bin/"))))
      << info;
  if (!python_.archive.empty()) {
    const std::string lib = "libpython" + python_.name + ".so.1.0";
    EXPECT_EQ(json_member(info, "libpython"), (prefix / "lib" / lib).string()) << info;
    // The machine's libpython was never loaded.
    EXPECT_EQ(read_file("/proc/self/maps").find("/usr/lib/x86_64-linux-gnu/libpython"),
              std::string::npos);
  }
}

TEST_P(Matrix, RunsTheJobsCode) {
  if (!in_own_process()) return;
  auto manager = open_manager();
  auto interp = manager.create_environment().interpreter();
  EXPECT_EQ(interp.call_json("jobmod:echo", R"([{"a": [1, 2.5, "\u00e9", null, true]}])"),
            R"({"got": {"a": [1, 2.5, "\u00e9", null, true]}, "version": [)" +
                std::string(python_.version).replace(1, 1, ", ") + "]}");
  EXPECT_EQ(interp.call_bytes("jobmod:tag", "r1", 2), "r1|2");
  const std::string binary("\0\1\xff", 3);
  EXPECT_EQ(interp.call_bytes("jobmod:tag", binary.data(), binary.size()), binary + "|3");
  try {
    interp.call_bytes("jobmod:parse", "x7", 2);
    ADD_FAILURE() << "must raise";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), PYENV_EPYTHON);
    const std::string message = e.what();
    EXPECT_NE(message.find("Traceback (most recent call last):"), std::string::npos) << message;
    EXPECT_NE(message.find("in parse"), std::string::npos) << message;
    EXPECT_NE(message.find("in check"), std::string::npos) << message;
    EXPECT_NE(message.find("ValueError: bad record x7"), std::string::npos) << message;
  }
  interp.exec("def twice(b):\n    return bytearray(b * 2)\n");
  EXPECT_EQ(interp.call_bytes("twice", "ab", 2), "abab");
}

TEST_P(Matrix, EightHostThreadsAtOnce) {
  if (!in_own_process()) return;
  auto manager = open_manager();
  auto interp = manager.create_environment().interpreter();
  std::atomic<int> wrong{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string record = "t" + std::to_string(t) + "-" + std::to_string(i);
        try {
          if (interp.call_bytes("jobmod:tag", record.data(), record.size()) !=
              record + "|" + std::to_string(record.size())) {
            ++wrong;
          }
          if (i % 100 == 0 &&
              interp.call_json("jobmod:echo", "[" + std::to_string(i) + "]")
                      .find("\"got\": " + std::to_string(i) + ",") == std::string::npos) {
            ++wrong;
          }
        } catch (const std::exception &) {
          ++errors;
        }
      }
    });
  }
  for (auto &thread : threads) thread.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(json_member(interp.info(), "gil_enabled"), python_.free_threaded ? "false" : "true");
}

TEST_P(Matrix, OpenedAndClosedAThousandTimesWithoutGrowth) {
  if (!in_own_process()) return;
  // The probe's environment has no files of its own, so it never owns the job's paths.
  pyenv::host::Manager probe_manager =
      open_job(tmp_.path(), "matrix-probe", python_.yaml() + cache_yaml());
  auto probe = probe_manager.create_environment().interpreter();
  probe.exec(
      "import sys\ndef path():\n    return sys.path\ndef modules():\n"
      "    return len(sys.modules)\n");

  auto manager = open_manager();
  auto env = manager.create_environment();
  auto cycle = [&] {
    auto interp = env.interpreter();
    interp.exec("x = list(range(1000))\n");
    if (interp.call_bytes("jobmod:tag", "r", 1) != "r|1") ADD_FAILURE() << "wrong result";
  };
  for (int i = 0; i < 100; ++i) cycle();  // warm-up: allocator pools, import caches
  const std::string path_before = probe.call_json("path");
  const std::string modules_before = probe.call_json("modules");
  const size_t rss_before = rss_bytes();
  for (int i = 0; i < 1000; ++i) cycle();
  const size_t rss_after = rss_bytes();
  EXPECT_EQ(probe.call_json("path"), path_before);
  EXPECT_EQ(probe.call_json("modules"), modules_before);
  EXPECT_EQ(path_before.find((tmp_ / "files").string()), std::string::npos) << path_before;
#ifndef __SANITIZE_ADDRESS__  // ASan's quarantine keeps freed memory resident on purpose
  EXPECT_LT(rss_after, rss_before + (4u << 20))
      << "RSS grew from " << rss_before << " to " << rss_after << " bytes";
#endif
  std::printf("Python %s: RSS over 1000 open/close: %zu KiB -> %zu KiB\n", python_.name.c_str(),
              rss_before / 1024, rss_after / 1024);
}

TEST_P(Matrix, AVenvMadeFromItWorks) {
  if (!in_own_process()) return;
  const fs::path venv = tmp_ / "venv";
  const std::string python =
      (python_.tree / "bin" / fs::path(python_.executable).filename()).string();
  const std::string command = python + " -I -m venv --without-pip " + venv.string() + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  write_file(venv / "lib" / ("python" + python_.name) / "site-packages" / "venvmod.py",
             "import sys\ndef where(b):\n    return sys.prefix.encode() + b':' + b\n");

  pyenv::host::Manager manager =
      open_job(tmp_.path(), "matrix-venv",
               "python.executable: " + (venv / "bin" / "python").string() + "\n");
  auto interp = manager.create_environment().interpreter();
  EXPECT_EQ(interp.call_bytes("venvmod:where", "x", 1), fs::canonical(venv).string() + ":x");
  interp.exec("import sys\ndef base():\n    return sys.base_prefix\n");
  EXPECT_EQ(interp.call_json("base"), "\"" + fs::canonical(python_.tree).string() + "\"");
  EXPECT_EQ(json_member(interp.info(), "prefix"), fs::canonical(venv).string());
}

// The real libpython with a home whose standard library is an empty os.py: CPython fails to
// start (no encodings module). That is PYENV_EPYTHON with CPython's reason, not an exit of
// the host; the process then refuses to start CPython again.
TEST_P(Matrix, AHomeWithoutItsStandardLibraryIsAnErrorNotAnExit) {
  if (!in_own_process()) return;
  const std::string executable = fs::path(python_.executable).filename().string();
  const fs::path libpython = python_.archive.empty()
                                 ? fs::path("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0")
                                 : python_.tree / "lib" / ("libpython" + python_.name + ".so.1.0");
  write_zip(tmp_ / "broken.zip",
            {link_entry("bin/" + executable, (python_.tree / "bin" / executable).string()),
             link_entry("lib/" + libpython.filename().string(), libpython.string()),
             file_entry("lib/python" + python_.name + "/os.py", "")});
  auto manager = open_job(tmp_.path(), "matrix-broken",
                          "python.archives: " + (tmp_ / "broken.zip").string() +
                              "#py\npython.executable: py/bin/" + executable + "\n");
  auto env = manager.create_environment();
  for (const char *expected : {"starting CPython failed", "cannot be started again"}) {
    try {
      env.interpreter();
      ADD_FAILURE() << "CPython started without its standard library";
    } catch (const Error &e) {
      EXPECT_EQ(e.status(), PYENV_EPYTHON);
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  }
}

// 3.13t: an extension module that does not declare free-threading support (no Py_mod_gil
// slot; single-phase init) makes CPython enable the GIL when it is imported. libpyenv says
// so, once, and pyenv_interpreter_info reports it.
// Only the free-threaded builds of the matrix: the others have a GIL anyway.
class FreeThreaded : public Matrix {};

TEST_P(FreeThreaded, AGilReenabledByAnExtensionIsReported) {
  ASSERT_TRUE(python_.free_threaded) << python_.name;
  if (!in_own_process()) return;
  const fs::path include = python_.tree / "include" / ("python" + python_.name);
  ASSERT_TRUE(fs::exists(include / "Python.h")) << include;
  write_file(tmp_ / "ext" / "nogil_ext.c",
             "#include <Python.h>\n"
             "static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, \"nogil_ext\", NULL, -1,\n"
             "                                 NULL};\n"
             "PyMODINIT_FUNC PyInit_nogil_ext(void) { return PyModule_Create(&def); }\n");
  const std::string compile = std::string(PYENV_C_COMPILER) + " -shared -fPIC -I" +
                              include.string() + " -o " +
                              (tmp_ / "files" / "nogil_ext.so").string() + " " +
                              (tmp_ / "ext" / "nogil_ext.c").string() + " 2>&1";
  ASSERT_EQ(std::system(compile.c_str()), 0) << compile;

  auto manager = open_manager();
  auto interp = manager.create_environment().interpreter();
  EXPECT_EQ(json_member(interp.info(), "gil_enabled"), "false");

  // The warnings go to the process's stderr: caught in a file for the time of the import.
  const fs::path caught = tmp_ / "stderr.txt";
  std::fflush(stderr);
  const int saved = ::dup(2);
  FILE *file = std::fopen(caught.c_str(), "w");
  ASSERT_NE(file, nullptr);
  ::dup2(::fileno(file), 2);
  interp.exec("import nogil_ext\n");
  EXPECT_EQ(interp.call_bytes("jobmod:tag", "a", 1), "a|1");
  interp.exec("import json, nogil_ext\n");
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::fclose(file);

  EXPECT_EQ(json_member(interp.info(), "gil_enabled"), "true");
  const std::string text = read_file(caught);
  size_t ours = 0;
  for (size_t at = text.find("re-enabled the GIL"); at != std::string::npos;
       at = text.find("re-enabled the GIL", at + 1)) {
    ++ours;
  }
  EXPECT_EQ(ours, 1u) << text;
  EXPECT_NE(text.find("nogil_ext"), std::string::npos) << "CPython's own warning: " << text;
}

std::string param_name(const ::testing::TestParamInfo<std::string> &info) {
  std::string name = info.param;
  for (char &c : name) c = c == '.' ? '_' : c;
  return name;
}

std::vector<std::string> free_threaded_names() {
  std::vector<std::string> out;
  for (const std::string &name : matrix_names()) {
    if (name.back() == 't') out.push_back(name);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Python, Matrix, ::testing::ValuesIn(matrix_names()), param_name);
INSTANTIATE_TEST_SUITE_P(Python, FreeThreaded, ::testing::ValuesIn(free_threaded_names()),
                         param_name);

// Zipped homes of Python `version` whose libpython is not a library at all: loading it would
// fail with "invalid ELF header", so only a refusal made before loading names the version.
fs::path fake_python_archive(const fs::path &dir, const std::string &version) {
  const fs::path archive = dir / ("python-" + version + ".zip");
  write_zip(archive, {file_entry("bin/python3", "#!/bin/sh\nexit 1\n", 0755),
                      file_entry("lib/python" + version + "/os.py", ""),
                      file_entry("lib/libpython" + version + ".so.1.0", "not a library")});
  return archive;
}

TEST(MatrixRefusals, VersionsOutsideTheRangeBeforeAnythingIsLoaded) {
  if (!in_own_process()) return;
  TempDir tmp;
  for (const std::string version : {"3.8", "3.99"}) {
    pyenv::host::Manager manager =
        open_job(tmp.path(), "matrix-refused",
                 "python.archives: " + fake_python_archive(tmp.path(), version).string() +
                     "#py\npython.executable: py/bin/python3\n");
    auto env = manager.create_environment();
    try {
      env.interpreter();
      ADD_FAILURE() << version << " was not refused";
    } catch (const Error &e) {
      EXPECT_EQ(e.status(), PYENV_EPYTHON);
      EXPECT_NE(std::string(e.what()).find("is Python " + version +
                                           ", but libpyenv embeds CPython 3.9 to 3.15"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(read_file("/proc/self/maps").find("libpython"), std::string::npos)
      << "a libpython was loaded";
}

TEST(MatrixRefusals, ASecondVersionInOneProcess) {
  std::vector<MatrixPython> others;
  std::string why;
  for (const std::string name : {"3.9", "3.13", "3.13t"}) {
    if (auto found = find_matrix_python(name, why)) others.push_back(*found);
  }
  if (others.empty()) {
    if (matrix_required()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  if (!in_own_process()) return;
  TempDir tmp;
  auto open = [&](const MatrixPython &python, const std::string &job) {
    return open_job(tmp.path(), job, python.yaml() + cache_yaml());
  };
  std::string why_not;
  auto running_manager = open(*find_matrix_python("3.11", why_not), "matrix-running");
  auto running = running_manager.create_environment().interpreter();
  for (const MatrixPython &other : others) {
    auto manager = open(other, "matrix-other-" + other.name);
    try {
      manager.create_environment().interpreter();
      ADD_FAILURE() << other.name << " was not refused";
    } catch (const Error &e) {
      EXPECT_EQ(e.status(), PYENV_EPYTHON);
      const std::string message = e.what();
      EXPECT_NE(message.find("needs Python " + other.version +
                             (other.free_threaded ? " (free-threaded)" : "")),
                std::string::npos)
          << message;
      EXPECT_NE(message.find("already runs CPython 3.11."), std::string::npos) << message;
    }
  }
  EXPECT_EQ(running.call_json("len", "[[1, 2]]"), "2") << "the running one is unaffected";
}

// Process mode (DESIGN.md section 10) on every Python of the matrix and the static 3.13s:
// each handle a worker process of that Python, whatever its flavour or linking.
class ProcessMatrix : public Matrix {};

TEST_P(ProcessMatrix, RunsTheJobInAWorkerOfItsPython) {
  if (!in_own_process()) return;
  auto manager = open_manager("python.execution-mode: process\n");
  auto env = manager.create_environment();
  ASSERT_EQ(env.exec_type(), PYENV_EXEC_PROCESS);
  auto interp = env.interpreter();
  const std::string info = interp.info();
  EXPECT_EQ(json_member(info, "version").rfind(python_.version + ".", 0), 0u) << info;
  EXPECT_EQ(json_member(info, "free_threaded"), python_.free_threaded ? "true" : "false") << info;
  EXPECT_EQ(json_member(info, "gil_enabled"), python_.free_threaded ? "false" : "true") << info;
  EXPECT_EQ(json_member(info, "execution_mode"), "process") << info;
  EXPECT_NE(json_member(info, "pid"), std::to_string(::getpid())) << info;
  if (python_.static_libpython) {
    EXPECT_EQ(json_member(info, "libpython"), "null") << info;
  }
  EXPECT_EQ(interp.call_json("jobmod:echo", "[[1, \"a\"]]"),
            "{\"got\": [1, \"a\"], \"version\": [" + python_.version.substr(0, 1) + ", " +
                python_.version.substr(2) + "]}");
  EXPECT_EQ(interp.call_bytes("jobmod:tag", "abc", 3), "abc|3");
  EXPECT_EQ(interp.call_batch("jobmod:tag", {"a", "bb"}),
            (std::vector<std::string>{"a|1", "bb|2"}));
  try {
    interp.call_bytes("jobmod:parse", "x", 1);
    ADD_FAILURE() << "must raise";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), PYENV_EPYTHON);
    EXPECT_NE(std::string(e.what()).find("ValueError: bad record x"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("in check"), std::string::npos) << e.what();
  }
  interp.exec("import os\ndef die(r):\n    os.abort()\n");
  try {
    interp.call_bytes("die", "", 0);
    ADD_FAILURE() << "must fail";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), PYENV_EPYTHON);
    EXPECT_NE(std::string(e.what()).find("SIGABRT"), std::string::npos) << e.what();
  }
  // No libpython of any Python was loaded into the host.
  EXPECT_EQ(read_file("/proc/self/maps").find("libpython"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Python, ProcessMatrix,
                         ::testing::Values("3.9", "3.11", "3.13", "3.13t", "3.13s"),
                         [](const auto &info) {
                           std::string name = info.param;
                           for (char &c : name) c = c == '.' ? '_' : c;
                           return name;
                         });

// A Python without a shared libpython cannot be embedded: thread mode refuses it naming
// process mode, which runs it.
TEST(MatrixRefusals, AStaticPythonInThreadModeNamesProcessMode) {
  std::string why;
  auto found = find_matrix_python("3.13s", why);
  if (!found) {
    if (matrix_required()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  TempDir tmp;
  auto manager = open_job(tmp.path(), "matrix-static", found->yaml() + cache_yaml());
  try {
    manager.create_environment().interpreter();
    ADD_FAILURE() << "a Python without libpython was embedded";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), PYENV_EPYTHON);
    EXPECT_NE(std::string(e.what()).find("python.execution-mode: process"), std::string::npos)
        << e.what();
  }
}

// CONFORMANCE P4: two Pythons in one host at once, each in its workers; thread mode refuses
// the second, naming both and process mode.
TEST(MatrixRefusals, P4_TwoPythonsInOneHost) {
  std::string why;
  auto other = find_matrix_python("3.13", why);
  if (!other) {
    if (matrix_required()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  if (!in_own_process()) return;
  TempDir tmp;
  const std::string process = "python.execution-mode: process\n";
  auto system_manager =
      open_job(tmp.path(), "p4-system", "python.executable: /usr/bin/python3.11\n" + process);
  auto other_manager = open_job(tmp.path(), "p4-other", other->yaml() + cache_yaml() + process);
  auto a = system_manager.create_environment().interpreter();
  auto b = other_manager.create_environment().interpreter();
  a.exec("import sys\ndef v():\n    return list(sys.version_info[:2])\n");
  b.exec("import sys\ndef v():\n    return list(sys.version_info[:2])\n");
  EXPECT_EQ(a.call_json("v"), "[3, 11]");
  EXPECT_EQ(b.call_json("v"), "[3, 13]");

  auto thread_system = open_job(tmp.path(), "p4-thread-system", "python.executable: /usr/bin/python3.11\n");
  auto thread_other = open_job(tmp.path(), "p4-thread-other", other->yaml() + cache_yaml());
  auto embedded = thread_system.create_environment().interpreter();
  try {
    thread_other.create_environment().interpreter();
    ADD_FAILURE() << "a second Python was embedded";
  } catch (const Error &e) {
    const std::string message = e.what();
    EXPECT_EQ(e.status(), PYENV_EPYTHON);
    EXPECT_NE(message.find("needs Python 3.13"), std::string::npos) << message;
    EXPECT_NE(message.find("already runs CPython 3.11."), std::string::npos) << message;
    EXPECT_NE(message.find("python.execution-mode: process"), std::string::npos) << message;
  }
  EXPECT_EQ(b.call_json("v"), "[3, 13]") << "the workers are unaffected";
}

}  // namespace
}  // namespace pyenv::test
