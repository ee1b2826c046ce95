// The embedded interpreter on the machine's Python 3.11 (/usr/bin/python3, home /usr).
// Every test here may run in one process: they all need the same home.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <atomic>
#include <cstddef>
#include <iostream>
#include <thread>

#include "python/python_support.hpp"

namespace pyenv::test {
namespace {

using python::Interpreter;

const fs::path kSystemLibpython = "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0";

// A module `pyenv_probe` that the tests use to look inside the interpreter.
void install_probe(Interpreter &interpreter) {
  interpreter.exec(
      "import sys, types\n"
      "m = types.ModuleType('pyenv_probe')\n"
      "m.path = lambda: sys.path\n"
      "m.modules = lambda: sorted(sys.modules)\n"
      "sys.modules['pyenv_probe'] = m\n");
}

// sys.path of the running CPython, through a handle of its own.
std::string sys_path() {
  auto probe = Interpreter::open(system_python(), Logger());
  install_probe(*probe);
  return probe->call_json("pyenv_probe:path", "[]");
}

TEST(Interpreter, ExecAndCallJson) {
  auto interpreter = Interpreter::open(system_python(), Logger());
  interpreter->exec("def add(a, b):\n    return a + b\n");
  EXPECT_EQ(interpreter->call_json("add", "[1, 2]"), "3");
  EXPECT_EQ(interpreter->call_json("add", R"(["a", "b"])"), R"("ab")");
  EXPECT_EQ(interpreter->call_json("json:dumps", R"([{"a": [1, 2]}])"), R"("{\"a\": [1, 2]}")");
  EXPECT_EQ(interpreter->call_json("os.path:join", R"(["a", "b"])"), R"("a/b")");
  EXPECT_EQ(interpreter->call_json("len", "[[1, 2, 3]]"), "3");  // a builtin
  EXPECT_EQ(interpreter->call_json("dict", "[]"), "{}");
  EXPECT_EQ(interpreter->call_json("collections:OrderedDict.fromkeys", R"([["a"]])"),
            R"({"a": null})")
      << "module:Class.method";
}

TEST(Interpreter, RunsTheEnvironmentsPython) {
  auto interpreter = Interpreter::open(system_python(), Logger());
  auto info = Interpreter::running();
  ASSERT_TRUE(info);
  EXPECT_EQ(info->libpython, fs::canonical(kSystemLibpython));
  EXPECT_EQ(info->home, "/usr");
  EXPECT_EQ(info->version.substr(0, 5), "3.11.");
  interpreter->exec(
      "import sys\n"
      "def facts():\n"
      "    return [sys.prefix, sys.executable, sys.flags.isolated, '' in sys.path,\n"
      "            sys.flags.utf8_mode, sys.flags.no_user_site, sys.flags.ignore_environment]\n");
  EXPECT_EQ(interpreter->call_json("facts", "[]"),
            R"(["/usr", "/usr/bin/python3", 1, false, 1, 1, 1])");
  const python::RuntimeInfo now = interpreter->info();
  EXPECT_EQ(now.implementation, "cpython");
  EXPECT_FALSE(now.free_threaded);
  EXPECT_TRUE(now.gil_enabled);
  EXPECT_EQ(now.prefix, "/usr");
  EXPECT_EQ(now.executable, "/usr/bin/python3");
  EXPECT_EQ(python::to_json(now), "{\"version\": \"" + now.version +
                                      "\", \"implementation\": \"cpython\", \"free_threaded\": "
                                      "false, \"gil_enabled\": true, \"prefix\": \"/usr\", "
                                      "\"executable\": \"/usr/bin/python3\", \"libpython\": \"" +
                                      fs::canonical(kSystemLibpython).string() +
                                      "\", \"execution_mode\": \"thread\", \"pid\": " +
                                      std::to_string(::getpid()) + "}");
}

TEST(Interpreter, LeavesTheHostsSignalHandlersAlone) {
  struct sigaction before {};
  ::sigaction(SIGINT, nullptr, &before);
  auto interpreter = Interpreter::open(system_python(), Logger());
  struct sigaction after {};
  ::sigaction(SIGINT, nullptr, &after);
  EXPECT_EQ(before.sa_handler, after.sa_handler);
}

TEST(Interpreter, CallBytes) {
  auto interpreter = Interpreter::open(system_python(), Logger());
  interpreter->exec("def rev(b):\n    return b[::-1]\n");
  EXPECT_EQ(text(interpreter->call_bytes("rev", "abc", 3)), "cba");
  EXPECT_EQ(text(interpreter->call_bytes("rev", nullptr, 0)), "");
  const std::string binary("\0\1\2\xff", 4);
  EXPECT_EQ(text(interpreter->call_bytes("rev", binary.data(), binary.size())),
            std::string("\xff\2\1\0", 4));
  EXPECT_EQ(text(interpreter->call_bytes("base64:b64encode", "abc", 3)), "YWJj");
  // bytearray and memoryview are buffers too.
  interpreter->exec("def ba(b):\n    return bytearray(b) + b'!'\n");
  EXPECT_EQ(text(interpreter->call_bytes("ba", "x", 1)), "x!");
  // Released to a C caller, freed with free().
  auto buffer = interpreter->call_bytes("rev", "ab", 2);
  void *raw = buffer.release();
  EXPECT_EQ(buffer.size(), 2u);
  EXPECT_EQ(std::string(static_cast<char *>(raw), 2), "ba");
  std::free(raw);
}

TEST(Interpreter, StrResultsComeBackAsUtf8) {
  auto interpreter = Interpreter::open(system_python(), Logger());
  interpreter->exec("def greet(b):\n    return 'h\\u00e9llo ' + b.decode() + ' \\u20ac'\n");
  EXPECT_EQ(text(interpreter->call_bytes("greet", "x", 1)), "h\xc3\xa9llo x \xe2\x82\xac");
}

TEST(Interpreter, ResultOfTheWrongType) {
  auto interpreter = Interpreter::open(system_python(), Logger());
  interpreter->exec("def number(b):\n    return 42\n");
  Error e = error_of([&] { interpreter->call_bytes("number", "x", 1); });
  EXPECT_EQ(e.status(), Status::kPython);
  EXPECT_NE(std::string(e.what()).find("returned int, expected bytes or str"), std::string::npos)
      << e.what();
  interpreter->exec("def unserialisable():\n    return object()\n");
  e = error_of([&] { interpreter->call_json("unserialisable", "[]"); });
  EXPECT_EQ(e.status(), Status::kPython);
  EXPECT_NE(std::string(e.what()).find("not JSON serializable"), std::string::npos) << e.what();
}

TEST(Interpreter, ExceptionsCarryTheTraceback) {
  auto interpreter = Interpreter::open(system_python(), Logger());
  interpreter->exec(
      "def parse(b):\n"
      "    return check(b.decode())\n"
      "def check(s):\n"
      "    raise ValueError('bad record ' + s)\n");
  Error e = error_of([&] { interpreter->call_bytes("parse", "r1", 2); });
  EXPECT_EQ(e.status(), Status::kPython);
  const std::string message = e.what();
  EXPECT_NE(message.find("\"parse\" raised an exception"), std::string::npos) << message;
  EXPECT_NE(message.find("Traceback (most recent call last):"), std::string::npos) << message;
  EXPECT_NE(message.find("in parse"), std::string::npos) << message;
  EXPECT_NE(message.find("in check"), std::string::npos) << message;
  EXPECT_NE(message.find("ValueError: bad record r1"), std::string::npos) << message;

  e = error_of([&] { interpreter->call_json("parse", "[1]"); });
  EXPECT_NE(std::string(e.what()).find("AttributeError: 'int' object has no attribute 'decode'"),
            std::string::npos)
      << e.what();

  e = error_of([&] { interpreter->exec("def broken(:\n"); });
  EXPECT_EQ(e.status(), Status::kPython);
  EXPECT_NE(std::string(e.what()).find("SyntaxError"), std::string::npos) << e.what();

  e = error_of([&] { interpreter->call_bytes("no_such_module_x:f", "", 0); });
  EXPECT_EQ(e.status(), Status::kPython);
  EXPECT_NE(std::string(e.what()).find("ModuleNotFoundError: No module named 'no_such_module_x'"),
            std::string::npos)
      << e.what();

  e = error_of([&] { interpreter->call_bytes("json:no_such_function", "", 0); });
  EXPECT_NE(std::string(e.what()).find("AttributeError"), std::string::npos) << e.what();

  e = error_of([&] { interpreter->call_bytes("undefined_name", "", 0); });
  EXPECT_EQ(e.status(), Status::kPython);
  EXPECT_NE(std::string(e.what()).find("not defined"), std::string::npos) << e.what();

  // The interpreter is still fine afterwards.
  interpreter->exec("def ok(b):\n    return b\n");
  EXPECT_EQ(text(interpreter->call_bytes("ok", "y", 1)), "y");
}

TEST(Interpreter, SystemExitIsAnErrorNotAnExit) {
  auto interpreter = Interpreter::open(system_python(), Logger());
  Error e = error_of([&] { interpreter->exec("import sys\nsys.exit(3)\n"); });
  EXPECT_EQ(e.status(), Status::kPython);
  EXPECT_NE(std::string(e.what()).find("SystemExit: 3"), std::string::npos) << e.what();
  e = error_of([&] { interpreter->exec("import os\nraise KeyboardInterrupt()\n"); });
  EXPECT_NE(std::string(e.what()).find("KeyboardInterrupt"), std::string::npos) << e.what();
  EXPECT_EQ(interpreter->call_json("len", "[[1]]"), "1");
}

TEST(Interpreter, BadArguments) {
  auto interpreter = Interpreter::open(system_python(), Logger());
  EXPECT_EQ(error_of([&] { interpreter->call_json("len", "{\"a\": 1}"); }).status(),
            Status::kInvalid);
  EXPECT_EQ(error_of([&] { interpreter->call_json("len", "[1,"); }).status(), Status::kInvalid);
  EXPECT_EQ(error_of([&] { interpreter->call_json("len", "\xff"); }).status(), Status::kInvalid);
  for (const char *callable : {"", "json:", ":dumps", "json:.dumps", "json:a..b"}) {
    EXPECT_EQ(error_of([&] { interpreter->call_bytes(callable, "", 0); }).status(),
              Status::kInvalid)
        << callable;
  }
  EXPECT_EQ(error_of([&] { interpreter->call_bytes("json:__doc__", "", 0); }).status(),
            Status::kPython);
  EXPECT_EQ(error_of([&] { interpreter->call_bytes("len", nullptr, 1); }).status(),
            Status::kInvalid);
}

TEST(Interpreter, EachHandleHasItsOwnGlobals) {
  auto a = Interpreter::open(system_python(), Logger());
  auto b = Interpreter::open(system_python(), Logger());
  a->exec("def f():\n    return 'a'\n");
  EXPECT_EQ(a->call_json("f", "[]"), R"("a")");
  EXPECT_EQ(error_of([&] { b->call_json("f", "[]"); }).status(), Status::kPython);
  b->exec("def f():\n    return 'b'\n");
  EXPECT_EQ(b->call_json("f", "[]"), R"("b")");
  // A name is looked up on every call: rebinding takes effect.
  a->exec("def f():\n    return 'a2'\n");
  EXPECT_EQ(a->call_json("f", "[]"), R"("a2")");
}

TEST(Interpreter, EightHostThreadsAtOnce) {
  auto interpreter = Interpreter::open(system_python(), Logger());
  interpreter->exec(
      "import threading\n"
      "def tag(b):\n"
      "    return b + b'|' + str(len(b)).encode()\n");
  constexpr int kThreads = 8, kCalls = 5000;
  std::atomic<int> wrong{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        const std::string record = "t" + std::to_string(t) + "-" + std::to_string(i);
        try {
          auto out = interpreter->call_bytes("tag", record.data(), record.size());
          if (text(out) != record + "|" + std::to_string(record.size())) ++wrong;
        } catch (const std::exception &) {
          ++errors;
        }
      }
    });
  }
  for (auto &thread : threads) thread.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(errors, 0);
  // Threads that came and went left the GIL free.
  EXPECT_EQ(interpreter->call_json("len", "[[1, 2]]"), "2");
}

