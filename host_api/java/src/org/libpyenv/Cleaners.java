package org.libpyenv;

import java.lang.ref.Cleaner;

/** Releases what a handle owner forgot to close once the owner is unreachable. */
final class Cleaners {
  private Cleaners() {}

  static final Cleaner CLEANER = Cleaner.create();
}
