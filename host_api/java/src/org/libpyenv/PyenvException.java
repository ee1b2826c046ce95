package org.libpyenv;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * A failed libpyenv call: the plugin's status and its message ({@code pyenv_last_error()}),
 * which names the key, path, archive entry or Python traceback that failed.
 */
public class PyenvException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final PyenvStatus status;

  public PyenvException(PyenvStatus status, String message) {
    super(message);
    this.status = Objects.requireNonNull(status, "status");
  }

  public PyenvException(PyenvStatus status, String message, Throwable cause) {
    super(message, cause);
    this.status = Objects.requireNonNull(status, "status");
  }

  /** Why the call failed. */
  public PyenvStatus status() {
    return status;
  }

  // Made by libpyenv_jni from a failed call's status and pyenv_last_error() (UTF-8, which
  // JNI's modified UTF-8 would garble beyond the BMP).
  static PyenvException fromNative(int code, byte[] message) {
    String text = message == null ? "" : new String(message, StandardCharsets.UTF_8);
    PyenvStatus status = PyenvStatus.fromCode(code);
    if (status.code() != code) text = "status " + code + ": " + text;
    return new PyenvException(status, text);
  }
}