TEST(Interpreter, ThreadsOpenAndCloseHandlesAtOnce) {
  TempDir tmp;
  write_file(tmp / "shared" / "sharedmod.py", "def f(b):\n    return b.upper()\n");
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        try {
          auto interpreter =
              Interpreter::open(system_python({(tmp / "shared").string()}), Logger());
          if (text(interpreter->call_bytes("sharedmod:f", "ab", 2)) != "AB") ++errors;
        } catch (const std::exception &e) {
          ADD_FAILURE() << e.what();
          ++errors;
        }
      }
    });
  }
  for (auto &thread : threads) thread.join();
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(sys_path().find((tmp / "shared").string()), std::string::npos);
}

TEST(Interpreter, PathsComeFirstAndLeaveWithTheirLastInterpreter) {
  TempDir tmp;
  const fs::path a = tmp / "a", b = tmp / "b";
  write_file(a / "moda.py", "def f(b):\n    return b'a:' + b\n");
  write_file(b / "modb.py", "def f(b):\n    return b'b:' + b\n");
  auto base = Interpreter::open(system_python(), Logger());
  install_probe(*base);
  const std::string before = base->call_json("pyenv_probe:path", "[]");
  EXPECT_EQ(before.find("\"\""), std::string::npos) << "an empty entry: " << before;

  // An empty entry is dropped, a duplicate counted once.
  const Environment env = system_python({a.string(), "", b.string(), a.string()});
  auto first = Interpreter::open(env, Logger());
  auto second = Interpreter::open(env, Logger());
  const std::string with = base->call_json("pyenv_probe:path", "[]");
  EXPECT_EQ(with.rfind("[\"" + a.string() + "\", \"" + b.string() + "\", ", 0), 0u) << with;
  EXPECT_EQ(with.find("\"\""), std::string::npos) << with;
  EXPECT_EQ(text(first->call_bytes("moda:f", "x", 1)), "a:x");
  EXPECT_EQ(text(second->call_bytes("modb:f", "x", 1)), "b:x");

  first.reset();
  EXPECT_EQ(base->call_json("pyenv_probe:path", "[]"), with) << "one interpreter still uses them";
  second.reset();
  EXPECT_EQ(base->call_json("pyenv_probe:path", "[]"), before);
  const std::string modules = base->call_json("pyenv_probe:modules", "[]");
  EXPECT_EQ(modules.find("\"moda\""), std::string::npos) << "stale module kept";
  EXPECT_EQ(modules.find("\"modb\""), std::string::npos) << "stale module kept";

  // A later job with a module of the same name gets its own, not the stale one.
  write_file(tmp / "c" / "moda.py", "def f(b):\n    return b'c:' + b\n");
  auto third = Interpreter::open(system_python({(tmp / "c").string()}), Logger());
  EXPECT_EQ(text(third->call_bytes("moda:f", "x", 1)), "c:x");
}

