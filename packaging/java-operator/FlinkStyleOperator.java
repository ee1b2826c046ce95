import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.libpyenv.EmbeddedPythonEnvironment;
import org.libpyenv.PythonEnvironmentManager;
import org.libpyenv.PythonInterpreter;
import org.libpyenv.PythonInterpreterConfig.ExecType;

/**
 * A Flink-style Python operator on libpyenv, in plain Java: what a streaming runtime's
 * operator does with the Java binding, and how a job's parallel subtasks and a failover use it.
 *
 * <p>{@link WordCountOperator} is the operator: {@code open()} prepares the job's Python
 * environment (one {@link PythonEnvironmentManager} per subtask, as Flink Agents has one per
 * operator task) and gets an interpreter, {@code processElement()} calls the job's Python
 * function on a record, {@code close()} lets everything go. The subtasks of a job share one
 * environment on disk: the first to open prepares it, the last to close removes it.
 *
 * <p>{@code main} is a tiny runtime: one job of two parallel subtasks, each a thread taking
 * records from its input queue, and two failovers. First subtask 0 alone fails and is
 * restarted while subtask 1 goes on processing (the shared environment stays, subtask 1's
 * interpreter keeps working); records for subtask 0 wait in its queue, as a runtime replays
 * them from a checkpoint. Then the whole job fails and restarts: the environment is removed
 * and prepared again. Every output is checked against a word count made in Java; the exit
 * status says whether all went as described.
 *
 * <p>The job's YAML chooses where Python runs ({@code python.execution-mode}), and this code is
 * the same for both. {@code thread} (example.yaml): every interpreter is a handle onto the one
 * CPython embedded in this JVM, which keeps running across failovers. {@code process}
 * (process-mode.yaml): every interpreter is a worker process of its own, so the two subtasks
 * use two cores whatever the GIL, a crash in the job's Python fails only that subtask's calls,
 * and closing the interpreter ends its worker.
 *
 * <pre>
 * javac -cp /usr/share/java/pyenv.jar FlinkStyleOperator.java
 * java -cp /usr/share/java/pyenv.jar:. FlinkStyleOperator \
 *     /usr/share/pyenv/examples/example.yaml /usr/share/pyenv/examples/example/records.txt
 * java -cp /usr/share/java/pyenv.jar:. FlinkStyleOperator \
 *     /usr/share/pyenv/examples/process-mode.yaml /usr/share/pyenv/examples/example/records.txt
 * </pre>
 */
public final class FlinkStyleOperator {
  /** The operator: one instance per subtask and attempt, as a streaming runtime makes them. */
  static final class WordCountOperator {
    private final String jobId;
    private final Path config;
    private final String[] tmpDirectories;
    private PythonEnvironmentManager manager;
    private EmbeddedPythonEnvironment environment;
    private PythonInterpreter python;

    WordCountOperator(String jobId, Path config, String[] tmpDirectories) {
      this.jobId = jobId;
      this.config = config;
      this.tmpDirectories = tmpDirectories;
    }

    void open() {
      manager =
          PythonEnvironmentManager.fromConfigFile(jobId, tmpDirectories, System.getenv(), config);
      manager.open();
      environment = manager.createEnvironment();
      python = environment.getInterpreter();
    }

    /** Where the job's Python runs: in this JVM (MULTI_THREAD) or in workers (PROCESS). */
    ExecType executionMode() {
      return environment.getConfig().getExecType();
    }

    /** The process the interpreter's Python runs in: this JVM, or its worker. */
    long pythonPid() {
      return ((Number) python.info().get("pid")).longValue();
    }

    byte[] processElement(byte[] record) {
      return python.callBytes("wordcount:count_words", record);
    }

    /** Where the job's environment is on disk. */
    String baseDirectory() {
      return environment.getEnv().get("BOOT_LOG_DIR");
    }

