package org.libpyenv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The JSON of invoke(), against the texts Python's json module reads and writes. */
class JsonTest {
  @Test
  void encodesEveryKind() {
    Map<String, Object> map = new LinkedHashMap<>();
    map.put("k\"ey", List.of());
    map.put("n", null);
    assertEquals(
        "[null, true, false, 1, -2, 3, 4, 5, 1.5, 0.1, 1.0E20, NaN, Infinity, -Infinity, "
            + "123456789012345678901234567890, 1.25, \"x\", \"c\", {\"k\\\"ey\": [], \"n\": null}, "
            + "[1, [2]], [3, 4]]",
        Json.encodeArguments(
            new Object[] {
              null, true, false, (byte) 1, (short) -2, 3, 4L,
              new java.util.concurrent.atomic.AtomicLong(5),
              1.5, 0.1f, 1e20, Double.NaN, Double.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
              new BigInteger("123456789012345678901234567890"), new BigDecimal("1.25"),
              new StringBuilder("x"), 'c', map, List.of(1, List.of(2)), new long[] {3, 4}
            }));
    assertEquals("[]", Json.encodeArguments(null));
  }

  @Test
  void escapesWhatJsonRequiresAndLoneSurrogates() {
    // Valid text goes raw (UTF-8 on the way); a lone surrogate has no UTF-8 form, so it is
    // escaped, and Python's json reads the escape back into the same lone surrogate.
    assertEquals(
        "\"q\\\"b\\\\n\\n\\r\\t\\b\\f\\u0001\u00e9\uD83D\uDE00\\ud800x\\udc00\"",
        Json.encode("q\"b\\n\n\r\t\b\f\u0001\u00e9\uD83D\uDE00\uD800x\uDC00"));
  }

  @Test
  void decodesEveryKind() {
    Map<String, Object> map = new LinkedHashMap<>();
    map.put("b", 1L);
    map.put("a", Arrays.asList(null, true, false));
    List<Object> expected =
        new ArrayList<>(
            Arrays.asList(
                map, -0L, 12L, -3.5, 1e-7, Long.MAX_VALUE, new BigInteger("9223372036854775808"),
                "\u00e9\uD83D\uDE00/\"\n", Double.NaN, Double.POSITIVE_INFINITY,
                Double.NEGATIVE_INFINITY));
    Object decoded =
        Json.decode(
            " [ {\"b\": 1, \"a\": [null, true, false]}, -0, 12, -3.5, 1E-7, 9223372036854775807,"
                + " 9223372036854775808, \"\\u00e9\\ud83d\\ude00\\/\\\"\\n\", NaN, Infinity,"
                + " -Infinity ] ");
    assertEquals(expected.toString(), decoded.toString());
    assertEquals(expected.subList(0, 8), ((List<?>) decoded).subList(0, 8));
  }

  @Test
  void refusesWhatIsNotJsonNamingTheOffset() {
    for (String bad :
        new String[] {"", "[1,]", "{\"a\" 1}", "01", "1.", "\"\u0001\"", "[1] 2", "tru", "\"\\x\"",
          "{1: 2}", "-", "\"open"}) {
      PyenvException e = Fixture.expect(PyenvStatus.ERROR, () -> Json.decode(bad));
      assertTrue(e.getMessage().contains("invalid JSON at offset"), e.getMessage());
    }
  }

  @Test
  void refusesJavaValuesWithNoJsonFormNamingWhere() {
    PyenvException type =
        Fixture.expect(
            PyenvStatus.EINVAL,
            () -> Json.encodeArguments(new Object[] {1, List.of(new Object())}));
    assertTrue(type.getMessage().contains("argument 1[0]"), type.getMessage());
    assertTrue(type.getMessage().contains("java.lang.Object"), type.getMessage());
    PyenvException key =
        Fixture.expect(PyenvStatus.EINVAL, () -> Json.encode(Map.of(1, "one")));
    assertTrue(key.getMessage().contains("map key 1"), key.getMessage());
    List<Object> cycle = new ArrayList<>();
    cycle.add(cycle);
    Fixture.expect(PyenvStatus.EINVAL, () -> Json.encode(cycle));
  }
}
