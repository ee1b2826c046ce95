package org.libpyenv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * PythonInterpreter on the machine's Python through the real plugin. The tests marked {@link
 * BothModes} run once per execution mode, each on a job of its own that differs from the other
 * in {@code python.execution-mode} alone (a host changes no line to switch modes); the others
 * are what only process mode has: worker processes, and what happens when one dies.
 */
class InterpreterTest {
  /** A test run in each execution mode: its argument is "thread", then "process". */
  @Target(ElementType.METHOD)
  @Retention(RetentionPolicy.RUNTIME)
  @ParameterizedTest(name = "{0} mode")
  @ValueSource(strings = {"thread", "process"})
  @interface BothModes {}

  private static Fixture fixture;
  private static final Map<String, PythonEnvironmentManager> managers = new LinkedHashMap<>();
  private static final Map<String, EmbeddedPythonEnvironment> envs = new LinkedHashMap<>();

  @BeforeAll
  static void setUp() throws Exception {
    fixture = new Fixture();
    Files.writeString(
        fixture.T.resolve("records.py"),
        "def upper(record):\n    return record.upper()\n\n"
            + "def text(record):\n    return record.decode() + '\\u00e9'\n\n"
            + "def echo(*args):\n    return list(args)\n\n"
            + "def kinds(*args):\n    return [type(a).__name__ for a in args]\n");
    for (String mode : List.of("thread", "process")) {
      PythonEnvironmentManager manager =
          fixture.create(
              "python.executable: "
                  + Fixture.PYTHON
                  + "\npython.execution-mode: "
                  + mode
                  + "\npython.files: "
                  + fixture.T.resolve("records.py")
                  + "\n");
      managers.put(mode, manager);
      manager.open();
      envs.put(mode, manager.createEnvironment());
    }
  }

  @AfterAll
  static void tearDown() {
    envs.values().forEach(EmbeddedPythonEnvironment::close);
    managers.values().forEach(PythonEnvironmentManager::close);
    fixture.close();
  }

  /** A new interpreter of the job in `mode`. */
  private static PythonInterpreter python(String mode) {
    return envs.get(mode).getInterpreter();
  }

  private static long pid(PythonInterpreter python) {
    return ((Number) python.info().get("pid")).longValue();
  }

  private static boolean alive(long pid) {
    return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
  }

  private static byte[][] records(String... texts) {
    byte[][] out = new byte[texts.length][];
    for (int i = 0; i < texts.length; ++i) out[i] = texts[i].getBytes(StandardCharsets.UTF_8);
    return out;
  }

  @BothModes
  void theEnvironmentReportsItsMode(String mode) {
    EmbeddedPythonEnvironment env = envs.get(mode);
    PythonInterpreterConfig.ExecType expected =
        mode.equals("thread")
            ? PythonInterpreterConfig.ExecType.MULTI_THREAD
            : PythonInterpreterConfig.ExecType.PROCESS;
    assertEquals(expected, env.getConfig().getExecType());
    assertTrue(env.toJson().startsWith("{\"exec_type\": \"" + expected + "\""), env.toJson());
  }

  @BothModes
  void execAndCallJson(String mode) {
    try (PythonInterpreter python = python(mode)) {
      python.exec("factor = 6\ndef times(x):\n    return x * factor\ndef zero():\n    return 0\n");
      assertEquals("42", python.callJson("times", "[7]"));
      assertEquals("0", python.callJson("zero", null));
      assertEquals("0", python.callJson("zero", ""));
    }
  }

  @BothModes
  void invokeTakesAndReturnsJsonValuesBothWays(String mode) {
    try (PythonInterpreter python = python(mode)) {
      Map<String, Object> map = new LinkedHashMap<>();
      map.put("b", List.of(1L, "two"));
      map.put("a", null);
      Object[] args = {null, true, 42L, 7, 2.5, "s\u00e9\uD83D\uDE00\n\"q\"", List.of(1L, 2L), map};
      assertEquals(Arrays.asList(args[0], true, 42L, 7L, 2.5, args[5], args[6], map),
          python.invoke("records:echo", args));
      assertEquals(
          List.of("NoneType", "bool", "int", "int", "float", "str", "list", "dict"),
          python.invoke("records:kinds", args));
      assertNull(python.invoke("print", "invoke returns None as null"));
      BigInteger big = BigInteger.ONE.shiftLeft(70);
      assertEquals(big, python.invoke("pow", 2, 70));
      assertEquals(Long.MIN_VALUE, python.invoke("int", Long.MIN_VALUE));
      assertTrue(Double.isNaN((Double) python.invoke("float", "nan")));
      assertEquals(Double.NEGATIVE_INFINITY, python.invoke("float", "-inf"));
      assertEquals(List.of(1L, 2L), python.invoke("list", (Object) new int[] {1, 2}));
      assertEquals(List.of(), python.invoke("records:echo"));
      assertEquals("\uD800x", python.invoke("str", "\uD800x"), "a lone surrogate survives");
    }
  }

