package org.libpyenv;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.Objects;

/**
 * A handle onto the Python of an environment, shaped like pemja's {@code PythonInterpreter}:
 * {@link #exec} runs statements in the handle's own globals, {@link #invoke} calls a function
 * with Java values, {@link #callJson} with JSON text, {@link #callBytes} is the hot path for
 * records and {@link #callBatch} calls one function on many records at once.
 *
 * <p>Where Python runs is the environment's execution mode ({@code python.execution-mode},
 * {@link PythonInterpreterConfig#getExecType()}); the calls, their results and their
 * exceptions are the same in both, so a job switches modes in its configuration alone:
 *
 * <ul>
 *   <li>{@code thread} ({@link PythonInterpreterConfig.ExecType#MULTI_THREAD}, the default):
 *       the CPython embedded in the JVM's process, one for all handles, each handle with
 *       globals of its own. Any Java thread may call any handle at any time, also several
 *       threads one handle at once: each call takes the GIL on the calling thread (a
 *       free-threaded Python runs them in parallel).
 *   <li>{@code process} ({@link PythonInterpreterConfig.ExecType#PROCESS}): each handle is
 *       served by a worker process of its own, the environment's own Python, so N handles on
 *       N threads use N cores whatever the GIL, and any CPython the environment brings works.
 *       Calls on one handle from several threads are allowed and serialised: the worker runs
 *       one at a time. A worker that dies (a crash in an extension, {@code os.abort()},
 *       {@code os._exit}, the OOM killer, {@code pyenv.process.call-timeout}) fails the call
 *       in flight with a {@link PyenvException} of status {@link PyenvStatus#EPYTHON} naming
 *       how it ended (e.g. SIGABRT) and its last lines on stderr; every later call on this
 *       handle throws {@link PyenvStatus#ESTATE}. The JVM lives on, and a new handle from the
 *       environment starts a new worker.
 * </ul>
 *
 * <p>Callables are {@code "package.module:function"} (imported on first use) or a name bound
 * in this handle's globals. No Java lock is held while Python runs. {@link #close()} may come
 * from any thread, also while calls run: they finish, later calls throw ESTATE, and the handle
 * is released after the last one.
 */
public final class PythonInterpreter implements AutoCloseable {
  private final NativeHandle handle;
  private final Cleaner.Cleanable cleanable;
  // The last callable's C string: a record stream calls one function over and over.
  private volatile EncodedName lastName = new EncodedName("", new byte[] {0});

  PythonInterpreter(long interpreter) {
    handle = new NativeHandle(interpreter, Native::closeInterpreter, "the PythonInterpreter");
    cleanable = Cleaners.CLEANER.register(this, handle::close);
  }

  /**
   * Runs Python statements in this handle's globals.
   *
   * @throws PyenvException EPYTHON with the traceback
   */
  public void exec(String code) {
    byte[] text = CStrings.encode(Objects.requireNonNull(code, "code"), "code");
    int ticket = handle.acquire();
    long interpreter = handle.address();
    try {
      Native.exec(interpreter, text);
    } finally {
      handle.release(ticket);
    }
  }

  /**
   * Calls {@code callable} with Java values as positional arguments and returns its result.
   * Values go both ways as JSON: null, Boolean, Long (any integral Number; BigInteger beyond
   * long), Double (Float and Double in; NaN and infinities as Python writes them), String,
   * List (any Iterable or array in) and Map with String keys.
   *
   * @throws PyenvException EINVAL for an argument with no JSON form; EPYTHON when the call
   *     raises or its result has no JSON form
   */
  public Object invoke(String callable, Object... args) {
    return Json.decode(callJson(callable, Json.encodeArguments(args)));
  }

  /**
   * Calls {@code callable} with a JSON array of positional arguments (null or "" for none)
   * and returns the result as JSON.
   */
  public String callJson(String callable, String argsJson) {
    byte[] name = name(callable);
    byte[] args = CStrings.encode(argsJson, "argsJson");
    int ticket = handle.acquire();
    long interpreter = handle.address();
    try {
      return CStrings.decode(Native.callJson(interpreter, name, args));
    } finally {
      handle.release(ticket);
    }
  }

  /**
   * Calls {@code callable} with one bytes argument; its result is bytes (a str result comes
   * back as UTF-8).
   */
  public byte[] callBytes(String callable, byte[] record) {
    Objects.requireNonNull(record, "record");
    return callBytes(callable, record, 0, record.length);
  }

  /** The same, with {@code length} bytes of {@code record} from {@code offset}. */
  public byte[] callBytes(String callable, byte[] record, int offset, int length) {
    Objects.requireNonNull(record, "record");
    Objects.checkFromIndexSize(offset, length, record.length);
    byte[] name = name(callable);
    if (length <= CallScratch.CAPACITY) {
      CallScratch scratch = CallScratch.acquire();
      if (scratch != null) {
        try {
          if (scratch.name(name)) {
            scratch.buffer.put(CallScratch.DATA, record, offset, length);
            return scratchCall(scratch, scratch.address + CallScratch.DATA, length);
          }
        } finally {
          scratch.release();
        }
      }
    }
    int ticket = handle.acquire();
    long interpreter = handle.address();
    try {
      return Native.callBytes(interpreter, name, record, offset, length);
    } finally {
      handle.release(ticket);
    }
  }