    void close() {
      // Interpreter, environment, then manager: the manager's last close removes the files.
      if (python != null) python.close();
      if (environment != null) environment.close();
      if (manager != null) manager.close();
    }
  }

  private static final byte[] FAIL = new byte[0]; // in an input queue: fail here
  private static final byte[] END = new byte[0]; // in an input queue: end of the stream

  /** A subtask: attempts of the operator over its input, until the end of the stream. */
  static final class Subtask extends Thread {
    final BlockingQueue<byte[]> input = new LinkedBlockingQueue<>();
    final BlockingQueue<String> opened = new LinkedBlockingQueue<>(); // base dir per attempt
    final Semaphore down = new Semaphore(0); // released when an attempt has closed
    final Semaphore restart = new Semaphore(0); // the runtime's go for the next attempt
    final List<String> environments = new ArrayList<>();
    final List<Long> pythonPids = new ArrayList<>(); // per attempt
    volatile ExecType executionMode;
    volatile long processed;
    volatile long wrong;
    volatile Throwable failure;
    private final WordCountOperatorFactory factory;

    interface WordCountOperatorFactory {
      WordCountOperator create();
    }

    Subtask(int index, WordCountOperatorFactory factory) {
      super("subtask-" + index);
      this.factory = factory;
    }

    @Override
    public void run() {
      try {
        for (boolean more = true; more; ) {
          WordCountOperator operator = factory.create();
          operator.open();
          executionMode = operator.executionMode();
          pythonPids.add(operator.pythonPid());
          environments.add(operator.baseDirectory());
          opened.add(operator.baseDirectory());
          try {
            more = processUntilFailOrEnd(operator);
          } finally {
            operator.close();
            down.release();
          }
          if (more && !restart.tryAcquire(60, TimeUnit.SECONDS)) {
            throw new IllegalStateException(getName() + ": never restarted");
          }
        }
      } catch (Throwable t) {
        failure = t;
      }
    }

    // True when the attempt failed (another follows), false at the end of the stream.
    private boolean processUntilFailOrEnd(WordCountOperator operator) throws InterruptedException {
      for (;;) {
        byte[] record = input.take();
        if (record == FAIL) return true;
        if (record == END) return false;
        String count = new String(operator.processElement(record), StandardCharsets.UTF_8);
        if (!count.equals(Integer.toString(wordsIn(record)))) ++wrong;
        ++processed;
      }
    }

    void awaitProcessed(long records) throws InterruptedException {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (processed < records && failure == null && System.nanoTime() < deadline) {
        Thread.sleep(1);
      }
      if (processed < records) throw new IllegalStateException(getName() + " stalled", failure);
    }

    String awaitOpened() throws InterruptedException {
      String base = opened.poll(60, TimeUnit.SECONDS);
      if (base == null) throw new IllegalStateException(getName() + " did not open", failure);
      return base;
    }

    void awaitDown() throws InterruptedException {
      if (!down.tryAcquire(60, TimeUnit.SECONDS)) {
        throw new IllegalStateException(getName() + " did not close", failure);
      }
    }
  }

  static int wordsIn(byte[] record) {
    String text = new String(record, StandardCharsets.UTF_8).strip();
    return text.isEmpty() ? 0 : text.split("\\s+").length;
  }

  private static int next = 0;

  // The source: `count` records to each of `subtasks`, round-robin over the lines.
  private static void emit(List<String> lines, int count, Subtask... subtasks) {
    for (int i = 0; i < count; ++i) {
      for (Subtask s : subtasks) {
        s.input.add(lines.get(next++ % lines.size()).getBytes(StandardCharsets.UTF_8));
      }
    }
  }

  private static boolean check(boolean condition, String what) {
    System.out.println((condition ? "ok:     " : "FAILED: ") + what);
    return condition;
  }

