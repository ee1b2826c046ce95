package org.libpyenv;

import java.util.Arrays;
import java.util.Objects;

/**
 * How the job's interpreter is configured, as Flink's (and pemja's) {@code
 * PythonInterpreterConfig}: execution type, search paths, executable, home and working
 * directory. An immutable value.
 */
public final class PythonInterpreterConfig {
  /** Where Python runs: {@code python.execution-mode}. */
  public enum ExecType {
    /** {@code thread}, the default: in the host's threads, all handles sharing one CPython. */
    MULTI_THREAD,
    /** {@code process} (ABI 1.2): each interpreter handle in a worker process of its own. */
    PROCESS
  }

  private final ExecType execType;
  private final String[] paths;
  private final String pythonExec;
  private final String pythonHome;
  private final String workingDirectory;

  PythonInterpreterConfig(
      ExecType execType,
      String[] paths,
      String pythonExec,
      String pythonHome,
      String workingDirectory) {
    this.execType = Objects.requireNonNull(execType);
    this.paths = paths.clone();
    this.pythonExec = pythonExec;
    this.pythonHome = pythonHome;
    this.workingDirectory = workingDirectory;
  }

  public ExecType getExecType() {
    return execType;
  }

  /** The module search paths (PYTHONPATH), in order; a copy. */
  public String[] getPaths() {
    return paths.clone();
  }

  /** The interpreter: absolute when it comes from an archive, else as configured. */
  public String getPythonExec() {
    return pythonExec;
  }

  /** PYTHONHOME for the interpreter, or null when unset. */
  public String getPythonHome() {
    return pythonHome;
  }

  /** The directory Python runs in (the archives' directory), or null when unset. */
  public String getWorkingDirectory() {
    return workingDirectory;
  }

  @Override
  public boolean equals(Object other) {
    if (!(other instanceof PythonInterpreterConfig)) return false;
    PythonInterpreterConfig o = (PythonInterpreterConfig) other;
    return execType == o.execType
        && Arrays.equals(paths, o.paths)
        && Objects.equals(pythonExec, o.pythonExec)
        && Objects.equals(pythonHome, o.pythonHome)
        && Objects.equals(workingDirectory, o.workingDirectory);
  }

  @Override
  public int hashCode() {
    return Objects.hash(execType, Arrays.hashCode(paths), pythonExec, pythonHome, workingDirectory);
  }

  @Override
  public String toString() {
    return "PythonInterpreterConfig{execType="
        + execType
        + ", paths="
        + Arrays.toString(paths)
        + ", pythonExec="
        + pythonExec
        + ", pythonHome="
        + pythonHome
        + ", workingDirectory="
        + workingDirectory
        + "}";
  }
}
