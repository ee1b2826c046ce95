package org.libpyenv;

/**
 * Progress of {@link PythonEnvironmentManager#open()}: called on the opening thread or on
 * one of the plugin's worker threads, while {@code open} runs. An exception it throws does
 * not reach the plugin: {@code open} throws it once the plugin has returned.
 */
@FunctionalInterface
public interface ProgressListener {
  /**
   * @param phase the step: "files", "archives" or "pip"
   * @param done units done (files, archives, attempts)
   * @param total units in all, 0 when unknown
   */
  void progress(String phase, long done, long total);
}
