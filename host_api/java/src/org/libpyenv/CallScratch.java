package org.libpyenv;

import java.lang.ref.WeakReference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A calling thread's direct buffer for callBytes: Java writes the callable and the record into
 * it and reads the result out of it, so that a call crosses into native code once and makes no
 * JNI function call (each of which costs a VM transition) when it succeeds. Layout: the
 * result's length (8 bytes, native order), the callable (a C string of at most MAX_NAME bytes
 * with its NUL), then the record going in and the result coming out.
 */
final class CallScratch {
  static final int NAME = 8;
  static final int MAX_NAME = 248;
  static final int DATA = NAME + MAX_NAME;
  static final int CAPACITY = 16 * 1024;

  private static final ThreadLocal<CallScratch> PER_THREAD =
      ThreadLocal.withInitial(CallScratch::new);

  final ByteBuffer buffer =
      ByteBuffer.allocateDirect(DATA + CAPACITY).order(ByteOrder.nativeOrder());
  final long address = Native.address(buffer);
  private byte[] name; // the callable at NAME now
  private boolean busy; // a call on this thread is using it
  // The last direct buffer this thread passed and its address: a stream passes one over and
  // over, and asking JNI for the address is a VM transition. Weak: the buffer is the caller's.
  private WeakReference<ByteBuffer> direct = new WeakReference<>(null);
  private long directAddress;

  /** This thread's scratch, or null when it is in use further up this thread's stack. */
  static CallScratch acquire() {
    CallScratch scratch = PER_THREAD.get();
    if (scratch.busy) return null;
    scratch.busy = true;
    return scratch;
  }

  void release() {
    busy = false;
  }

  /** Puts a callable's C string in place; false when it does not fit. */
  boolean name(byte[] callable) {
    if (callable == name) return true;
    if (callable.length > MAX_NAME) return false;
    buffer.put(NAME, callable);
    name = callable;
    return true;
  }

  /** The address of a direct buffer's memory (a buffer's memory never moves). */
  long address(ByteBuffer buffer) {
    if (direct.get() != buffer) {
      directAddress = Native.address(buffer);
      direct = new WeakReference<>(buffer);
    }
    return directAddress;
  }

  /** The result the last call left here. */
  byte[] result() {
    byte[] out = new byte[(int) buffer.getLong(0)];
    buffer.get(DATA, out);
    return out;
  }
}
