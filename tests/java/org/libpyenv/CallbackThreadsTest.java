package org.libpyenv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Callbacks from threads the JVM does not know, against tests/java/fake/threaded_plugin.c
 * (-Dpyenv.plugin names it): its open logs and reports progress from four threads of its own.
 */
class CallbackThreadsTest {
  private static PythonEnvironmentManager manager() {
    return new PythonEnvironmentManager(
        Fixture.newJobId(), new String[] {"/nonexistent"}, Map.of(), null);
  }

  private static long liveWorkerThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().equals("libpyenv worker"))
        .count();
  }

  @Test
  void pluginThreadsAreAttachedForTheCallAndDetachedAfter() {
    assertEquals("0.0.0-threaded-fake", Pyenv.version());
    RecordingLogger logger = new RecordingLogger();
    Set<String> progressThreads = ConcurrentHashMap.newKeySet();
    AtomicInteger progress = new AtomicInteger();
    try (PythonEnvironmentManager manager = manager()) {
      manager.setLogger(logger);
      manager.setProgressListener((phase, done, total) -> {
        progressThreads.add(Thread.currentThread().getName());
        progress.incrementAndGet();
      });
      manager.open();
    }
    assertEquals(4 * 50, logger.lines().size());
    assertEquals(4 * 50, progress.get());
    assertTrue(logger.lines().stream().allMatch(l -> l.thread().equals("libpyenv worker")));
    assertEquals(Set.of("libpyenv worker"), progressThreads);
    assertEquals(0, liveWorkerThreads(), "the plugin's threads were left attached to the JVM");
  }

  @Test
  void anExceptionOnAPluginThreadIsThrownByOpenAfterwards() {
    IllegalArgumentException boom = new IllegalArgumentException("from a plugin thread");
    AtomicInteger calls = new AtomicInteger();
    try (PythonEnvironmentManager manager = manager()) {
      manager.setLogger(new RecordingLogger());
      manager.setProgressListener((phase, done, total) -> {
        calls.incrementAndGet();
        throw boom;
      });
      assertSame(boom, assertThrows(IllegalArgumentException.class, manager::open));
      assertEquals(4 * 50, calls.get(), "every callback was made: none was cut short in C");
      try (EmbeddedPythonEnvironment env = manager.createEnvironment()) {
        assertEquals("{\"fake\": true}", env.toJson());
      }
    }
    assertEquals(0, liveWorkerThreads());
  }
}
