package org.libpyenv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** CONFORMANCE.md through the Java binding and the real plugin: C1, C2, C3, C5, C6, A7. */
class ConformanceTest extends FixtureTest {
  @Test
  void C1_executable() throws Exception {
    try (PythonEnvironmentManager manager =
        fixture.create("python.executable: /usr/local/bin/python\n")) {
      manager.open();
      Path B = fixture.baseDir();
      try (EmbeddedPythonEnvironment env = manager.createEnvironment()) {
        assertEquals(Fixture.basicEnv(B, "/usr/local/bin/python"), env.getEnv());
        assertFalse(env.getEnv().containsKey("PYTHONPATH"));
        PythonInterpreterConfig config = env.getConfig();
        assertEquals("/usr/local/bin/python", config.getPythonExec());
        assertEquals(PythonInterpreterConfig.ExecType.MULTI_THREAD, config.getExecType());
        assertNull(config.getPythonHome());
        assertNull(config.getWorkingDirectory());
        assertArrayEquals(new String[0], config.getPaths());
        assertThrows(UnsupportedOperationException.class, () -> env.getEnv().put("A", "1"));
      }
    }
  }

  @Test
  void C2_pythonFiles() throws Exception {
    String yaml =
        "python.files: ["
            + T.resolve("zip0")
            + "#test_zip.zip, "
            + T.resolve("file1")
            + "#test_file1.py, "
            + T.resolve("file2")
            + "#test_file2.egg, "
            + T.resolve("dir0")
            + "#test_dir]\npython.executable: python\n";
    try (PythonEnvironmentManager manager = fixture.create(yaml)) {
      manager.open();
      Path F = fixture.baseDir().resolve("python-files");
      try (EmbeddedPythonEnvironment env = manager.createEnvironment()) {
        String[] expected = {
          F.resolve("zip0/test_zip").toString(),
          F.resolve("file1").toString(),
          F.resolve("file2/test_file2.egg").toString(),
          F.resolve("dir0/test_dir").toString()
        };
        assertEquals(String.join(":", expected), env.getEnv().get("PYTHONPATH"));
        assertArrayEquals(expected, env.getConfig().getPaths());
      }
      assertArrayEquals(new byte[] {1}, Files.readAllBytes(F.resolve("file1/test_file1.py")));
      assertArrayEquals(
          Fixture.bytes(5, 1), Files.readAllBytes(F.resolve("zip0/test_zip/zipDir0/zipfile0")));
      assertArrayEquals(
          Fixture.bytes(5, 2), Files.readAllBytes(F.resolve("zip0/test_zip/zipDir0/zipfile1")));
      assertArrayEquals(new byte[] {2}, Files.readAllBytes(F.resolve("file2/test_file2.egg")));
      assertEquals(
          Fixture.relativeTree(T.resolve("dir0")),
          Fixture.relativeTree(F.resolve("dir0/test_dir")));
      assertArrayEquals(new byte[] {1}, Files.readAllBytes(F.resolve("dir0/test_dir/file1")));
    }
  }

  // The archive case: two suffix-less zips extracted under the working directory, modes kept.
  @Test
  void C3_archives() throws Exception {
    String yaml =
        "python.archives: ["
            + T.resolve("zip0")
            + "#py312.zip, "
            + T.resolve("zip1")
            + "#py312]\npython.executable: py312.zip/bin/python\n";
    try (PythonEnvironmentManager manager = fixture.create(yaml)) {
      manager.open();
      Path B = fixture.baseDir();
      Path W = B.resolve("python-archives");
      try (EmbeddedPythonEnvironment env = manager.createEnvironment()) {
        Map<String, String> expected = new HashMap<>(Fixture.basicEnv(B, "py312.zip/bin/python"));
        expected.put("_PYTHON_WORKING_DIR", W.toString());
        assertEquals(expected, env.getEnv());
        assertEquals(W.toString(), env.getConfig().getWorkingDirectory());
        assertEquals(W.resolve("py312.zip").toString(), env.getConfig().getPythonHome());
        assertEquals(W.resolve("py312.zip/bin/python").toString(), env.getConfig().getPythonExec());
      }
      assertArrayEquals(
          Fixture.bytes(5, 1), Files.readAllBytes(W.resolve("py312.zip/zipDir0/zipfile0")));
      assertArrayEquals(
          Fixture.bytes(5, 2), Files.readAllBytes(W.resolve("py312/zipDir1/zipfile1")));
      assertEquals("rwx--x--x", Fixture.mode(W.resolve("py312.zip/zipDir0/zipfile0")));
      assertEquals("rw-r--r--", Fixture.mode(W.resolve("py312.zip/zipDir0/zipfile1")));
      assertEquals("rwx--x--x", Fixture.mode(W.resolve("py312/zipDir1/zipfile0")));
    }
  }

  @Test
  void C5_openClose() throws Exception {
    PythonEnvironmentManager manager = fixture.create("python.executable: python3\n");
    assertTrue(fixture.baseDirs().isEmpty(), "creating a manager must not touch the disk");
    manager.open();
    Path B = fixture.baseDir();
    assertTrue(Files.isDirectory(B));
    manager.close();
    assertFalse(Files.exists(B));
    assertTrue(manager.isClosed());
    manager.close(); // closing again is fine
  }

  @Test
  void C6_tasksOfOneJobShareOneBaseDirectory() throws Exception {
    String job = Fixture.newJobId();
    String yaml = "python.files: " + T.resolve("file1") + "#a.py\n";
    try (PythonEnvironmentManager first = fixture.create(yaml, job);
        PythonEnvironmentManager second = fixture.create(yaml, job)) {
      first.open();
      second.open();
      Path B = fixture.baseDir();
      try (EmbeddedPythonEnvironment a = first.createEnvironment();
          EmbeddedPythonEnvironment b = second.createEnvironment()) {
        assertEquals(B.toString(), a.getEnv().get("BOOT_LOG_DIR"));
        assertEquals(a.toJson(), b.toJson());
      }
      first.close();
      assertTrue(Files.isDirectory(B));
      second.close();
      assertFalse(Files.exists(B));
    }
  }

  @Test
  void A7_suffixLessTarGzIsExtractedByContent() throws Exception {
    Path blob = T.resolve("blob_123");
    Archives.writeTarGz(
        blob,
        List.of(
            Archives.dir("bin"),
            Archives.file("bin/tool", "#!/bin/sh\n".getBytes(), 0755),
            Archives.link("bin/alias", "tool")));
    try (PythonEnvironmentManager manager =
        fixture.create("python.archives: " + blob + "#venv\n")) {
      manager.open();
      Path venv = fixture.baseDir().resolve("python-archives/venv");
      assertEquals("#!/bin/sh\n", Files.readString(venv.resolve("bin/tool")));
      assertEquals("rwxr-xr-x", Fixture.mode(venv.resolve("bin/tool")));
      assertEquals(Path.of("tool"), Files.readSymbolicLink(venv.resolve("bin/alias")));
    }
  }
}
