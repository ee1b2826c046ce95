package org.libpyenv;

import java.nio.ByteBuffer;

/**
 * The functions of libpyenv_jni.so, one per C call they make. Strings go in as NUL-terminated
 * UTF-8 and come out as UTF-8 byte arrays (JNI's own strings are modified UTF-8). Every
 * failure throws {@link PyenvException} with the plugin's status and message. Handles are the
 * plugin's pointers; callers keep them alive ({@link NativeHandle}). Only {@link Pyenv} may
 * call before the plugin is loaded.
 */
final class Native {
  private Native() {}

  // --- the plugin
  /** dlopen()s the plugin, checks its ABI and resolves its functions; ERROR on failure. */
  static native void loadPlugin(byte[] path);

  /** The path of libpyenv_jni.so itself, as the dynamic linker loaded it. */
  static native byte[] jniLibraryPath();

  static native int abiVersion();

  static native byte[] version();

  // --- managers
  /** A global reference to {@code sink} that the plugin's log and progress callbacks use. */
  static native long newCallbacks(NativeCallbacks sink);

  static native void freeCallbacks(long callbacks);

  static native long create(
      byte[] jobId,
      byte[][] tmpDirs,
      byte[] configFile,
      byte[] configYaml,
      byte[][] systemEnv,
      long callbacks);

  static native void open(long manager);

  static native long createEnvironment(long manager);

  /** pyenv_close: frees the manager even when it throws (EIO). */
  static native void close(long manager);

  // --- environments
  static final int PYTHON_EXEC = 0;
  static final int PYTHON_HOME = 1;
  static final int WORKING_DIRECTORY = 2;
  static final int JSON = 3;

  static native int environmentExecType(long environment);

  /** One of the strings above, or null when the plugin returns NULL. */
  static native byte[] environmentString(long environment, int which);

  static native byte[][] environmentPaths(long environment);

  /** The variables in the plugin's order: key 0, value 0, key 1, value 1, ... */
  static native byte[][] environmentVariables(long environment);

  static native long getInterpreter(long environment);

  static native void freeEnvironment(long environment);

  // --- interpreters
  static native void exec(long interpreter, byte[] code);

  static native byte[] callJson(long interpreter, byte[] callable, byte[] argsJson);

  static native byte[] callBytes(
      long interpreter, byte[] callable, byte[] record, int offset, int length);

  /** The address of a direct buffer's memory. */
  static native long address(ByteBuffer direct);

  /**
   * The hot path, with no JNI function called on success ({@link CallScratch}): the callable is
   * the C string at {@code scratch + CallScratch.NAME}, the record {@code length} bytes at
   * {@code record}. A result of up to {@code capacity} bytes is copied to {@code scratch +
   * CallScratch.DATA}, its length to {@code scratch}, and null is returned; a larger one comes
   * back as a new array.
   */
  static native byte[] callBytesScratch(
      long interpreter, long scratch, long record, int length, int capacity);

  /**
   * pyenv_interpreter_call_batch (ABI 1.2): {@code callable} on each record, one result per
   * record, in order. ERROR when the plugin is older than 1.2.
   */
  static native byte[][] callBatch(long interpreter, byte[] callable, byte[][] records);

  static native byte[] interpreterInfo(long interpreter);

  static native void closeInterpreter(long interpreter);
}
