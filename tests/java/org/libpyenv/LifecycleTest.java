package org.libpyenv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Closing, twice, early, from other threads and never at all: never a crash. */
class LifecycleTest extends FixtureTest {
  private String yaml;

  @BeforeEach
  void writeRecords() throws Exception {
    Files.writeString(
        fixture.T.resolve("records.py"),
        "import time\n\n"
            + "def upper(record):\n    return record.upper()\n\n"
            + "def slow(record):\n    time.sleep(0.5)\n    return record\n");
    yaml =
        "python.executable: "
            + Fixture.PYTHON
            + "\npython.files: "
            + fixture.T.resolve("records.py")
            + "\n";
  }

  @Test
  void closingTwiceIsHarmless() {
    Fixture.Job job = fixture.open(yaml);
    job.python.close();
    job.python.close();
    job.env.close();
    job.env.close();
    job.manager.close();
    job.manager.close();
    job.close();
    assertTrue(job.python.isClosed() && job.env.isClosed() && job.manager.isClosed());
  }

  @Test
  void useAfterCloseIsEstateNamingWhat() {
    Fixture.Job job = fixture.open(yaml);
    PythonInterpreter python = job.python;
    EmbeddedPythonEnvironment env = job.env;
    PythonEnvironmentManager manager = job.manager;
    python.close();
    PyenvException call =
        Fixture.expect(PyenvStatus.ESTATE, () -> python.callBytes("records:upper", new byte[1]));
    assertTrue(call.getMessage().contains("PythonInterpreter is closed"), call.getMessage());
    Fixture.expect(PyenvStatus.ESTATE, () -> python.exec("x = 1"));
    Fixture.expect(PyenvStatus.ESTATE, python::info);

    String json = env.toJson();
    env.close();
    PyenvException get = Fixture.expect(PyenvStatus.ESTATE, env::getInterpreter);
    assertTrue(get.getMessage().contains("environment is closed"), get.getMessage());
    assertEquals(json, env.toJson(), "the Java values stay readable");

    manager.close();
    Fixture.expect(PyenvStatus.ESTATE, manager::createEnvironment);
  }

  // pyenv_interpreter_close must not race with calls on the handle (pyenv.h): the binding
  // makes it safe. Closing while 8 threads call: every call either returns its own record's
  // result or throws ESTATE, and after close() returns no call gets through.
  @Test
  void closeWhileEightThreadsCall() throws Exception {
    try (PythonEnvironmentManager manager = fixture.create(yaml)) {
      manager.open();
      try (EmbeddedPythonEnvironment env = manager.createEnvironment()) {
        for (int round = 0; round < 5; ++round) {
          PythonInterpreter python = env.getInterpreter();
          ExecutorService pool = Executors.newFixedThreadPool(8);
          AtomicInteger done = new AtomicInteger();
          AtomicInteger refused = new AtomicInteger();
          CountDownLatch running = new CountDownLatch(8);
          List<Future<String>> problems = new ArrayList<>();
          for (int t = 0; t < 8; ++t) {
            final int thread = t;
            problems.add(
                pool.submit(
                    () -> {
                      running.countDown();
                      for (int i = 0; ; ++i) {
                        String record = "t" + thread + "r" + i;
                        try {
                          byte[] out = python.callBytes("records:upper", record.getBytes());
                          if (!new String(out).equals(record.toUpperCase())) return "wrong result";
                          done.incrementAndGet();
                        } catch (PyenvException e) {
                          if (e.status() != PyenvStatus.ESTATE) return e.toString();
                          refused.incrementAndGet();
                          return null;
                        }
                      }
                    }));
          }
          running.await();
          Thread.sleep(20);
          python.close();
          for (Future<String> f : problems) assertEquals(null, f.get(30, TimeUnit.SECONDS));
          pool.shutdown();
          assertEquals(8, refused.get());
          assertTrue(done.get() > 0, "calls ran before the close");
        }
      }
    }
  }

  // close() does not wait for a call in progress: the call completes, the next is refused.
  @Test
  void closeDuringALongCallLetsItFinish() throws Exception {
    try (PythonEnvironmentManager manager = fixture.create(yaml)) {
      manager.open();
      try (EmbeddedPythonEnvironment env = manager.createEnvironment()) {
        PythonInterpreter python = env.getInterpreter();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        Future<byte[]> slow =
            pool.submit(() -> python.callBytes("records:slow", "kept".getBytes()));
        Thread.sleep(100);
        long start = System.nanoTime();
        python.close();
        assertTrue(System.nanoTime() - start < 250_000_000L, "close() waited for the call");
        assertArrayEquals("kept".getBytes(), slow.get(30, TimeUnit.SECONDS));
        Fixture.expect(PyenvStatus.ESTATE, () -> python.callBytes("records:upper", new byte[1]));
        pool.shutdown();
      }
    }
  }

  // pyenv.h: an environment is a value that may outlive its manager; the last close removes
  // the base directory, so modules imported before keep working and later imports fail.
  @Test
  void environmentAfterItsManagerClosed() {
    Fixture.Job job = fixture.open(yaml);
    Path base = fixture.baseDir();
    EmbeddedPythonEnvironment env = job.env;
    PythonInterpreter before = job.python;
    assertEquals("A", new String(before.callBytes("records:upper", "a".getBytes())));
    String json = env.toJson();
    Map<String, String> variables = env.getEnv();
    PythonInterpreterConfig config = env.getConfig();

    job.manager.close();
    assertFalse(Files.exists(base), "the last close removed the base directory");
    assertEquals(json, env.toJson());
    assertEquals(variables, env.getEnv());
    assertEquals(config, env.getConfig());
    assertEquals(base.toString(), env.getEnv().get("BOOT_LOG_DIR"));

    assertEquals("B", new String(before.callBytes("records:upper", "b".getBytes())),
        "a module imported before the close keeps working");
    try (PythonInterpreter after = env.getInterpreter()) {
      after.exec("import sys\nx = 41 + 1\n");
      assertEquals(42L, after.invoke("int", 42));
      after.exec("import sys\nsys.modules.pop('records', None)\n");
      PyenvException e =
          Fixture.expect(PyenvStatus.EPYTHON, () -> after.callBytes("records:upper", new byte[1]));
      assertTrue(e.getMessage().contains("records"), e.getMessage());
    } finally {
      before.close();
      env.close();
    }
  }

  // A manager nobody closes is closed once unreachable: its base directory goes away.
  @Test
  void unreachableManagerIsCleaned() throws Exception {
    openAndDrop();
    Path base = fixture.baseDir();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (Files.exists(base) && System.nanoTime() < deadline) {
      System.gc();
      Thread.sleep(50);
    }
    assertFalse(Files.exists(base), "the Cleaner closed the forgotten manager");
  }

  private void openAndDrop() {
    PythonEnvironmentManager manager = fixture.create(yaml);
    manager.open();
    manager.createEnvironment().getInterpreter().exec("x = 1");
  }
}
