package org.libpyenv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

/** PythonInterpreter on the machine's Python through the real plugin. */
class InterpreterTest {
  private static Fixture fixture;
  private static PythonEnvironmentManager manager;
  private static EmbeddedPythonEnvironment env;

  @BeforeAll
  static void setUp() throws Exception {
    fixture = new Fixture();
    Files.writeString(
        fixture.T.resolve("records.py"),
        "def upper(record):\n    return record.upper()\n\n"
            + "def text(record):\n    return record.decode() + '\\u00e9'\n\n"
            + "def echo(*args):\n    return list(args)\n\n"
            + "def kinds(*args):\n    return [type(a).__name__ for a in args]\n");
    manager =
        fixture.create(
            "python.executable: "
                + Fixture.PYTHON
                + "\npython.files: "
                + fixture.T.resolve("records.py")
                + "\n");
    manager.open();
    env = manager.createEnvironment();
  }

  @AfterAll
  static void tearDown() {
    env.close();
    manager.close();
    fixture.close();
  }

  @Test
  void execAndCallJson() {
    try (PythonInterpreter python = env.getInterpreter()) {
      python.exec("factor = 6\ndef times(x):\n    return x * factor\ndef zero():\n    return 0\n");
      assertEquals("42", python.callJson("times", "[7]"));
      assertEquals("0", python.callJson("zero", null));
      assertEquals("0", python.callJson("zero", ""));
    }
  }

  @Test
  void invokeTakesAndReturnsJsonValuesBothWays() {
    try (PythonInterpreter python = env.getInterpreter()) {
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

  @Test
  void callBytesTakesArraysAndSlices() {
    try (PythonInterpreter python = env.getInterpreter()) {
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

  @Test
  void callBytesTakesByteBuffers() {
    try (PythonInterpreter python = env.getInterpreter()) {
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

  @Test
  void handlesHaveTheirOwnGlobals() {
    try (PythonInterpreter a = env.getInterpreter();
        PythonInterpreter b = env.getInterpreter()) {
      a.exec("x = 1\ndef get():\n    return x\n");
      b.exec("x = 2\ndef get():\n    return x\n");
      assertEquals(1L, a.invoke("get"));
      assertEquals(2L, b.invoke("get"));
    }
  }

  @Test
  void eightJavaThreadsCallBytesAtOnce() throws Exception {
    try (PythonInterpreter python = env.getInterpreter()) {
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

  @Test
  void infoDescribesTheRunningPython() {
    try (PythonInterpreter python = env.getInterpreter()) {
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
      assertEquals("thread", info.get("execution_mode"));
      assertEquals(ProcessHandle.current().pid(), ((Number) info.get("pid")).longValue());
      assertEquals(python.invoke("platform:python_version"), info.get("version"));
      assertEquals("cpython", info.get("implementation"));
      python.exec("import sys\ndef prefix():\n    return sys.prefix\n");
      assertEquals(python.invoke("prefix"), info.get("prefix"));
      assertEquals(Boolean.FALSE, info.get("free_threaded"));
      assertEquals(Boolean.TRUE, info.get("gil_enabled"));
      assertTrue(((String) info.get("libpython")).contains("libpython3"), info::toString);
    }
  }
}
