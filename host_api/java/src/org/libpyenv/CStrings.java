package org.libpyenv;

import java.nio.charset.StandardCharsets;

/** Java strings to and from the plugin's NUL-terminated UTF-8. */
final class CStrings {
  private CStrings() {}

  /**
   * {@code text} as UTF-8 with a terminating NUL, or null for null. A NUL inside would cut the
   * C string short, so it is refused, naming {@code what}.
   */
  static byte[] encode(String text, String what) {
    if (text == null) return null;
    if (text.indexOf('\0') >= 0) {
      throw new PyenvException(PyenvStatus.EINVAL, what + " contains a NUL character");
    }
    byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
    byte[] out = new byte[utf8.length + 1];
    System.arraycopy(utf8, 0, out, 0, utf8.length);
    return out;
  }

  static byte[][] encodeAll(String[] texts, String what) {
    if (texts == null) return null;
    byte[][] out = new byte[texts.length][];
    for (int i = 0; i < texts.length; ++i) out[i] = encode(texts[i], what + "[" + i + "]");
    return out;
  }

  static String decode(byte[] utf8) {
    return utf8 == null ? null : new String(utf8, StandardCharsets.UTF_8);
  }
}
