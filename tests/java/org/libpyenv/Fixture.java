package org.libpyenv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.function.Executable;

/**
 * The common fixture of CONFORMANCE.md, as tests/support/fixture.cpp makes it for the C++
 * tests: a fresh temp dir T with file0..file5 (one byte each, its index), dir0 and dir1 (each
 * with file0 and file1), and the suffix-less zips zip0 and zip1 holding zipDir{i}/zipfile0
 * (0711, bytes 1 1 1 1 1) and zipDir{i}/zipfile1 (0644, bytes 2 2 2 2 2). Managers get tmp
 * dirs [T], an empty system environment and a fresh job id. Removed with all in it on close.
 */
final class Fixture implements AutoCloseable {
  private static final AtomicInteger JOBS = new AtomicInteger();

  /** The machine's Python, as the C++ tests name it. */
  static final String PYTHON = "/usr/bin/python3";

  final Path T;

  Fixture() {
    try {
      String base = System.getenv("TMPDIR");
      T =
          Files.createTempDirectory(
                  Path.of(base == null || base.isEmpty() ? "/tmp" : base), "pyenv-java-test-")
              .toRealPath();
      for (int i = 0; i <= 5; ++i) Files.write(T.resolve("file" + i), new byte[] {(byte) i});
      for (int d = 0; d <= 1; ++d) {
        Files.createDirectory(T.resolve("dir" + d));
        Files.write(T.resolve("dir" + d).resolve("file0"), new byte[] {0});
        Files.write(T.resolve("dir" + d).resolve("file1"), new byte[] {1});
      }
      for (int z = 0; z <= 1; ++z) {
        Archives.writeZip(
            T.resolve("zip" + z),
            List.of(
                Archives.file("zipDir" + z + "/zipfile0", bytes(5, 1), 0711),
                Archives.file("zipDir" + z + "/zipfile1", bytes(5, 2), 0644)));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static byte[] bytes(int count, int value) {
    byte[] out = new byte[count];
    java.util.Arrays.fill(out, (byte) value);
    return out;
  }

  static String newJobId() {
    return "java-test-" + ProcessHandle.current().pid() + "-" + JOBS.incrementAndGet();
  }

  PythonEnvironmentManager create(String yaml) {
    return create(yaml, newJobId());
  }

  PythonEnvironmentManager create(String yaml, String jobId) {
    return new PythonEnvironmentManager(jobId, new String[] {T.toString()}, Map.of(), yaml);
  }

  /** An opened job on T: its manager, its environment and an interpreter; closed in reverse. */
  static final class Job implements AutoCloseable {
    final PythonEnvironmentManager manager;
    final EmbeddedPythonEnvironment env;
    final PythonInterpreter python;

    Job(PythonEnvironmentManager manager) {
      this.manager = manager;
      manager.open();
      env = manager.createEnvironment();
      python = env.getInterpreter();
    }

    @Override
    public void close() {
      python.close();
      env.close();
      manager.close();
    }
  }

  /** A job of `yaml` on T, opened, with an interpreter. */
  Job open(String yaml) {
    return new Job(create(yaml));
  }

  /** The python-dist-* base directories in T. */
  List<Path> baseDirs() {
    try (Stream<Path> entries = Files.list(T)) {
      List<Path> out = new ArrayList<>();
      entries.filter(p -> p.getFileName().toString().startsWith("python-dist-")).forEach(out::add);
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The one base directory in T. */
  Path baseDir() {
    List<Path> dirs = baseDirs();
    assertEquals(1, dirs.size(), "base directories in " + T + ": " + dirs);
    return dirs.get(0);
  }

  /** CONFORMANCE.md's basic env for base dir B. */
  static Map<String, String> basicEnv(Path B, String python) {
    return Map.of(
        "python", python, "BOOT_LOG_DIR", B.toString(), "PYFLINK_GATEWAY_DISABLED", "true");
  }

  /** Every path below `root` (a link to a directory is followed, as a staged one may be). */
  static String relativeTree(Path root) {
    try (Stream<Path> walk = Files.walk(root.toRealPath())) {
      List<String> out = new ArrayList<>();
      Path real = root.toRealPath();
      walk.filter(p -> !p.equals(real)).forEach(p -> out.add(real.relativize(p).toString()));
      out.sort(Comparator.naturalOrder());
      return String.join(",", out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static String mode(Path path) {
    try {
      return PosixFilePermissions.toString(Files.getPosixFilePermissions(path));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Runs `body`, which must throw PyenvException with `status`; returns it. */
  static PyenvException expect(PyenvStatus status, Executable body) {
    PyenvException e = assertThrows(PyenvException.class, body);
    assertEquals(status, e.status(), () -> "message: " + e.getMessage());
    return e;
  }

  @Override
  public void close() {
    removeTree(T);
  }

  /** Removes a tree, read-only directories (the archive cache's) included. */
  static void removeTree(Path root) {
    if (!Files.exists(root)) return;
    try (Stream<Path> walk = Files.walk(root)) {
      walk.filter(p -> Files.isDirectory(p) && !Files.isSymbolicLink(p))
          .forEach(
              p -> {
                try {
                  Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p);
                  perms.add(PosixFilePermission.OWNER_READ);
                  perms.add(PosixFilePermission.OWNER_WRITE);
                  perms.add(PosixFilePermission.OWNER_EXECUTE);
                  Files.setPosixFilePermissions(p, perms);
                } catch (IOException e) {
                  // removal below reports what stays
                }
              });
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : (Iterable<Path>) walk.sorted(Comparator.reverseOrder())::iterator) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
