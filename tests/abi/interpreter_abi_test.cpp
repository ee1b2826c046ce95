// The interpreter through the built plugin's C ABI (DESIGN.md sections 6 and 10), in both
// execution modes: every test runs once embedded (thread) and once with a worker process
// (process), and must see the same.
#include <thread>

#include "support/fixture.hpp"

namespace pyenv::test {
namespace {

using pyenv::host::Error;

class InterpreterAbi : public ConformanceTest, public ::testing::WithParamInterface<const char *> {
 protected:
  void SetUp() override {
    ConformanceTest::SetUp();
    write_file(T / "records.py",
               "def add(a, b):\n    return a + b\n\n"
               "def upper(record):\n    return record.upper()\n\n"
               "def text(record):\n    return record.decode() + '\\u00e9'\n\n"
               "def boom(record):\n    raise ValueError('no good: ' + record.decode())\n");
    manager_.emplace(create(std::string("python.execution-mode: ") + GetParam() +
                            "\npython.executable: /usr/bin/python3\npython.files: " +
                            (T / "records.py").string() + "\n"));
    manager_->open();
    env_.emplace(manager_->create_environment());
  }

  std::optional<pyenv::host::Manager> manager_;
  std::optional<pyenv::host::Environment> env_;
};

TEST_P(InterpreterAbi, ExecCallJsonAndCallBytes) {
  pyenv::host::Interpreter interp = env_->interpreter();
  interp.exec("factor = 6\ndef times(x):\n    return x * factor\n");
  EXPECT_EQ(interp.call_json("times", "[7]"), "42");
  EXPECT_EQ(interp.call_json("records:add", "[[1], [2, 3]]"), "[1, 2, 3]");
  EXPECT_EQ(interp.call_bytes("records:upper", "abc", 3), "ABC");
  EXPECT_EQ(interp.call_bytes("records:text", "caf", 3), "caf\xc3\xa9");
  EXPECT_EQ(interp.call_bytes("records:upper", nullptr, 0), "");
}

TEST_P(InterpreterAbi, HandlesHaveTheirOwnGlobals) {
  pyenv::host::Interpreter a = env_->interpreter();
  pyenv::host::Interpreter b = env_->interpreter();
  a.exec("x = 1");
  b.exec("x = 2");
  EXPECT_EQ(a.call_json("str", "[1]"), "\"1\"");
  a.exec("def get():\n    return x\n");
  b.exec("def get():\n    return x\n");
  EXPECT_EQ(a.call_json("get"), "1");
  EXPECT_EQ(b.call_json("get"), "2");
}

TEST_P(InterpreterAbi, ExceptionIsEpythonWithTheTraceback) {
  pyenv::host::Interpreter interp = env_->interpreter();
  try {
    interp.call_bytes("records:boom", "xyz", 3);
    FAIL() << "must raise";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), PYENV_EPYTHON);
    const std::string message = e.what();
    EXPECT_NE(message.find("Traceback"), std::string::npos) << message;
    EXPECT_NE(message.find("in boom"), std::string::npos) << message;
    EXPECT_NE(message.find("ValueError: no good: xyz"), std::string::npos) << message;
  }
  EXPECT_EQ(interp.call_bytes("records:upper", "ok", 2), "OK") << "usable after an exception";
}

TEST_P(InterpreterAbi, BadArgumentsAreEinval) {
  pyenv::host::Interpreter interp = env_->interpreter();
  const pyenv::host::Api &c = api();
  char *json = reinterpret_cast<char *>(1);
  EXPECT_EQ(c.interpreter_call_json(interp.get(), "records:add", "{not json", &json), PYENV_EINVAL);
  EXPECT_EQ(json, nullptr);
  EXPECT_EQ(c.interpreter_call_json(nullptr, "x", "[]", &json), PYENV_EINVAL);
  EXPECT_NE(std::string(c.last_error()).find("interp"), std::string::npos) << c.last_error();
  void *out = nullptr;
  size_t size = 7;
  EXPECT_EQ(c.interpreter_call_bytes(interp.get(), nullptr, "a", 1, &out, &size), PYENV_EINVAL);
  EXPECT_EQ(size, 0u);
  EXPECT_EQ(c.interpreter_exec(interp.get(), nullptr), PYENV_EINVAL);
  pyenv_interpreter *none = nullptr;
  EXPECT_EQ(c.environment_get_interpreter(nullptr, &none), PYENV_EINVAL);
  c.interpreter_close(nullptr);
  c.interpreter_close(&none);
  c.free(nullptr);
}

TEST_P(InterpreterAbi, ManyHostThreadsAtOnce) {
  pyenv::host::Interpreter interp = env_->interpreter();
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string record = "t" + std::to_string(t) + "-r" + std::to_string(i);
        std::string upper = record;
        for (char &ch : upper) ch = static_cast<char>(std::toupper(ch));
        if (interp.call_bytes("records:upper", record.data(), record.size()) != upper) ++wrong;
      }
    });
  }
  for (std::thread &t : threads) t.join();
  EXPECT_EQ(wrong, 0);
}

