package org.libpyenv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The handle counting that keeps close() from freeing what a call is using. */
class NativeHandleTest {
  // Eight threads take and give back the handle as fast as they can while it is closed: it is
  // released exactly once, and never while a thread holds it.
  @Test
  void releasedOnceAndNeverUnderACall() throws Exception {
    for (int round = 0; round < 50; ++round) {
      AtomicInteger inside = new AtomicInteger();
      AtomicInteger releases = new AtomicInteger();
      AtomicInteger releasedUnderACall = new AtomicInteger();
      NativeHandle handle =
          new NativeHandle(
              42,
              address -> {
                releases.incrementAndGet();
                if (inside.get() != 0 || address != 42) releasedUnderACall.incrementAndGet();
              },
              "the test handle");
      CountDownLatch started = new CountDownLatch(8);
      List<Thread> threads = new ArrayList<>();
      for (int t = 0; t < 8; ++t) {
        Thread thread =
            new Thread(
                () -> {
                  started.countDown();
                  for (; ; ) {
                    int ticket;
                    try {
                      ticket = handle.acquire();
                    } catch (PyenvException e) {
                      return;
                    }
                    inside.incrementAndGet();
                    Thread.onSpinWait();
                    inside.decrementAndGet();
                    handle.release(ticket);
                  }
                });
        thread.start();
        threads.add(thread);
      }
      started.await();
      handle.close();
      handle.close();
      for (Thread t : threads) t.join();
      assertEquals(1, releases.get(), "releases in round " + round);
      assertEquals(0, releasedUnderACall.get(), "released while a call held it");
      assertTrue(handle.isClosed());
    }
  }
}
