package org.libpyenv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A plugin of ABI 1.1, older than this binding: tests/java/fake/threaded_plugin.c built with
 * FAKE_ABI_MINOR=1 (-Dpyenv.plugin names it), which has no pyenv_interpreter_call_batch. The
 * binding accepts it, what 1.1 has works, and what 1.2 added throws, naming the version it
 * needs, rather than calling a function that is not there.
 */
class OlderPluginTest {
  @Test
  void callBatchOnAPluginOfAbi11ThrowsNamingTheVersionItNeeds() {
    assertEquals((1 << 16) | 1, Pyenv.abiVersion());
    try (PythonEnvironmentManager manager =
        new PythonEnvironmentManager(
            Fixture.newJobId(), new String[] {"/nonexistent"}, Map.of(), null)) {
      manager.setLogger(new RecordingLogger()); // the fake's open logs from threads of its own
      manager.open();
      try (EmbeddedPythonEnvironment env = manager.createEnvironment();
          PythonInterpreter python = env.getInterpreter()) {
        assertArrayEquals("abc".getBytes(), python.callBytes("echo", "abc".getBytes()));
        PyenvException e =
            Fixture.expect(
                PyenvStatus.ERROR, () -> python.callBatch("echo", new byte[][] {"abc".getBytes()}));
        String message = e.getMessage();
        assertTrue(message.contains("pyenv_interpreter_call_batch"), message);
        assertTrue(message.contains("ABI 1.2") && message.contains("has 1.1"), message);
        assertTrue(message.contains(Pyenv.pluginPath().toString()), message);
        assertArrayEquals(
            "still".getBytes(), python.callBytes("echo", "still".getBytes()), "the handle works on");
      }
    }
  }
}