TEST_P(InterpreterAbi, InfoNamesTheRunningPython) {
  pyenv::host::Interpreter interp = env_->interpreter();
  const std::string info = interp.info();
  const bool process = std::string(GetParam()) == "process";
  // Debian's /usr/bin/python3.11 has libpython linked in statically: a worker maps none.
  const std::string libpython =
      process ? "null"
              : "\"" + fs::canonical("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0").string() +
                    "\"";
  const std::string pid =
      process ? interp.call_json("os:getpid") : std::to_string(::getpid());
  EXPECT_EQ(info.rfind("{\"version\": \"3.11.", 0), 0u) << info;
  EXPECT_NE(info.find("\"implementation\": \"cpython\", \"free_threaded\": false, "
                      "\"gil_enabled\": true, \"prefix\": \"/usr\", \"executable\": "
                      "\"/usr/bin/python3\", \"libpython\": " +
                      libpython + ", \"execution_mode\": \"" + GetParam() + "\", \"pid\": " +
                      pid + "}"),
            std::string::npos)
      << info;
  const pyenv::host::Api &c = api();
  char *json = reinterpret_cast<char *>(1);
  EXPECT_EQ(c.interpreter_info(nullptr, &json), PYENV_EINVAL);
  EXPECT_EQ(json, nullptr);
  EXPECT_EQ(c.interpreter_info(interp.get(), nullptr), PYENV_EINVAL);
  EXPECT_NE(std::string(c.last_error()).find("out_json"), std::string::npos) << c.last_error();
}

TEST_P(InterpreterAbi, OutlivesItsEnvironmentValue) {
  pyenv::host::Interpreter interp = env_->interpreter();
  env_.reset();
  EXPECT_EQ(interp.call_bytes("records:upper", "still", 5), "STILL");
}

TEST_P(InterpreterAbi, CallBatch) {
  pyenv::host::Interpreter interp = env_->interpreter();
  const std::string big(1 << 20, 'c');
  const std::vector<std::string> out = interp.call_batch("records:upper", {"a", "", big});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "A");
  EXPECT_EQ(out[1], "");
  EXPECT_EQ(out[2], std::string(1 << 20, 'C'));
  EXPECT_TRUE(interp.call_batch("records:upper", std::vector<std::string>{}).empty());
  // Thousands of small records in one call, results in order.
  std::vector<std::string> many;
  for (int i = 0; i < 5000; ++i) many.push_back("r" + std::to_string(i));
  const std::vector<std::string> upper = interp.call_batch("records:upper", many);
  ASSERT_EQ(upper.size(), many.size());
  EXPECT_EQ(upper[4321], "R4321");
}

TEST_P(InterpreterAbi, ABatchRecordThatRaisesNamesItsIndex) {
  pyenv::host::Interpreter interp = env_->interpreter();
  interp.exec("def picky(r):\n    if r == b'bad':\n        raise KeyError(r)\n    return r\n");
  try {
    interp.call_batch("picky", {"fine", "bad", "fine"});
    FAIL() << "must raise";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), PYENV_EPYTHON);
    const std::string message = e.what();
    EXPECT_NE(message.find("\"picky\" raised an exception on record 1 of 3"), std::string::npos)
        << message;
    EXPECT_NE(message.find("KeyError: b'bad'"), std::string::npos) << message;
  }
  const pyenv::host::Api &c = api();
  pyenv_record *results = reinterpret_cast<pyenv_record *>(1);
  const pyenv_record one{"x", 1};
  EXPECT_EQ(c.interpreter_call_batch(interp.get(), "records:upper", nullptr, 1, &results),
            PYENV_EINVAL);
  EXPECT_EQ(results, nullptr);
  EXPECT_EQ(c.interpreter_call_batch(interp.get(), nullptr, &one, 1, &results), PYENV_EINVAL);
  EXPECT_EQ(c.interpreter_call_batch(interp.get(), "records:upper", &one, 1, nullptr),
            PYENV_EINVAL);
  const pyenv_record holey{nullptr, 3};
  EXPECT_EQ(c.interpreter_call_batch(interp.get(), "records:upper", &holey, 1, &results),
            PYENV_EINVAL);
  EXPECT_NE(std::string(c.last_error()).find("record 0"), std::string::npos) << c.last_error();
  EXPECT_EQ(interp.call_batch("records:upper", {"ok"})[0], "OK") << "usable after a failure";
}

TEST_P(InterpreterAbi, TheEnvironmentReportsItsMode) {
  const bool process = std::string(GetParam()) == "process";
  EXPECT_EQ(env_->exec_type(), process ? PYENV_EXEC_PROCESS : PYENV_EXEC_MULTI_THREAD);
  EXPECT_EQ(env_->to_json().rfind(process ? "{\"exec_type\": \"PROCESS\""
                                          : "{\"exec_type\": \"MULTI_THREAD\"",
                                  0),
            0u)
      << env_->to_json();
}

INSTANTIATE_TEST_SUITE_P(Modes, InterpreterAbi, ::testing::Values("thread", "process"),
                         [](const auto &info) { return std::string(info.param); });

}  // namespace
}  // namespace pyenv::test