TEST(Interpreter, OpenCloseManyTimesWithoutGrowth) {
  TempDir tmp;
  write_file(tmp / "job" / "jobmod.py", "def f(b):\n    return b\n");
  auto base = Interpreter::open(system_python(), Logger());
  install_probe(*base);
  const Environment env = system_python({(tmp / "job").string(), (tmp / "other").string()});
  auto cycle = [&] {
    auto interpreter = Interpreter::open(env, Logger());
    interpreter->exec("x = list(range(1000))\ndef g(b):\n    return b\n");
    EXPECT_EQ(text(interpreter->call_bytes("jobmod:f", "r", 1)), "r");
    EXPECT_EQ(text(interpreter->call_bytes("g", "r", 1)), "r");
  };
  for (int i = 0; i < 100; ++i) cycle();  // warm-up: allocator pools, import caches
  const std::string path_before = base->call_json("pyenv_probe:path", "[]");
  const std::string modules_before = base->call_json("pyenv_probe:modules", "[]");
  const size_t rss_before = rss_bytes();
  for (int i = 0; i < 1000; ++i) cycle();
  const size_t rss_after = rss_bytes();
  EXPECT_EQ(base->call_json("pyenv_probe:path", "[]"), path_before);
  EXPECT_EQ(base->call_json("pyenv_probe:modules", "[]"), modules_before);
#ifndef __SANITIZE_ADDRESS__  // ASan's quarantine keeps freed memory resident on purpose
  EXPECT_LT(rss_after, rss_before + (4u << 20))
      << "RSS grew from " << rss_before << " to " << rss_after << " bytes";
#endif
  std::cout << "RSS over 1000 open/close: " << rss_before / 1024 << " KiB -> " << rss_after / 1024
            << " KiB\n";
}