  @BothModes
  void callBytesTakesArraysAndSlices(String mode) {
    try (PythonInterpreter python = python(mode)) {
      assertEquals("ABC", new String(python.callBytes("records:upper", "abc".getBytes())));
      assertEquals("caf\u00e9",
          new String(python.callBytes("records:text", "caf".getBytes()), StandardCharsets.UTF_8));
      assertArrayEquals(new byte[0], python.callBytes("records:upper", new byte[0]));
      byte[] record = "xxabcxx".getBytes();
      assertEquals("ABC", new String(python.callBytes("records:upper", record, 2, 3)));
      byte[] large = new byte[1 << 20];
      Arrays.fill(large, (byte) 'a');
      byte[] upper = python.callBytes("records:upper", large);
      assertEquals(large.length, upper.length);
      assertEquals('A', upper[upper.length - 1]);
      // A small record with a result larger than the calling thread's scratch buffer, and a
      // callable too long for it: the binding's other paths.
      python.exec("def grow(record):\n    return record * 40000\n");
      byte[] grown = python.callBytes("grow", "ab".getBytes());
      assertEquals(80000, grown.length);
      assertEquals("abab", new String(grown, 79996, 4));
      String longName = "f" + "x".repeat(300);
      python.exec(longName + " = grow\n");
      assertEquals(80000, python.callBytes(longName, "ab".getBytes()).length);
      assertEquals(80000, python.callBytes(longName, ByteBuffer.wrap("ab".getBytes())).length);
      PyenvException nul =
          Fixture.expect(PyenvStatus.EINVAL, () -> python.callBytes("records:\0upper", record));
      assertTrue(nul.getMessage().contains("callable"), nul.getMessage());
    }
  }

  @BothModes
  void callBytesTakesByteBuffers(String mode) {
    try (PythonInterpreter python = python(mode)) {
      ByteBuffer direct = ByteBuffer.allocateDirect(16);
      direct.put("--abc--".getBytes()).flip();
      direct.position(2).limit(5);
      assertEquals("ABC", new String(python.callBytes("records:upper", direct)));
      assertEquals(5, direct.position(), "the buffer is consumed, as a channel write does");
      for (String record : new String[] {"one", "two two", "three"}) {
        direct.clear().put(record.getBytes()).flip(); // the same buffer again, as a stream does
        assertEquals(record.toUpperCase(), new String(python.callBytes("records:upper", direct)));
      }

      ByteBuffer heap = ByteBuffer.wrap("..def".getBytes(), 2, 3).slice();
      assertEquals("DEF", new String(python.callBytes("records:upper", heap)));
      assertEquals(3, heap.position());

      ByteBuffer longName = ByteBuffer.allocateDirect(4).put("mnop".getBytes()).flip();
      python.exec("from records import upper\nu" + "x".repeat(300) + " = upper\n");
      assertEquals("MNOP", new String(python.callBytes("u" + "x".repeat(300), longName)));

      ByteBuffer readOnly = ByteBuffer.wrap("ghi".getBytes()).asReadOnlyBuffer();
      assertEquals("GHI", new String(python.callBytes("records:upper", readOnly)));

      ByteBuffer failing = ByteBuffer.allocateDirect(3).put("jkl".getBytes()).flip();
      Fixture.expect(PyenvStatus.EPYTHON, () -> python.callBytes("records:missing", failing));
      assertEquals(0, failing.position(), "a failed call leaves the buffer as it was");
    }
  }

  @BothModes
  void handlesHaveTheirOwnGlobals(String mode) {
    try (PythonInterpreter a = python(mode);
        PythonInterpreter b = python(mode)) {
      a.exec("x = 1\ndef get():\n    return x\n");
      b.exec("x = 2\ndef get():\n    return x\n");
      assertEquals(1L, a.invoke("get"));
      assertEquals(2L, b.invoke("get"));
    }
  }

