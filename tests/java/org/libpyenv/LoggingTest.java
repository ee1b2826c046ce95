package org.libpyenv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The plugin's log callback to System.Logger, progress to a listener, through the real plugin. */
class LoggingTest extends FixtureTest {
  private String twoFiles() {
    return "python.files: [" + fixture.T.resolve("file1") + "#a.py, " + fixture.T.resolve("file2")
        + "#b.py]\n";
  }

  @Test
  void phaseLinesReachTheLoggerAtInfo() {
    RecordingLogger logger = new RecordingLogger();
    try (PythonEnvironmentManager manager = fixture.create(twoFiles())) {
      manager.setLogger(logger);
      manager.open();
      String base = fixture.baseDir().toString();
      assertTrue(
          logger.lines().stream()
              .anyMatch(l -> l.level() == Level.INFO && l.message().startsWith("prepared " + base)),
          () -> "no \"prepared\" line in " + logger.lines());
    }
  }

  @Test
  void progressReachesTheListener() {
    List<String> seen = new ArrayList<>();
    try (PythonEnvironmentManager manager = fixture.create(twoFiles())) {
      manager.setProgressListener(
          (phase, done, total) -> seen.add(phase + " " + done + "/" + total));
      manager.open();
    }
    assertEquals(List.of("files 1/2", "files 2/2"), seen);
  }

  // Whatever a callback throws never reaches the plugin: open completes, then throws it.
  @Test
  void aThrowingListenerFailsOpenAfterThePluginReturned() {
    IllegalStateException boom = new IllegalStateException("listener bug");
    try (PythonEnvironmentManager manager = fixture.create(twoFiles())) {
      manager.setProgressListener((phase, done, total) -> {
        throw boom;
      });
      IllegalStateException thrown = assertThrows(IllegalStateException.class, manager::open);
      assertSame(boom, thrown);
      manager.setProgressListener(null);
      try (EmbeddedPythonEnvironment env = manager.createEnvironment()) {
        assertEquals(2, env.getConfig().getPaths().length, "the open itself succeeded");
      }
    }
  }

  @Test
  void aThrowingLoggerIsAddedToTheFailureOfTheCall() {
    RuntimeException boom = new RuntimeException("logger bug");
    System.Logger throwing = new RecordingLogger() {
      @Override
      public synchronized void log(
          Level level, java.util.ResourceBundle bundle, String msg, Throwable thrown) {
        throw boom;
      }
    };
    try (PythonEnvironmentManager manager =
        fixture.create("python.archives: " + fixture.T.resolve("missing.zip") + "#x\n")) {
      manager.setLogger(throwing);
      PyenvException e = Fixture.expect(PyenvStatus.ECONFIG, manager::open);
      assertTrue(
          List.of(e.getSuppressed()).contains(boom), "suppressed: " + List.of(e.getSuppressed()));
    }
  }

  // A manager's callbacks must not call back into it: refused, not a deadlock or a corruption.
  @Test
  void callingTheManagerFromItsOwnCallbackIsEstate() {
    List<PyenvException> refused = new ArrayList<>();
    PythonEnvironmentManager[] self = new PythonEnvironmentManager[1];
    try (PythonEnvironmentManager manager = fixture.create(twoFiles())) {
      self[0] = manager;
      manager.setProgressListener((phase, done, total) -> {
        try {
          self[0].createEnvironment();
        } catch (PyenvException e) {
          refused.add(e);
        }
      });
      manager.open();
    }
    assertEquals(2, refused.size());
    assertEquals(PyenvStatus.ESTATE, refused.get(0).status());
    assertTrue(refused.get(0).getMessage().contains("callback"), refused.get(0).getMessage());
  }

  @Test
  void systemEnvValuesAreNeverLogged() {
    RecordingLogger logger = new RecordingLogger();
    try (PythonEnvironmentManager manager =
        new PythonEnvironmentManager(
            Fixture.newJobId(),
            new String[] {fixture.T.toString()},
            Map.of("TOKEN", "s3cr3t-value"),
            twoFiles())) {
      manager.setLogger(logger);
      manager.open();
    }
    assertTrue(logger.lines().size() > 0);
    assertTrue(logger.lines().stream().noneMatch(l -> l.message().contains("s3cr3t-value")));
  }
}