TEST(Interpreter, EnvironmentFromAManagerWithPythonFiles) {
  TempDir tmp;
  write_file(tmp / "jobmod.py",
             "import helper\n"
             "def handle(b):\n"
             "    return helper.shout(b)\n");
  write_file(tmp / "pkg" / "helper.py", "def shout(b):\n    return b.upper() + b'!'\n");
  write_file(tmp / "late.py", "def f(b):\n    return b\n");
  auto manager = open_manager(tmp.path(),
                              "python.executable: /usr/bin/python3\n"
                              "python.systemenv.enabled: false\n"
                              "python.files: [" +
                                  (tmp / "jobmod.py").string() + ", " + (tmp / "pkg").string() +
                                  ", " + (tmp / "late.py").string() + "]\n");
  const Environment env = manager->create_environment();
  auto interpreter = Interpreter::open(env, Logger());
  EXPECT_EQ(text(interpreter->call_bytes("jobmod:handle", "word", 4)), "WORD!");

  // The manager closes (its base directory goes) while the interpreter is open: what was
  // imported keeps working, new imports fail cleanly.
  manager->close();
  EXPECT_EQ(text(interpreter->call_bytes("jobmod:handle", "x", 1)), "X!");
  Error e = error_of([&] { interpreter->call_bytes("late:f", "x", 1); });
  EXPECT_EQ(e.status(), Status::kPython);
  EXPECT_NE(std::string(e.what()).find("No module named 'late'"), std::string::npos) << e.what();
}

