package org.libpyenv;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Where a manager's plugin callbacks land. libpyenv_jni calls {@link #log} and {@link
 * #progress} on whichever thread the plugin calls from (attaching it to the JVM when it is one
 * of the plugin's own); nothing thrown here may reach the plugin, so the first throwable is
 * kept for the manager to throw once the plugin has returned. Holds no reference to its
 * manager, so that an unreachable manager can be cleaned.
 */
final class NativeCallbacks {
  private volatile Logger logger;
  private volatile ProgressListener listener;
  private final AtomicReference<Throwable> failure = new AtomicReference<>();

  NativeCallbacks(Logger logger) {
    this.logger = logger;
  }

  void setLogger(Logger logger) {
    this.logger = logger;
  }

  void setListener(ProgressListener listener) {
    this.listener = listener;
  }

  // Called by libpyenv_jni. level: 0 debug, 1 info, 2 warn, 3 error.
  void log(int level, byte[] message) {
    try {
      Logger target = logger;
      Level mapped =
          level <= 0
              ? Level.DEBUG
              : level == 1 ? Level.INFO : level == 2 ? Level.WARNING : Level.ERROR;
      if (target.isLoggable(mapped)) target.log(mapped, CStrings.decode(message));
    } catch (Throwable t) {
      failure.compareAndSet(null, t);
    }
  }

  // Called by libpyenv_jni.
  void progress(byte[] phase, long done, long total) {
    try {
      ProgressListener target = listener;
      if (target != null) target.progress(CStrings.decode(phase), done, total);
    } catch (Throwable t) {
      failure.compareAndSet(null, t);
    }
  }

  /**
   * Throws what a callback threw during the last plugin call, if anything: alone, or added to
   * {@code failed}, the exception of the plugin call itself.
   */
  void rethrow(PyenvException failed) {
    Throwable thrown = failure.getAndSet(null);
    if (failed != null) {
      if (thrown != null) failed.addSuppressed(thrown);
      throw failed;
    }
    if (thrown instanceof RuntimeException) throw (RuntimeException) thrown;
    if (thrown instanceof Error) throw (Error) thrown;
    if (thrown != null) {
      throw new PyenvException(PyenvStatus.ERROR, "a log or progress callback failed", thrown);
    }
  }
}
