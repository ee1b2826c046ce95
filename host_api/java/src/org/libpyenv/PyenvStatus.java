package org.libpyenv;

/** Why a libpyenv call failed: the {@code pyenv_status} values of {@code pyenv.h}. */
public enum PyenvStatus {
  /** Anything not below; also a plugin or JNI library that cannot be loaded. */
  ERROR(-1),
  /** A bad argument: an empty job id, no tmp directory, malformed JSON arguments. */
  EINVAL(-2),
  /** An invalid configuration: an unknown key, a wrong type, a missing path. */
  ECONFIG(-3),
  /** A file system failure: no space, no permission, an untrusted cache directory. */
  EIO(-4),
  /** An archive that is unreadable, corrupt, unsafe or over its limits. */
  EARCHIVE(-5),
  /** A call out of order, or on something already closed. */
  ESTATE(-6),
  /** Python, pip or the embedded interpreter failed; the message holds the traceback. */
  EPYTHON(-7),
  /** Out of memory. */
  ENOMEM(-8);

  private final int code;

  PyenvStatus(int code) {
    this.code = code;
  }

  /** The C value of this status. */
  public int code() {
    return code;
  }

  /** The status of a C value; values this binding does not know are {@link #ERROR}. */
  public static PyenvStatus fromCode(int code) {
    for (PyenvStatus status : values()) {
      if (status.code == code) return status;
    }
    return ERROR;
  }
}
