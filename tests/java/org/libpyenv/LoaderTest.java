package org.libpyenv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Loading in a JVM started with neither java.library.path nor pyenv.plugin naming anything:
 * libpyenv_jni.so is found next to the jar and the plugin next to libpyenv_jni.so. Refused
 * plugins (tests/abi's fakes, named by test.* properties) leave nothing loaded, so the tests
 * run in order: refusals first, then the real plugin.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LoaderTest {
  private static Path property(String name) {
    String value = System.getProperty(name);
    assertTrue(value != null && !value.isEmpty(), "the test needs -D" + name);
    return Path.of(value);
  }

  private static PyenvException refused(Path plugin) {
    PyenvException e = Fixture.expect(PyenvStatus.ERROR, () -> Pyenv.load(plugin));
    assertTrue(e.getMessage().contains(plugin.toString()), e.getMessage());
    return e;
  }

  @Test
  @Order(1)
  void aPathThatDoesNotExist() {
    refused(Path.of("/nonexistent/libpyenv.so"));
  }

  @Test
  @Order(2)
  void aLibraryThatIsNotAPlugin() {
    PyenvException e = refused(property("test.fake.notAPlugin"));
    assertTrue(e.getMessage().contains("pyenv_abi_version"), e.getMessage());
    assertTrue(e.getMessage().contains("not a libpyenv plugin"), e.getMessage());
  }

  @Test
  @Order(3)
  void anotherMajorNamingBothVersions() {
    Path plugin = property("test.fake.wrongMajor");
    String message = refused(plugin).getMessage().replace(plugin.toString(), "");
    assertTrue(message.contains("2.0") && message.contains("1.1"), message);
  }

  @Test
  @Order(4)
  void aMissingFunctionNamingIt() {
    PyenvException e = refused(property("test.fake.missingOpen"));
    assertTrue(e.getMessage().contains("pyenv_open"), e.getMessage());
  }

  @Test
  @Order(5)
  void theSystemPropertyIsNamedWhenItsPluginIsRefused() {
    System.setProperty(Pyenv.PLUGIN_PROPERTY, property("test.fake.notAPlugin").toString());
    try {
      PyenvException e =
          Fixture.expect(
              PyenvStatus.ERROR,
              () -> new PythonEnvironmentManager("job", new String[] {"/tmp"}, Map.of(), null));
      assertTrue(e.getMessage().contains("pyenv.plugin"), e.getMessage());
    } finally {
      System.clearProperty(Pyenv.PLUGIN_PROPERTY);
    }
  }

  @Test
  @Order(6)
  void theDefaultPluginIsTheOneBesideTheJniLibrary() throws Exception {
    Path jni = property("test.expected.jni");
    assertEquals(jni.toRealPath(), Path.of(CStrings.decode(Native.jniLibraryPath())).toRealPath(),
        "libpyenv_jni.so was not found next to the jar");
    assertEquals(property("test.expected.plugin").toRealPath(), Pyenv.pluginPath().toRealPath());
    assertEquals(1, Pyenv.abiVersion() >> 16);
  }

  @Test
  @Order(7)
  void oneProcessOnePlugin() {
    Pyenv.load(Pyenv.pluginPath()); // the same again: nothing happens
    Path other = property("test.fake.good");
    PyenvException e = Fixture.expect(PyenvStatus.ESTATE, () -> Pyenv.load(other));
    assertTrue(e.getMessage().contains(other.toString()), e.getMessage());
    assertTrue(e.getMessage().contains(Pyenv.pluginPath().toString()), e.getMessage());
  }
}
