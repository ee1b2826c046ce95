package org.libpyenv;

import java.lang.System.Logger;
import java.lang.ref.Cleaner;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Prepares the Python environment of one operator task, as Flink Agents' {@code
 * PythonEnvironmentManager} does: {@link #open()} stages the job's Python files, archives and
 * requirements on local disk, {@link #createEnvironment()} hands back the interpreter
 * configuration and the environment variables, {@link #close()} removes what the last task of
 * the job used. Managers of one job id and one dependency configuration in a process share
 * one base directory.
 *
 * <pre>{@code
 * try (PythonEnvironmentManager manager =
 *         new PythonEnvironmentManager(jobId, new String[] {"/tmp"}, System.getenv(), yaml)) {
 *   manager.open();
 *   try (EmbeddedPythonEnvironment env = manager.createEnvironment();
 *       PythonInterpreter python = env.getInterpreter()) {
 *     byte[] out = python.callBytes("wordcount:count_words", record);
 *   }
 * }
 * }</pre>
 *
 * <p>Threads: a manager may be used from any thread; its calls are taken one at a time (the
 * C ABI's rule), and {@link #close()} waits for a call in progress. The plugin's log lines go
 * to a {@link System.Logger} ("org.libpyenv" unless {@link #setLogger} names another), its
 * progress to an optional {@link ProgressListener}.
 */
public final class PythonEnvironmentManager implements AutoCloseable {
  private final String jobId;
  private final NativeCallbacks callbacks;
  private final State state;
  private final Cleaner.Cleanable cleanable;

  /**
   * Creates the manager of a task: checks the arguments and parses the configuration (no disk
   * is touched until {@link #open()}).
   *
   * @param jobId the job's id, shared by its tasks
   * @param tmpDirectories where base directories are made (the first that works is used)
   * @param systemEnv the environment Python gets (when python.systemenv.enabled), or null
   * @param configYaml the job's YAML ({@code python.*} and {@code pyenv.*} keys), or null;
   *     relative paths in it are relative to the process's working directory
   * @throws PyenvException EINVAL for a bad argument, ECONFIG for a bad configuration
   */
  public PythonEnvironmentManager(
      String jobId, String[] tmpDirectories, Map<String, String> systemEnv, String configYaml) {
    this(jobId, tmpDirectories, systemEnv, null, configYaml);
  }

  /**
   * The manager of a task configured by a YAML file; relative paths in it are relative to
   * the file's directory.
   */
  public static PythonEnvironmentManager fromConfigFile(
      String jobId, String[] tmpDirectories, Map<String, String> systemEnv, Path configFile) {
    if (configFile == null) {
      throw new PyenvException(PyenvStatus.EINVAL, "configFile must not be null");
    }
    return new PythonEnvironmentManager(
        jobId, tmpDirectories, systemEnv, configFile.toString(), null);
  }

  private PythonEnvironmentManager(
      String jobId,
      String[] tmpDirectories,
      Map<String, String> systemEnv,
      String configFile,
      String configYaml) {
    Pyenv.ensureLoaded();
    this.jobId = jobId;
    byte[] job = CStrings.encode(jobId, "jobId");
    byte[][] tmp = CStrings.encodeAll(tmpDirectories, "tmpDirectories");
    byte[][] env = systemEnv(systemEnv);
    byte[] file = CStrings.encode(configFile, "configFile");
    byte[] yaml = CStrings.encode(configYaml, "configYaml");
    this.callbacks = new NativeCallbacks(System.getLogger("org.libpyenv"));
    long sink = Native.newCallbacks(callbacks);
    long manager;
    try {
      manager = Native.create(job, tmp, file, yaml, env, sink);
    } catch (RuntimeException | Error e) {
      Native.freeCallbacks(sink);
      throw e;
    }
    this.state = new State(manager, sink, jobId);
    this.cleanable = Cleaners.CLEANER.register(this, state);
  }

  // "KEY=VALUE" strings; a key the plugin would split wrongly is refused here, naming it.
  private static byte[][] systemEnv(Map<String, String> systemEnv) {
    if (systemEnv == null) return null;
    byte[][] out = new byte[systemEnv.size()][];
    int i = 0;
    for (Map.Entry<String, String> e : systemEnv.entrySet()) {
      String key = e.getKey();
      if (key == null || key.isEmpty() || key.indexOf('=') >= 0) {
        throw new PyenvException(
            PyenvStatus.EINVAL,
            "systemEnv: key \"" + key + "\" is not a variable name (empty or holds '=')");
      }
      if (e.getValue() == null) {
        throw new PyenvException(PyenvStatus.EINVAL, "systemEnv: " + key + " has a null value");
      }
      out[i++] = CStrings.encode(key + "=" + e.getValue(), "systemEnv " + key);
    }
    return out;
  }

  /** Where the plugin's log lines go from now on. */
  public void setLogger(Logger logger) {
    callbacks.setLogger(logger == null ? System.getLogger("org.libpyenv") : logger);
  }

  /** Who hears of open()'s progress from now on; null for nobody. */
  public void setProgressListener(ProgressListener listener) {
    callbacks.setListener(listener);
  }

  public String getJobId() {
    return jobId;
  }

  /**
   * Prepares the job's environment on disk, or joins the task of the same job that did. A
   * failed open removes what it created and may be retried.
   *
   * @throws PyenvException ESTATE when already open or closed; ECONFIG for a missing path;
   *     EIO, EARCHIVE or EPYTHON as the failing step says
   */
  public void open() {
    long manager = state.enter("open");
    PyenvException failed = null;
    try {
      Native.open(manager);
    } catch (PyenvException e) {
      failed = e;
    } finally {
      state.lock.unlock();
    }
    callbacks.rethrow(failed);
  }

  /**
   * The environment of the opened job: interpreter configuration and variables. It is a value
   * that may outlive this manager; close it when done.
   *
   * @throws PyenvException ESTATE before {@link #open()} or after {@link #close()}
   */
  public EmbeddedPythonEnvironment createEnvironment() {
    long manager = state.enter("createEnvironment");
    long environment = 0;
    PyenvException failed = null;
    try {
      environment = Native.createEnvironment(manager);
    } catch (PyenvException e) {
      failed = e;
    } finally {
      state.lock.unlock();
    }
    if (failed != null) callbacks.rethrow(failed);
    EmbeddedPythonEnvironment out = new EmbeddedPythonEnvironment(environment);
    try {
      callbacks.rethrow(null);
    } catch (RuntimeException | Error e) {
      out.close();
      throw e;
    }
    return out;
  }

  /**
   * Releases the manager; the last one of its base directory removes it. Closing again does
   * nothing.
   *
   * @throws PyenvException EIO naming what could not be removed (the manager is closed anyway)
   */
  @Override
  public void close() {
    if (state.lock.isHeldByCurrentThread()) {
      throw new PyenvException(
          PyenvStatus.ESTATE,
          "close: called from a log or progress callback of the same manager (job " + jobId + ")");
    }
    PyenvException failed = state.close();
    cleanable.clean();
    callbacks.rethrow(failed);
  }

  /** Whether {@link #close()} was called (or the manager was cleaned). */
  public boolean isClosed() {
    return state.manager == 0;
  }

  // What the Cleaner may close: everything but the manager object.
  private static final class State implements Runnable {
    final ReentrantLock lock = new ReentrantLock();
    private final String jobId;
    volatile long manager; // 0 once closed; written under lock
    private long callbacks; // guarded by lock

    State(long manager, long callbacks, String jobId) {
      this.manager = manager;
      this.callbacks = callbacks;
      this.jobId = jobId;
    }

    // Takes the lock for a call and returns the handle; the caller unlocks.
    long enter(String call) {
      lock.lock();
      if (lock.getHoldCount() > 1) {
        lock.unlock();
        throw new PyenvException(
            PyenvStatus.ESTATE,
            call + ": called from a log or progress callback of the same manager (job " + jobId
                + ")");
      }
      if (manager == 0) {
        lock.unlock();
        throw new PyenvException(
            PyenvStatus.ESTATE, call + ": the manager of job " + jobId + " is closed");
      }
      return manager;
    }

    PyenvException close() {
      lock.lock();
      try {
        if (manager == 0) return null;
        long handle = manager;
        manager = 0;
        try {
          Native.close(handle);
          return null;
        } catch (PyenvException e) {
          return e;
        } finally {
          Native.freeCallbacks(callbacks);
          callbacks = 0;
        }
      } finally {
        lock.unlock();
      }
    }

    @Override
    public void run() {
      // Only ever run by the Cleaner for a manager nobody closed: nobody to tell of failures.
      close();
    }
  }
}
