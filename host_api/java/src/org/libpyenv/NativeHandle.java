package org.libpyenv;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * A plugin handle shared by Java threads: each call holds a reference for its duration and
 * close() drops the owner's, so the handle is released exactly once, by whichever thread lets
 * go last, and never while a call is using it. No lock is held while the plugin runs, and a
 * call after close() is a clean {@link PyenvException} (ESTATE), never a use after free.
 */
final class NativeHandle {
  private static final long CLOSED = Long.MIN_VALUE; // the sign bit; the rest counts holders

  private final long address;
  private final LongConsumer release;
  private final String what;
  // 1 for the owner until close(), plus 1 per call in progress.
  private final AtomicLong state = new AtomicLong(1);

  NativeHandle(long address, LongConsumer release, String what) {
    this.address = address;
    this.release = release;
    this.what = what;
  }

  /** The address, held until {@link #release()}; throws ESTATE once closed. */
  long acquire() {
    for (;;) {
      long n = state.get();
      if ((n & CLOSED) != 0) throw closed();
      if (state.compareAndSet(n, n + 1)) return address;
    }
  }

  void release() {
    if ((state.decrementAndGet() & ~CLOSED) == 0) release.accept(address);
  }

  /** Refuses new calls and drops the owner's reference; harmless when repeated. */
  void close() {
    for (;;) {
      long n = state.get();
      if ((n & CLOSED) != 0) return;
      if (state.compareAndSet(n, n | CLOSED)) break;
    }
    release();
  }

  boolean isClosed() {
    return (state.get() & CLOSED) != 0;
  }

  PyenvException closed() {
    return new PyenvException(PyenvStatus.ESTATE, what + " is closed");
  }
}