  private byte[] scratchCall(CallScratch scratch, long record, int length) {
    byte[] large;
    int ticket = handle.acquire();
    long interpreter = handle.address();
    try {
      large =
          Native.callBytesScratch(
              interpreter, scratch.address, record, length, CallScratch.CAPACITY);
    } finally {
      handle.release(ticket);
    }
    return large != null ? large : scratch.result();
  }

  /**
   * The same with the bytes between {@code record}'s position and limit, read in place when
   * it is a direct buffer (no copy). On success the buffer's position moves to its limit, as a
   * channel's write does; on failure it stays.
   */
  public byte[] callBytes(String callable, ByteBuffer record) {
    Objects.requireNonNull(record, "record");
    int position = record.position();
    int length = record.remaining();
    byte[] out = null;
    if (record.isDirect()) {
      byte[] name = name(callable);
      CallScratch scratch = CallScratch.acquire();
      if (scratch != null) {
        try {
          if (scratch.name(name)) {
            out = scratchCall(scratch, scratch.address(record) + position, length);
          }
        } finally {
          scratch.release();
        }
      }
    }
    if (out == null) {
      if (record.hasArray()) {
        out = callBytes(callable, record.array(), record.arrayOffset() + position, length);
      } else {
        byte[] copy = new byte[length];
        record.duplicate().get(copy);
        out = callBytes(callable, copy, 0, length);
      }
    }
    // The direct buffer's memory is freed with the buffer: it stays reachable past the call.
    Reference.reachabilityFence(record);
    record.position(position + length);
    return out;
  }

  /**
   * {@code callable} on each record, in order, as {@link #callBytes(String, byte[])} would, in
   * one go: one round trip to the worker in process mode, one GIL acquisition in thread mode.
   * The records are copied once, into native memory; the result has one array per record.
   *
   * @throws PyenvException EPYTHON when a record's call raises or returns neither bytes nor
   *     str: the message names the record's index from 0 ("... raised an exception on record 1
   *     of 3:") and has the traceback, and no result of the batch is returned; in process mode
   *     also as {@link #callBytes} when the worker dies or times out. ERROR when the plugin is
   *     older than ABI 1.2, naming the version it needs.
   */
  public byte[][] callBatch(String callable, byte[][] records) {
    Objects.requireNonNull(records, "records");
    for (int i = 0; i < records.length; ++i) {
      final int index = i;
      Objects.requireNonNull(records[i], () -> "records[" + index + "]");
    }
    byte[] name = name(callable);
    int ticket = handle.acquire();
    long interpreter = handle.address();
    try {
      return Native.callBatch(interpreter, name, records);
    } finally {
      handle.release(ticket);
    }
  }

  /**
   * What Python this handle runs ({@code pyenv_interpreter_info}), with the keys "version",
   * "implementation", "free_threaded", "gil_enabled" (now), "prefix" and "executable"
   * ({@code sys.prefix} and {@code sys.executable}), "libpython" (the shared libpython that
   * runs it; null for a worker's statically linked Python), "execution_mode" ("thread" or
   * "process") and "pid" (the process Python runs in: the JVM's in thread mode, the worker's in
   * process mode). The last two come from a plugin of ABI 1.2.
   *
   * @throws PyenvException in process mode as a call does when the worker is gone (EPYTHON,
   *     then ESTATE); it waits for a call in flight on this handle
   */
  @SuppressWarnings("unchecked")
  public Map<String, Object> info() {
    int ticket = handle.acquire();
    long interpreter = handle.address();
    String json;
    try {
      json = CStrings.decode(Native.interpreterInfo(interpreter));
    } finally {
      handle.release(ticket);
    }
    Object value = Json.decode(json);
    if (!(value instanceof Map)) {
      throw new PyenvException(
          PyenvStatus.ERROR, "pyenv_interpreter_info returned no JSON object: " + json);
    }
    return (Map<String, Object>) value;
  }

  /**
   * Releases the handle (after the calls in progress). Thread mode: its environment's paths
   * leave sys.path with the last handle. Process mode: the worker's input ends, and a worker
   * still running 2 s later gets SIGTERM, then SIGKILL; it is gone when this returns. Closing
   * again does nothing.
   */
  @Override
  public void close() {
    cleanable.clean();
  }

  public boolean isClosed() {
    return handle.isClosed();
  }

  private byte[] name(String callable) {
    Objects.requireNonNull(callable, "callable");
    EncodedName last = lastName;
    if (last.name == callable || last.name.equals(callable)) return last.bytes;
    EncodedName fresh = new EncodedName(callable, CStrings.encode(callable, "callable"));
    lastName = fresh;
    return fresh.bytes;
  }

  private static final class EncodedName {
    final String name;
    final byte[] bytes;

    EncodedName(String name, byte[] bytes) {
      this.name = name;
      this.bytes = bytes;
    }
  }
}