  @BothModes
  void eightJavaThreadsCallBytesAtOnce(String mode) throws Exception {
    try (PythonInterpreter python = python(mode)) {
      ExecutorService pool = Executors.newFixedThreadPool(8);
      CountDownLatch start = new CountDownLatch(1);
      List<Future<Integer>> wrong = new ArrayList<>();
      for (int t = 0; t < 8; ++t) {
        final int thread = t;
        wrong.add(
            pool.submit(
                () -> {
                  start.await();
                  int bad = 0;
                  for (int i = 0; i < 2000; ++i) {
                    String record = "t" + thread + "-r" + i;
                    byte[] out = python.callBytes("records:upper", record.getBytes());
                    if (!new String(out).equals(record.toUpperCase())) ++bad;
                  }
                  return bad;
                }));
      }
      start.countDown();
      int total = 0;
      for (Future<Integer> f : wrong) total += f.get();
      pool.shutdown();
      assertEquals(0, total, "results that were not their own record's");
    }
  }

  @BothModes
  void infoDescribesTheRunningPython(String mode) {
    try (PythonInterpreter python = python(mode)) {
      Map<String, Object> info = python.info();
      assertEquals(
          java.util.Set.of(
              "version",
              "implementation",
              "free_threaded",
              "gil_enabled",
              "prefix",
              "executable",
              "libpython",
              "execution_mode",
              "pid"),
          info.keySet());
      assertEquals(mode, info.get("execution_mode"));
      long pid = ((Number) info.get("pid")).longValue();
      assertEquals(python.invoke("os:getpid"), pid);
      if (mode.equals("thread")) {
        assertEquals(ProcessHandle.current().pid(), pid);
      } else {
        assertNotEquals(ProcessHandle.current().pid(), pid, "a worker runs in a process of its own");
      }
      assertEquals(python.invoke("platform:python_version"), info.get("version"));
      assertEquals("cpython", info.get("implementation"));
      python.exec("import sys\ndef prefix():\n    return sys.prefix\n");
      assertEquals(python.invoke("prefix"), info.get("prefix"));
      assertEquals(Boolean.FALSE, info.get("free_threaded"));
      assertEquals(Boolean.TRUE, info.get("gil_enabled"));
      // A worker's Python may link libpython statically (Debian's does): null then.
      Object libpython = info.get("libpython");
      if (mode.equals("thread") || libpython != null) {
        assertTrue(((String) libpython).contains("libpython3"), info::toString);
      }
    }
  }

  @BothModes
  void callBatchReturnsOneResultPerRecordInOrder(String mode) {
    try (PythonInterpreter python = python(mode)) {
      byte[][] out = python.callBatch("records:upper", records("a", "", "b c", "d"));
      assertEquals(4, out.length);
      assertEquals(List.of("A", "", "B C", "D"), strings(out));
      assertEquals(List.of("caf\u00e9", "\u00e9"), strings(python.callBatch("records:text",
          records("caf", ""))), "str results come back as UTF-8");
      byte[][] many = new byte[1000][];
      for (int i = 0; i < many.length; ++i) many[i] = ("record " + i).getBytes();
      byte[][] upper = python.callBatch("records:upper", many);
      assertEquals(many.length, upper.length);
      for (int i = 0; i < many.length; ++i) assertEquals("RECORD " + i, new String(upper[i]));
      python.exec("def last(record):\n    return record[-1:]\n");
      assertEquals(List.of("c", "f"), strings(python.callBatch("last", records("abc", "def"))),
          "a global of the handle");
    }
  }

  private static List<String> strings(byte[][] arrays) {
    List<String> out = new ArrayList<>();
    for (byte[] a : arrays) out.add(new String(a, StandardCharsets.UTF_8));
    return out;
  }

  @BothModes
  void callBatchOfNoRecordsReturnsNone(String mode) {
    try (PythonInterpreter python = python(mode)) {
      assertEquals(0, python.callBatch("records:upper", new byte[0][]).length);
    }
  }

  @BothModes
  void callBatchTakesAMebibyteRecord(String mode) {
    try (PythonInterpreter python = python(mode)) {
      byte[] large = new byte[1 << 20];
      Arrays.fill(large, (byte) 'a');
      large[large.length - 1] = 'z';
      byte[][] out = python.callBatch("records:upper", new byte[][] {"x".getBytes(), large, {}});
      assertEquals(3, out.length);
      assertEquals("X", new String(out[0]));
      assertEquals(large.length, out[1].length);
      assertEquals('A', out[1][0]);
      assertEquals('Z', out[1][large.length - 1]);
      assertEquals(0, out[2].length);
    }
  }

