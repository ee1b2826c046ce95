package org.libpyenv;

import java.lang.System.Logger;
import java.util.ArrayList;
import java.util.List;
import java.util.ResourceBundle;

/** A System.Logger that keeps every line with its level and thread. */
class RecordingLogger implements Logger {
  record Line(Level level, String message, String thread) {}

  private final List<Line> lines = new ArrayList<>();

  synchronized List<Line> lines() {
    return new ArrayList<>(lines);
  }

  @Override
  public String getName() {
    return "recording";
  }

  @Override
  public boolean isLoggable(Level level) {
    return true;
  }

  @Override
  public synchronized void log(Level level, ResourceBundle bundle, String msg, Throwable thrown) {
    lines.add(new Line(level, msg, Thread.currentThread().getName()));
  }

  @Override
  public void log(Level level, ResourceBundle bundle, String format, Object... params) {
    log(level, bundle, params == null ? format : String.format(format, params), (Throwable) null);
  }
}