TEST(Interpreter, RunsInTheWorkingDirectoryWithoutMovingTheHost) {
  TempDir tmp;
  write_zip(tmp / "data.zip", {file_entry("hello.txt", "hello from the archive")});
  auto manager = open_manager(tmp.path(),
                              "python.executable: /usr/bin/python3\n"
                              "python.systemenv.enabled: false\n"
                              "python.archives: " +
                                  (tmp / "data.zip").string() + "#data\n");
  const Environment env = manager->create_environment();
  ASSERT_TRUE(env.working_directory);
  const fs::path host_cwd = fs::current_path();

  auto interpreter = Interpreter::open(env, Logger());
  interpreter->exec(
      "import os\n"
      "def read(b):\n"
      "    with open(b.decode()) as f:\n"
      "        return f.read()\n");
  EXPECT_EQ(interpreter->call_json("os:getcwd", "[]"),
            "\"" + fs::canonical(*env.working_directory).string() + "\"");
  EXPECT_EQ(text(interpreter->call_bytes("read", "data/hello.txt", 14)), "hello from the archive");
  EXPECT_EQ(fs::current_path(), host_cwd) << "the calling thread is back in its own directory";

  // Other host threads, and an environment without a working directory, are not moved.
  std::thread other([&] {
    EXPECT_EQ(fs::current_path(), host_cwd);
    EXPECT_EQ(text(interpreter->call_bytes("read", "data/hello.txt", 14)),
              "hello from the archive");
    EXPECT_EQ(fs::current_path(), host_cwd);
  });
  other.join();
  auto plain = Interpreter::open(system_python(), Logger());
  EXPECT_EQ(plain->call_json("os:getcwd", "[]"), "\"" + host_cwd.string() + "\"");
}