  @BothModes
  void aRecordThatRaisesFailsTheBatchNamingIt(String mode) {
    try (PythonInterpreter python = python(mode)) {
      python.exec(
          "def picky(record):\n"
              + "    if record == b'bad':\n"
              + "        raise ValueError('no bad records')\n"
              + "    return record\n");
      PyenvException e =
          Fixture.expect(
              PyenvStatus.EPYTHON, () -> python.callBatch("picky", records("fine", "bad", "fine")));
      assertTrue(e.getMessage().contains("record 1 of 3"), e.getMessage());
      assertTrue(e.getMessage().contains("ValueError: no bad records"), e.getMessage());
      Fixture.expect(PyenvStatus.EPYTHON, () -> python.callBatch("records:missing", records("a")));
      assertEquals(List.of("ok"), strings(python.callBatch("picky", records("ok"))),
          "the handle works after a failed batch");
      Fixture.expect(PyenvStatus.EINVAL, () -> python.callBatch("records:\0upper", records("a")));
      assertThrows(NullPointerException.class, () -> python.callBatch("picky", null));
      NullPointerException nullRecord =
          assertThrows(
              NullPointerException.class,
              () -> python.callBatch("picky", new byte[][] {{1}, null}));
      assertTrue(nullRecord.getMessage().contains("records[1]"), nullRecord.getMessage());
    }
  }

  @BothModes
  void fourJavaThreadsCallBatchesOnOneHandle(String mode) throws Exception {
    try (PythonInterpreter python = python(mode)) {
      ExecutorService pool = Executors.newFixedThreadPool(4);
      List<Future<Integer>> wrong = new ArrayList<>();
      for (int t = 0; t < 4; ++t) {
        final int thread = t;
        wrong.add(
            pool.submit(
                () -> {
                  int bad = 0;
                  for (int b = 0; b < 50; ++b) {
                    byte[][] batch = new byte[20][];
                    for (int i = 0; i < batch.length; ++i) {
                      batch[i] = ("t" + thread + "-b" + b + "-r" + i).getBytes();
                    }
                    byte[][] out = python.callBatch("records:upper", batch);
                    for (int i = 0; i < batch.length; ++i) {
                      if (!new String(out[i]).equals(new String(batch[i]).toUpperCase())) ++bad;
                    }
                  }
                  return bad;
                }));
      }
      int total = 0;
      for (Future<Integer> f : wrong) total += f.get();
      pool.shutdown();
      assertEquals(0, total, "results that were not their own record's");
    }
  }

  @Test
  void eachProcessModeHandleHasAWorkerOfItsOwnThatCloseEnds() {
    PythonInterpreter a = python("process");
    PythonInterpreter b = python("process");
    long pidA = pid(a);
    long pidB = pid(b);
    assertNotEquals(pidA, pidB);
    assertNotEquals(ProcessHandle.current().pid(), pidA);
    assertTrue(alive(pidA) && alive(pidB));
    a.close();
    assertFalse(alive(pidA), "close() ends the worker");
    assertEquals("B", new String(b.callBytes("records:upper", "b".getBytes())));
    b.close();
    assertFalse(alive(pidB));
  }

  @Test
  void aWorkerThatAbortsFailsItsCallAndItsHandleNotTheJvm() {
    EmbeddedPythonEnvironment env = envs.get("process");
    try (PythonInterpreter python = env.getInterpreter()) {
      python.exec("import os\ndef crash(record):\n    os.abort()\n");
      long worker = pid(python);
      PyenvException crash =
          Fixture.expect(PyenvStatus.EPYTHON, () -> python.callBytes("crash", "x".getBytes()));
      assertTrue(crash.getMessage().contains("SIGABRT"), crash.getMessage());
      assertFalse(alive(worker), "the dead worker was reaped");
      // The JVM lives on; the handle does not.
      PyenvException after =
          Fixture.expect(
              PyenvStatus.ESTATE, () -> python.callBytes("records:upper", "x".getBytes()));
      assertTrue(after.getMessage().contains("worker"), after.getMessage());
      Fixture.expect(PyenvStatus.ESTATE, () -> python.callBatch("records:upper", records("x")));
      Fixture.expect(PyenvStatus.ESTATE, () -> python.exec("pass"));
      Fixture.expect(PyenvStatus.ESTATE, python::info);
      try (PythonInterpreter fresh = env.getInterpreter()) {
        assertEquals("OK", new String(fresh.callBytes("records:upper", "ok".getBytes())));
        assertNotEquals(worker, pid(fresh));
      }
    }
  }

  @Test
  void aWorkerThatAbortsDuringABatchFailsTheBatch() {
    try (PythonInterpreter python = python("process")) {
      python.exec(
          "import os\ndef crash_on_b(record):\n"
              + "    if record == b'b':\n        os.abort()\n    return record\n");
      PyenvException crash =
          Fixture.expect(
              PyenvStatus.EPYTHON, () -> python.callBatch("crash_on_b", records("a", "b", "c")));
      assertTrue(crash.getMessage().contains("SIGABRT"), crash.getMessage());
      Fixture.expect(PyenvStatus.ESTATE, () -> python.callBatch("crash_on_b", records("a")));
    }
  }
}