  // Thread mode: every attempt's interpreter ran in this JVM. Process mode: each ran in a worker
  // of its own, and closing the interpreters ended them all.
  private static boolean checkWherePythonRan(ExecType mode, List<Subtask> subtasks) {
    long jvm = ProcessHandle.current().pid();
    List<Long> pids = new ArrayList<>();
    for (Subtask s : subtasks) pids.addAll(s.pythonPids);
    if (mode == ExecType.MULTI_THREAD) {
      return check(pids.stream().allMatch(pid -> pid == jvm),
          "all " + pids.size() + " interpreters ran in this JVM's CPython (pid " + jvm + ")");
    }
    boolean own = pids.stream().distinct().count() == pids.size() && !pids.contains(jvm);
    boolean gone = pids.stream()
        .noneMatch(pid -> ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
    return check(own && gone,
        "all " + pids.size() + " interpreters ran in worker processes of their own " + pids
            + ", none left running");
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: FlinkStyleOperator JOB.yaml RECORDS.txt [TMP_DIR]");
      System.exit(2);
    }
    Path config = Path.of(args[0]);
    List<String> lines = Files.readAllLines(Path.of(args[1]));
    String[] tmp = {args.length > 2 ? args[2] : System.getProperty("java.io.tmpdir")};
    String jobId = "flink-style-job-" + ProcessHandle.current().pid();

    Subtask zero = new Subtask(0, () -> new WordCountOperator(jobId, config, tmp));
    Subtask one = new Subtask(1, () -> new WordCountOperator(jobId, config, tmp));
    zero.start();
    one.start();
    String shared = zero.awaitOpened();
    System.out.println(jobId + ": Python runs in " + zero.executionMode + " mode");
    boolean ok = check(one.awaitOpened().equals(shared), "both subtasks share " + shared);
    emit(lines, 500, zero, one);
    zero.awaitProcessed(500);
    one.awaitProcessed(500);

    // Failover 1: subtask 0 alone. Subtask 1 keeps the environment and goes on meanwhile.
    zero.input.add(FAIL);
    zero.awaitDown();
    ok &= check(Files.isDirectory(Path.of(shared)), "subtask 1 still holds the environment");
    emit(lines, 500, zero, one); // subtask 0's records wait in its queue
    one.awaitProcessed(1000);
    ok &= check(one.processed == 1000 && zero.processed == 500,
        "subtask 1 processed 500 records while subtask 0 was down");
    zero.restart.release();
    ok &= check(zero.awaitOpened().equals(shared), "restarted subtask 0 joined " + shared);
    zero.awaitProcessed(1000);

    // Failover 2: the whole job. The last close removes the environment; the restart makes a
    // new one. In thread mode the JVM's CPython serves the new interpreters; in process mode
    // each gets a new worker.
    zero.input.add(FAIL);
    one.input.add(FAIL);
    zero.awaitDown();
    one.awaitDown();
    ok &= check(!Files.exists(Path.of(shared)), "the job's failover removed " + shared);
    zero.restart.release();
    one.restart.release();
    String fresh = zero.awaitOpened();
    ok &=
        check(
            one.awaitOpened().equals(fresh) && !fresh.equals(shared),
            "the job reopened in " + fresh);
    emit(lines, 500, zero, one);
    zero.input.add(END);
    one.input.add(END);
    zero.join();
    one.join();

    for (Subtask s : List.of(zero, one)) {
      if (s.failure != null) s.failure.printStackTrace();
      ok &= check(s.failure == null && s.processed == 1500 && s.wrong == 0,
          s.getName() + ": " + s.processed + " records, " + s.wrong + " wrong counts, "
              + s.environments.size() + " attempts");
    }
    ok &= check(!Files.exists(Path.of(fresh)), "the end of the job removed " + fresh);
    ok &= checkWherePythonRan(zero.executionMode, List.of(zero, one));
    System.out.println(ok ? "OK" : "FAILED");
    System.exit(ok ? 0 : 1);
  }

  private FlinkStyleOperator() {}
}
