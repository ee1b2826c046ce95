package org.libpyenv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Every status of pyenv.h as a PyenvException from the real plugin, with a message that names
 * the culprit. ERROR, which the plugin gives only for what it cannot classify, comes from
 * loading a plugin (LoaderTest).
 */
class ErrorsTest extends FixtureTest {
  private static void assertMentions(PyenvException e, String... parts) {
    for (String part : parts) {
      assertTrue(e.getMessage().contains(part), () -> "\"" + part + "\" not in: " + e.getMessage());
    }
  }

  @Test
  void everyCStatusHasItsEnumValue() {
    int[] codes = {-1, -2, -3, -4, -5, -6, -7, -8};
    PyenvStatus[] expected = PyenvStatus.values();
    for (int i = 0; i < codes.length; ++i) {
      assertEquals(expected[i], PyenvStatus.fromCode(codes[i]));
      assertEquals(codes[i], expected[i].code());
    }
    PyenvException unknown = PyenvException.fromNative(-42, "odd".getBytes());
    assertEquals(PyenvStatus.ERROR, unknown.status());
    assertEquals("status -42: odd", unknown.getMessage());
  }

  @Test
  void einvalEmptyJobId() {
    PyenvException e =
        Fixture.expect(
            PyenvStatus.EINVAL,
            () -> new PythonEnvironmentManager("", new String[] {T.toString()}, Map.of(), null));
    assertMentions(e, "job_id");
  }

  @Test
  void einvalNoTmpDirectory() {
    PyenvException e =
        Fixture.expect(
            PyenvStatus.EINVAL,
            () -> new PythonEnvironmentManager("job", new String[0], Map.of(), null));
    assertMentions(e, "tmp_dirs");
  }

  @Test
  void einvalSystemEnvKeyThatIsNoName() {
    PyenvException e =
        Fixture.expect(
            PyenvStatus.EINVAL,
            () ->
                new PythonEnvironmentManager(
                    "job", new String[] {T.toString()}, Map.of("A=B", "secret"), null));
    assertMentions(e, "A=B");
    assertTrue(!e.getMessage().contains("secret"), "a value from the environment is never shown");
  }

  @Test
  void einvalNulInAString() {
    PyenvException e =
        Fixture.expect(PyenvStatus.EINVAL, () -> fixture.create("python.executable: a\0b\n"));
    assertMentions(e, "configYaml", "NUL");
  }

  @Test
  void einvalMalformedJsonArguments() throws Exception {
    try (Fixture.Job job = fixture.open("python.executable: " + Fixture.PYTHON)) {
      PythonInterpreter python = job.python;
      PyenvException e =
          Fixture.expect(PyenvStatus.EINVAL, () -> python.callJson("len", "{not json"));
      assertMentions(e, "len", "not valid JSON");
      Fixture.expect(PyenvStatus.EINVAL, () -> python.invoke("len", new Object()));
    }
  }

  @Test
  void econfigUnknownKeyNamesItAndTheClosestKnownOne() {
    PyenvException e =
        Fixture.expect(PyenvStatus.ECONFIG, () -> fixture.create("python.filez: a.py\n"));
    assertMentions(e, "python.filez", "python.files");
  }

  @Test
  void econfigMissingPythonFile() throws Exception {
    Path missing = T.resolve("nope.py");
    try (PythonEnvironmentManager manager = fixture.create("python.files: " + missing + "\n")) {
      PyenvException e = Fixture.expect(PyenvStatus.ECONFIG, manager::open);
      assertMentions(e, missing.toString());
      assertTrue(fixture.baseDirs().isEmpty(), "a failed open leaves nothing");
    }
  }

  @Test
  void eioTmpDirectoryUnderARegularFile() throws Exception {
    Path bad = T.resolve("file1").resolve("tmp");
    try (PythonEnvironmentManager manager =
        new PythonEnvironmentManager(
            Fixture.newJobId(),
            new String[] {bad.toString()},
            Map.of(),
            "python.files: " + T.resolve("file2") + "#f.py\n")) {
      PyenvException e = Fixture.expect(PyenvStatus.EIO, manager::open);
      assertMentions(e, bad.toString(), "Not a directory");
    }
  }

