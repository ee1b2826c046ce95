package org.libpyenv;

import java.lang.ref.Cleaner;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The environment of an opened job, as Flink's {@code EmbeddedPythonEnvironment}: the
 * interpreter configuration ({@link #getConfig()}) and the environment variables for Python
 * ({@link #getEnv()}), plus its interpreters ({@link #getInterpreter()}): in the embedded
 * CPython or in worker processes, as {@link PythonInterpreterConfig#getExecType()} says.
 *
 * <p>It is a value: it may outlive its manager and be read from any thread. Its paths point
 * into the job's base directory, which the last close of the job's managers removes: an
 * interpreter made after that starts, but imports from those paths fail (EPYTHON). Keep a
 * manager of the job open while its interpreters run.
 */
public final class EmbeddedPythonEnvironment implements AutoCloseable {
  private final PythonInterpreterConfig config;
  private final Map<String, String> env;
  private final String json;
  private final NativeHandle handle;
  private final Cleaner.Cleanable cleanable;

  // Takes ownership of `environment`, a pyenv_environment.
  EmbeddedPythonEnvironment(long environment) {
    try {
      PythonInterpreterConfig.ExecType execType = execType(environment);
      byte[][] rawPaths = Native.environmentPaths(environment);
      String[] paths = new String[rawPaths.length];
      for (int i = 0; i < paths.length; ++i) paths[i] = CStrings.decode(rawPaths[i]);
      config =
          new PythonInterpreterConfig(
              execType,
              paths,
              string(environment, Native.PYTHON_EXEC),
              string(environment, Native.PYTHON_HOME),
              string(environment, Native.WORKING_DIRECTORY));
      byte[][] variables = Native.environmentVariables(environment);
      Map<String, String> map = new LinkedHashMap<>();
      for (int i = 0; i + 1 < variables.length; i += 2) {
        map.put(CStrings.decode(variables[i]), CStrings.decode(variables[i + 1]));
      }
      env = Collections.unmodifiableMap(map);
      json = string(environment, Native.JSON);
    } catch (RuntimeException | Error e) {
      Native.freeEnvironment(environment);
      throw e;
    }
    handle = new NativeHandle(environment, Native::freeEnvironment, "the environment");
    cleanable = Cleaners.CLEANER.register(this, handle::close);
  }

  // pyenv_environment_exec_type: PYENV_EXEC_MULTI_THREAD (0) or PYENV_EXEC_PROCESS (1).
  private static PythonInterpreterConfig.ExecType execType(long environment) {
    int execType = Native.environmentExecType(environment);
    switch (execType) {
      case 0:
        return PythonInterpreterConfig.ExecType.MULTI_THREAD;
      case 1:
        return PythonInterpreterConfig.ExecType.PROCESS;
      default:
        throw new PyenvException(
            PyenvStatus.ERROR, "the plugin reports execution type " + execType + ", unknown here");
    }
  }

  private static String string(long environment, int which) {
    return CStrings.decode(Native.environmentString(environment, which));
  }

  /** The environment variables for Python, sorted by key; unmodifiable. */
  public Map<String, String> getEnv() {
    return env;
  }

  public PythonInterpreterConfig getConfig() {
    return config;
  }

  /**
   * The environment as JSON: {@code {"exec_type": "MULTI_THREAD" | "PROCESS", "python_exec":
   * ..., "python_home": ... | null, "working_directory": ... | null, "paths": [...], "env":
   * {...}}}.
   */
  public String toJson() {
    return json;
  }

  /**
   * A new interpreter handle with globals of its own. Thread mode: onto the process's embedded
   * CPython, started from this environment on first use. Process mode: served by a new worker
   * process, the environment's Python, started and ready when this returns. The caller closes
   * it; it does not depend on this environment, which may be closed first.
   *
   * @throws PyenvException EPYTHON in thread mode when no libpython is found, CPython fails to
   *     start, or the running CPython has another home or version than this environment needs;
   *     in process mode when the worker cannot be started or exits before it is ready (naming
   *     the executable and what it printed); ESTATE once this environment is closed
   */
  public PythonInterpreter getInterpreter() {
    int ticket = handle.acquire();
    long environment = handle.address();
    try {
      return new PythonInterpreter(Native.getInterpreter(environment));
    } finally {
      handle.release(ticket);
    }
  }

  /** Frees the plugin's copy of this environment; the Java values stay readable. */
  @Override
  public void close() {
    cleanable.clean();
  }

  public boolean isClosed() {
    return handle.isClosed();
  }

  @Override
  public String toString() {
    return json;
  }
}