TEST(Interpreter, SecondEnvironmentWithAnotherHomeIsRefused) {
  auto running = Interpreter::open(system_python(), Logger());
  // Another prefix with a standard library and a libpython of the right version.
  TempDir tmp;
  const fs::path home = tmp / "other";
  write_file(home / "lib" / "python3.11" / "os.py", "");
  fs::create_directories(home / "bin");
  fs::create_symlink("/usr/bin/python3.11", home / "bin" / "python3");
  fs::create_symlink(kSystemLibpython, home / "lib" / "libpython3.11.so.1.0");
  Environment env;
  env.python_exec = (home / "bin" / "python3").string();
  env.python_home = home.string();
  Error e = error_of([&] { Interpreter::open(env, Logger()); });
  EXPECT_EQ(e.status(), Status::kPython);
  const std::string message = e.what();
  EXPECT_NE(message.find("home " + fs::canonical(home).string()), std::string::npos) << message;
  EXPECT_NE(message.find("home /usr"), std::string::npos) << message;
  // The running one is unaffected, and the same home again is fine.
  EXPECT_EQ(running->call_json("len", "[[]]"), "0");
  Environment same = system_python();
  same.python_exec = "/usr/bin/python3.11";
  same.python_home = "/usr";
  EXPECT_EQ(Interpreter::open(same, Logger())->call_json("len", "[[]]"), "0");
}

// A home of Python `version` whose libpython is not a library at all: loading it would fail
// with "invalid ELF header", so only a refusal made before loading names the version.
Environment fake_python(const fs::path &home, const std::string &version) {
  write_file(home / "lib" / ("python" + version) / "os.py", "");
  write_file(home / "lib" / ("libpython" + version + ".so.1.0"), "not a library");
  write_file(home / "bin" / "python3", "#!/bin/sh\nexit 1\n", 0755);
  Environment env;
  env.python_exec = (home / "bin" / "python3").string();
  env.python_home = home.string();
  return env;
}

TEST(Interpreter, VersionsOutsideTheRangeAreRefusedBeforeLoading) {
  const bool was_running = Interpreter::running().has_value();
  TempDir tmp;
  for (const std::string version : {"3.8", "3.99", "2.7"}) {
    Error e = error_of([&] { Interpreter::open(fake_python(tmp / version, version), Logger()); });
    EXPECT_EQ(e.status(), Status::kPython);
    EXPECT_NE(std::string(e.what()).find("is Python " + version +
                                         ", but libpyenv embeds CPython 3.9 to 3.15"),
              std::string::npos)
        << e.what();
    EXPECT_EQ(std::string(e.what()).find("ELF"), std::string::npos) << e.what();
  }

  // An executable that says it is 3.8 by its name: not even run.
  fs::create_directories(tmp / "bin");
  fs::copy_file("/bin/false", tmp / "bin" / "python3.8");
  Environment env;
  env.python_exec = (tmp / "bin" / "python3.8").string();
  Error e = error_of([&] { Interpreter::open(env, Logger()); });
  EXPECT_NE(std::string(e.what()).find("python executable " + env.python_exec +
                                       " is Python 3.8, but libpyenv embeds CPython 3.9 to 3.15"),
            std::string::npos)
      << e.what();

  if (!was_running) {
    EXPECT_FALSE(Interpreter::running()) << "nothing was loaded";
    EXPECT_EQ(read_file("/proc/self/maps").find("libpython"), std::string::npos);
  }
  // None of this disturbed the process: the machine's Python still starts.
  EXPECT_EQ(Interpreter::open(system_python(), Logger())->call_json("len", "[[]]"), "0");
}

