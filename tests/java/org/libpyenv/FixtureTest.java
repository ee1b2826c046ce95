package org.libpyenv;

import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** A test class whose every test gets a fresh CONFORMANCE.md fixture in T. */
abstract class FixtureTest {
  protected Fixture fixture;
  protected Path T;

  @BeforeEach
  void createFixture() {
    fixture = new Fixture();
    T = fixture.T;
  }

  @AfterEach
  void removeFixture() {
    fixture.close();
  }
}
