import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.libpyenv.EmbeddedPythonEnvironment;
import org.libpyenv.Pyenv;
import org.libpyenv.PythonEnvironmentManager;
import org.libpyenv.PythonInterpreter;

/**
 * The Java binding's cost: callBytes of an identity function on 100-byte records from 1 and 2
 * Java threads, against a C host calling pyenv_interpreter_call_bytes from as many native
 * threads, in the same process on the same CPython (java_c_host.cpp), alternating, medians of
 * the runs. The ratio is Java's time per call over the C host's (target: at most 1.5).
 *
 * <p>Usage: JavaCallBytesBench [--python /usr/bin/python3] [--calls 100000] [--runs 31]
 */
public final class JavaCallBytesBench {
  static native long cHostOpen(String plugin, String tmpDir, String jobId, String python);

  /** {wall seconds, CPU seconds of the calling threads}. */
  static native double[] cHostRun(long host, int threads, long calls, int recordSize);

  static native void cHostClose(long host);

  private static final int RECORD = 100;

  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  // {wall seconds, CPU seconds of the calling threads} for `threads` Java threads making
  // `calls` callBytes in all.
  static double[] javaRun(PythonInterpreter python, int threads, long calls, boolean direct)
      throws InterruptedException {
    byte[] record = new byte[RECORD];
    java.util.Arrays.fill(record, (byte) 'x');
    Thread[] workers = new Thread[threads];
    double[] cpu = new double[threads];
    long start = System.nanoTime();
    for (int t = 0; t < threads; ++t) {
      final int index = t;
      workers[t] =
          new Thread(
              () -> {
                long cpuStart = THREADS.getCurrentThreadCpuTime();
                if (direct) {
                  loopDirect(python, record, calls / threads);
                } else {
                  loopArray(python, record, calls / threads);
                }
                cpu[index] = (THREADS.getCurrentThreadCpuTime() - cpuStart) / 1e9;
              });
      workers[t].start();
    }
    for (Thread w : workers) w.join();
    double total = 0;
    for (double c : cpu) total += c;
    return new double[] {(System.nanoTime() - start) / 1e9, total};
  }

  interface Run {
    void run() throws InterruptedException;
  }

  // One loop per kind of call, so that neither's profile shapes the other's compiled code.
  private static void loopArray(PythonInterpreter python, byte[] record, long calls) {
    for (long i = 0; i < calls; ++i) {
      if (python.callBytes("identity", record).length != RECORD) {
        throw new IllegalStateException("wrong result");
      }
    }
  }

  private static void loopDirect(PythonInterpreter python, byte[] record, long calls) {
    ByteBuffer buffer = ByteBuffer.allocateDirect(RECORD).put(record).flip();
    for (long i = 0; i < calls; ++i) {
      buffer.rewind();
      if (python.callBytes("identity", buffer).length != RECORD) {
        throw new IllegalStateException("wrong result");
      }
    }
  }

  /** Wall and CPU seconds of each run of one kind. */
  static final class Runs {
    final List<Double> wall = new ArrayList<>();
    final List<Double> cpu = new ArrayList<>();

    void add(double[] times) {
      wall.add(times[0]);
      cpu.add(times[1]);
    }
  }

  static double median(List<Double> values) {
    List<Double> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    int n = sorted.size();
    return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
  }