TEST(Interpreter, NamesThatDisagreeOnTheVersionAreRefused) {
  TempDir tmp;
  // The executable's name says 3.12, the home's standard library 3.11.
  const fs::path home = tmp / "home";
  write_file(home / "lib" / "python3.11" / "os.py", "");
  fs::create_directories(home / "bin");
  fs::copy_file("/bin/false", home / "bin" / "python3.12");
  Environment env;
  env.python_exec = (home / "bin" / "python3.12").string();
  env.python_home = home.string();
  Error e = error_of([&] { Interpreter::open(env, Logger()); });
  EXPECT_EQ(e.status(), Status::kPython);
  EXPECT_NE(std::string(e.what()).find("holds the standard library of Python 3.11, but its "
                                       "executable is Python 3.12"),
            std::string::npos)
      << e.what();

  // Only a libpython of another version (or flavour) in the home.
  const fs::path other = tmp / "other";
  write_file(other / "lib" / "python3.11" / "os.py", "");
  write_file(other / "lib" / "libpython3.12.so.1.0", "");
  write_file(other / "lib" / "libpython3.11t.so.1.0", "");
  write_file(other / "bin" / "python3", "#!/bin/sh\nexit 0\n", 0755);
  env = Environment();
  env.python_exec = (other / "bin" / "python3").string();
  env.python_home = other.string();
  e = error_of([&] { Interpreter::open(env, Logger()); });
  EXPECT_NE(std::string(e.what()).find("is Python 3.11 (free-threaded), 3.12, but its standard "
                                       "library is Python 3.11"),
            std::string::npos)
      << e.what();
}

TEST(Interpreter, NoLibpythonNamesWhereItLooked) {
  const bool was_running = Interpreter::running().has_value();
  TempDir tmp;
  // An executable that is a script printing nothing useful, no home.
  write_file(tmp / "bin" / "python3", "#!/bin/sh\necho hello\n", 0755);
  Environment env;
  env.python_exec = (tmp / "bin" / "python3").string();
  Error e = error_of([&] { Interpreter::open(env, Logger()); });
  EXPECT_EQ(e.status(), Status::kPython);
  std::string message = e.what();
  EXPECT_NE(message.find("no libpython3.X shared library"), std::string::npos) << message;
  EXPECT_NE(message.find("asked " + (tmp / "bin" / "python3").string()), std::string::npos)
      << message;
  EXPECT_NE(message.find("printed nothing usable: hello"), std::string::npos) << message;

  // A home with a standard library but no lib/libpython.
  const fs::path home = tmp / "home";
  write_file(home / "lib" / "python3.11" / "os.py", "");
  write_file(home / "bin" / "python3", "#!/bin/sh\nexit 1\n", 0755);
  env.python_exec = (home / "bin" / "python3").string();
  env.python_home = home.string();
  e = error_of([&] { Interpreter::open(env, Logger()); });
  EXPECT_EQ(e.status(), Status::kPython);
  message = e.what();
  EXPECT_NE(message.find("no libpython3.11 shared library"), std::string::npos) << message;
  EXPECT_NE(message.find(fs::canonical(home).string() + "/lib;"), std::string::npos) << message;
  EXPECT_NE(message.find("exit code 1"), std::string::npos) << message;

  // A home without a standard library; an executable that is not there.
  env.python_home = (tmp / "bin").string();
  e = error_of([&] { Interpreter::open(env, Logger()); });
  EXPECT_NE(std::string(e.what()).find("has no standard library"), std::string::npos) << e.what();
  env = Environment();
  env.python_exec = (tmp / "nowhere" / "python3").string();
  e = error_of([&] { Interpreter::open(env, Logger()); });
  EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  env.python_exec = "no-such-python-3.11";
  e = error_of([&] { Interpreter::open(env, Logger()); });
  EXPECT_NE(std::string(e.what()).find("not found on PATH"), std::string::npos) << e.what();

  if (!was_running) {
    EXPECT_FALSE(Interpreter::running()) << "nothing was loaded";
    EXPECT_EQ(read_file("/proc/self/maps").find("libpython"), std::string::npos);
  }
  EXPECT_EQ(Interpreter::open(system_python(), Logger())->call_json("len", "[[]]"), "0");
}