  @Test
  void earchiveCorruptArchiveNamesIt() throws Exception {
    byte[] zip = Files.readAllBytes(T.resolve("zip0"));
    Path corrupt = T.resolve("corrupt");
    Files.write(corrupt, java.util.Arrays.copyOf(zip, zip.length / 2));
    try (PythonEnvironmentManager manager =
        fixture.create("python.archives: " + corrupt + "#venv\n")) {
      PyenvException e = Fixture.expect(PyenvStatus.EARCHIVE, manager::open);
      assertMentions(e, corrupt.toString());
      assertTrue(fixture.baseDirs().isEmpty(), "a failed open leaves nothing");
    }
  }

  @Test
  void earchiveEntryLeavingTheTargetNamesTheEntry() throws Exception {
    Path slip = T.resolve("slip.zip");
    Archives.writeZip(slip, List.of(Archives.file("../evil.py", "X = 1\n".getBytes(), 0644)));
    try (PythonEnvironmentManager manager =
        fixture.create("python.archives: " + slip + "#venv\n")) {
      PyenvException e = Fixture.expect(PyenvStatus.EARCHIVE, manager::open);
      assertMentions(e, slip.toString(), "../evil.py", "would create a file outside of");
    }
    assertTrue(!Files.exists(T.resolve("evil.py")));
  }

  @Test
  void estateOutOfOrderAndAfterClose() throws Exception {
    PythonEnvironmentManager manager = fixture.create("python.executable: python3\n");
    PyenvException early = Fixture.expect(PyenvStatus.ESTATE, manager::createEnvironment);
    assertMentions(early, "open");
    manager.open();
    PyenvException twice = Fixture.expect(PyenvStatus.ESTATE, manager::open);
    assertMentions(twice, "already open");
    manager.close();
    PyenvException closed = Fixture.expect(PyenvStatus.ESTATE, manager::open);
    assertMentions(closed, "closed", manager.getJobId());
  }

  @Test
  void epythonExceptionCarriesTheTraceback() throws Exception {
    try (Fixture.Job job = fixture.open("python.executable: " + Fixture.PYTHON)) {
      PythonInterpreter python = job.python;
      python.exec("def boom(record):\n    raise ValueError('no good: ' + record.decode())\n");
      PyenvException e =
          Fixture.expect(PyenvStatus.EPYTHON, () -> python.callBytes("boom", "xyz".getBytes()));
      assertMentions(e, "Traceback", "in boom", "ValueError: no good: xyz");
      PyenvException missing =
          Fixture.expect(PyenvStatus.EPYTHON, () -> python.invoke("no_such_module:f"));
      assertMentions(missing, "no_such_module");
    }
  }

  @Test
  void epythonMissingExecutableNamesIt() throws Exception {
    try (PythonEnvironmentManager manager =
            fixture.create("python.executable: /nonexistent/bin/python3\n");
        EmbeddedPythonEnvironment env = opened(manager).createEnvironment()) {
      PyenvException e = Fixture.expect(PyenvStatus.EPYTHON, env::getInterpreter);
      assertMentions(e, "/nonexistent/bin/python3");
    }
  }

  // A result bigger than any allocation: Python hands over a buffer that claims 2^62 bytes
  // (ctypes over a real object, never read), and the plugin cannot allocate its copy.
  @Test
  void enomemResultTooLargeToCopy() throws Exception {
    try (Fixture.Job job = fixture.open("python.executable: " + Fixture.PYTHON)) {
      PythonInterpreter python = job.python;
      python.exec(
          "import ctypes\n"
              + "anchor = b'x' * 64\n"
              + "def huge(record):\n"
              + "    return (ctypes.c_char * (1 << 62)).from_address(id(anchor))\n");
      PyenvException e =
          Fixture.expect(PyenvStatus.ENOMEM, () -> python.callBytes("huge", new byte[1]));
      assertMentions(e, String.valueOf(1L << 62), "bytes");
      assertEquals("ok", new String(python.callBytes("bytes", "ok".getBytes())), "still usable");
    }
  }

  private static PythonEnvironmentManager opened(PythonEnvironmentManager manager) {
    manager.open();
    return manager;
  }
}