  public static void main(String[] args) throws Exception {
    String python = "/usr/bin/python3";
    long calls = 100_000;
    int runs = 31;
    for (int i = 0; i < args.length; ++i) {
      switch (args[i]) {
        case "--python" -> python = args[++i];
        case "--calls" -> calls = Long.parseLong(args[++i]);
        case "--runs" -> runs = Integer.parseInt(args[++i]);
        default -> {
          System.err.println("usage: JavaCallBytesBench [--python PATH] [--calls N] [--runs N]");
          System.exit(2);
        }
      }
    }
    System.loadLibrary("pyenv_java_c_host");
    Path tmp = Files.createTempDirectory("pyenv-java-bench-");
    String yaml = "python.executable: " + python + "\n";
    try (PythonEnvironmentManager manager =
            new PythonEnvironmentManager(
                "java-bench", new String[] {tmp.toString()}, Map.of(), yaml);
        AutoCloseable opened = open(manager);
        EmbeddedPythonEnvironment env = manager.createEnvironment();
        PythonInterpreter interpreter = env.getInterpreter()) {
      interpreter.exec("def identity(b):\n    return b\n");
      long host = cHostOpen(Pyenv.pluginPath().toString(), tmp.toString(), "c-bench", python);
      try {
        // Warm-up: the JIT compiles the Java side, both sides fault their pages in.
        for (int w = 0; w < 5; ++w) {
          javaRun(interpreter, 1, calls, false);
          javaRun(interpreter, 1, calls, true);
          cHostRun(host, 1, calls, RECORD);
        }
        Runs j1 = new Runs(), c1 = new Runs(), jd = new Runs(), j2 = new Runs(), c2 = new Runs();
        final long n = calls;
        for (int r = 0; r < runs; ++r) {
          // Alternating, each side first in turn, so that both see the same machine.
          boolean javaFirst = r % 2 == 0;
          for (int threads = 1; threads <= 2; ++threads) {
            final int t = threads;
            Run java = () -> (t == 1 ? j1 : j2).add(javaRun(interpreter, t, n, false));
            Run c = () -> (t == 1 ? c1 : c2).add(cHostRun(host, t, n, RECORD));
            (javaFirst ? java : c).run();
            (javaFirst ? c : java).run();
          }
          jd.add(javaRun(interpreter, 1, calls, true));
        }
        System.out.printf(
            "libpyenv Java binding: callBytes against the C host, identity on %d-byte records,"
                + " %d calls, medians of %d runs (Java %s, python %s)%n%n",
            RECORD, calls, runs, System.getProperty("java.version"), python);
        System.out.printf(
            "  %-30s %12s %10s %14s%n", "", "records/s", "us/call", "CPU us/call");
        row("Java, 1 thread, byte[]", calls, j1);
        row("Java, 1 thread, direct buffer", calls, jd);
        row("C host, 1 thread", calls, c1);
        row("Java, 2 threads, byte[]", calls, j2);
        row("C host, 2 threads", calls, c2);
        System.out.println();
        ratios("time per call", r -> r.wall, j1, jd, c1, j2, c2, " (target <= 1.5)");
        ratios("CPU time per call", r -> r.cpu, j1, jd, c1, j2, c2,
            " (what other processes' load does not change)");
        System.out.printf(
            "  JNI cost per call: %.3f us (1 thread), %.3f us (2 threads)%n",
            (median(j1.wall) - median(c1.wall)) / calls * 1e6,
            (median(j2.wall) - median(c2.wall)) / calls * 1e6);
      } finally {
        cHostClose(host);
      }
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  // Java's medians over the C host's, for one measure of the runs.
  private static void ratios(String what, java.util.function.Function<Runs, List<Double>> measure,
      Runs j1, Runs jd, Runs c1, Runs j2, Runs c2, String note) {
    double c = median(measure.apply(c1));
    System.out.printf(
        "  %s, Java / C host: 1 thread %.2f, direct buffer %.2f, 2 threads %.2f%s%n",
        what, median(measure.apply(j1)) / c, median(measure.apply(jd)) / c,
        median(measure.apply(j2)) / median(measure.apply(c2)), note);
  }

  private static void row(String what, long calls, Runs runs) {
    double wall = median(runs.wall);
    System.out.printf(
        "  %-30s %12.0f %10.3f %14.3f%n",
        what, calls / wall, wall / calls * 1e6, median(runs.cpu) / calls * 1e6);
  }

  private static AutoCloseable open(PythonEnvironmentManager manager) {
    manager.open();
    return () -> {};
  }
}