TEST(Interpreter, ExecutableFoundOnThePath) {
  const bool was_running = Interpreter::running().has_value();
  Environment env;
  env.python_exec = "python3.11";
  env.variables["PATH"] = "/nonexistent:/usr/bin";
  auto interpreter = Interpreter::open(env, Logger());
  EXPECT_EQ(interpreter->call_json("sys:getrecursionlimit", "[]").empty(), false);
  if (!was_running) {
    EXPECT_EQ(Interpreter::running()->executable, "/usr/bin/python3.11");
  }
}

TEST(Interpreter, AWrapperScriptIsAskedWhereItsPythonLives) {
  const bool was_running = Interpreter::running().has_value();
  TempDir tmp;
  // As a pyenv shim or a conda wrapper: its location says nothing about the Python it runs.
  write_file(tmp / "bin" / "python3", "#!/bin/sh\nexec /usr/bin/python3 \"$@\"\n", 0755);
  Environment env;
  env.python_exec = (tmp / "bin" / "python3").string();
  auto interpreter = Interpreter::open(env, Logger());
  EXPECT_EQ(interpreter->call_json("len", "[[]]"), "0");
  if (!was_running) {
    EXPECT_EQ(Interpreter::running()->executable, "/usr/bin/python3") << "the one it runs";
  }
}

// Where the kernel refuses unshare(CLONE_FS) (a seccomp profile), the process enters the
// working directory instead. Run in a child process of its own, under such a profile.
TEST(Interpreter, WorkingDirectoryWithoutUnshare) {
  if (std::getenv("PYENV_TEST_NO_UNSHARE") == nullptr) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::setenv("PYENV_TEST_NO_UNSHARE", "1", 1);
      ::execl("/proc/self/exe", "python_interpreter_tests",
              "--gtest_filter=Interpreter.WorkingDirectoryWithoutUnshare", nullptr);
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    return;
  }
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_unshare, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  ASSERT_EQ(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
  ASSERT_EQ(::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program), 0);
  ASSERT_NE(::unshare(CLONE_FS), 0);

  TempDir tmp;
  write_zip(tmp / "data.zip", {file_entry("hello.txt", "hello")});
  auto manager = open_manager(tmp.path(),
                              "python.executable: /usr/bin/python3\n"
                              "python.systemenv.enabled: false\n"
                              "python.archives: " +
                                  (tmp / "data.zip").string() + "#data\n");
  const Environment env = manager->create_environment();
  LogLines log;
  auto interpreter = Interpreter::open(env, log.logger());
  const std::string wd = fs::canonical(*env.working_directory).string();
  EXPECT_EQ(interpreter->call_json("os:getcwd", "[]"), "\"" + wd + "\"");
  interpreter->exec("def read(b):\n    return open(b.decode(), 'rb').read()\n");
  EXPECT_EQ(text(interpreter->call_bytes("read", "data/hello.txt", 14)), "hello");
  EXPECT_EQ(fs::current_path().string(), wd) << "the documented fallback moves the process";
  bool warned = false;
  for (const auto &line : log.lines) warned |= line.find("unshare(CLONE_FS)") != std::string::npos;
  EXPECT_TRUE(warned);
  fs::current_path("/");
}

}  // namespace
}  // namespace pyenv::test
