package org.libpyenv;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.LongConsumer;

/**
 * A plugin handle shared by Java threads: each call holds it for its duration, {@link #close()}
 * refuses new calls, and the handle is released exactly once, by whichever thread lets go
 * last, never while a call is using it. No lock is held while the plugin runs, and a call after
 * close() is a clean {@link PyenvException} (ESTATE), never a use after free.
 *
 * <p>Calls in progress are counted in per-thread-hashed cells, each on a cache line of its own,
 * so that threads calling one interpreter at once do not contend on one counter. A call counts
 * itself in, then reads the closed flag; close() sets the flag, then sums the cells. Both are
 * sequentially consistent (volatile and atomic), so either the call sees the flag and backs
 * out, or close() sees the call and leaves the release to its end.
 */
final class NativeHandle {
  private static final int CELLS = 8; // a power of two
  private static final int STRIDE = 16; // longs: 128 bytes, two cache lines apart

  private final long address;
  private final LongConsumer release;
  private final String what;
  private final AtomicLongArray calls = new AtomicLongArray(CELLS * STRIDE);
  private volatile boolean closed;
  private final AtomicBoolean released = new AtomicBoolean();

  NativeHandle(long address, LongConsumer release, String what) {
    this.address = address;
    this.release = release;
    this.what = what;
  }

  /** A ticket for {@link #release(int)}; the address is {@link #address()}. ESTATE once closed. */
  int acquire() {
    int cell = cell();
    calls.getAndIncrement(cell);
    if (closed) {
      release(cell);
      throw closed();
    }
    return cell;
  }

  long address() {
    return address;
  }

  void release(int cell) {
    calls.getAndDecrement(cell);
    if (closed) releaseIfUnused();
  }

  /** Refuses new calls; the handle goes when the last call in progress ends. Idempotent. */
  void close() {
    closed = true;
    releaseIfUnused();
  }

  boolean isClosed() {
    return closed;
  }

  PyenvException closed() {
    return new PyenvException(PyenvStatus.ESTATE, what + " is closed");
  }

  private void releaseIfUnused() {
    for (int i = 0; i < CELLS; ++i) {
      if (calls.get(i * STRIDE) != 0) return;
    }
    if (released.compareAndSet(false, true)) release.accept(address);
  }

  private static int cell() {
    long id = Thread.currentThread().getId();
    return (int) ((id * 0x9E3779B97F4A7C15L) >>> 61) * STRIDE;
  }
}
