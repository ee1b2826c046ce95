package org.libpyenv;

import java.lang.reflect.Array;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * JSON as Python's json module reads and writes it, for {@link PythonInterpreter#invoke}:
 * RFC 8259 plus NaN, Infinity and -Infinity, which json.dumps writes for floats that have no
 * JSON number.
 *
 * <p>Java to JSON: null, Boolean, integral Numbers (Byte, Short, Integer, Long, AtomicInteger,
 * AtomicLong, BigInteger), Float, Double, BigDecimal, CharSequence, Character, Map with String
 * keys, Iterable and arrays. JSON to Java: null, Boolean, Long (BigInteger beyond long),
 * Double, String, List (ArrayList) and Map (LinkedHashMap, in document order).
 */
final class Json {
  private static final int MAX_DEPTH = 1000; // Python's default recursion limit

  private Json() {}

  /** The arguments of a call as a JSON array; a null array is no arguments. */
  static String encodeArguments(Object[] args) {
    StringBuilder out = new StringBuilder();
    out.append('[');
    if (args != null) {
      for (int i = 0; i < args.length; ++i) {
        if (i > 0) out.append(", ");
        write(args[i], out, "argument " + i, 1);
      }
    }
    return out.append(']').toString();
  }

  static String encode(Object value) {
    StringBuilder out = new StringBuilder();
    write(value, out, "value", 0);
    return out.toString();
  }

  private static void write(Object value, StringBuilder out, String where, int depth) {
    if (depth > MAX_DEPTH) {
      throw new PyenvException(
          PyenvStatus.EINVAL, where + ": nested deeper than " + MAX_DEPTH + " (a cycle?)");
    }
    if (value == null) {
      out.append("null");
    } else if (value instanceof Boolean) {
      out.append(((Boolean) value) ? "true" : "false");
    } else if (value instanceof Long
        || value instanceof Integer
        || value instanceof Short
        || value instanceof Byte
        || value instanceof AtomicLong
        || value instanceof AtomicInteger) {
      out.append(((Number) value).longValue());
    } else if (value instanceof BigInteger || value instanceof BigDecimal) {
      out.append(value);
    } else if (value instanceof Double) {
      writeDouble((Double) value, Double.toString((Double) value), out);
    } else if (value instanceof Float) {
      // The float's shortest text, not the double it widens to (0.1f, not 0.10000000149...).
      writeDouble(((Float) value).doubleValue(), Float.toString((Float) value), out);
    } else if (value instanceof CharSequence || value instanceof Character) {
      writeString(value.toString(), out);
    } else if (value instanceof Map) {
      out.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : ((Map<?, ?>) value).entrySet()) {
        if (!(e.getKey() instanceof String)) {
          throw new PyenvException(
              PyenvStatus.EINVAL,
              where
                  + ": map key "
                  + e.getKey()
                  + " is "
                  + (e.getKey() == null ? "null" : "a " + e.getKey().getClass().getName())
                  + "; JSON object keys are strings");
        }
        if (!first) out.append(", ");
        first = false;
        writeString((String) e.getKey(), out);
        out.append(": ");
        write(e.getValue(), out, where + "[\"" + e.getKey() + "\"]", depth + 1);
      }
      out.append('}');
    } else if (value instanceof Iterable) {
      out.append('[');
      int i = 0;
      for (Object item : (Iterable<?>) value) {
        if (i > 0) out.append(", ");
        write(item, out, where + "[" + i + "]", depth + 1);
        ++i;
      }
      out.append(']');
    } else if (value.getClass().isArray()) {
      out.append('[');
      int length = Array.getLength(value);
      for (int i = 0; i < length; ++i) {
        if (i > 0) out.append(", ");
        write(Array.get(value, i), out, where + "[" + i + "]", depth + 1);
      }
      out.append(']');
    } else {
      throw new PyenvException(
          PyenvStatus.EINVAL,
          where + ": a " + value.getClass().getName() + " has no JSON form");
    }
  }

  private static void writeDouble(double value, String text, StringBuilder out) {
    if (Double.isNaN(value)) {
      out.append("NaN");
    } else if (Double.isInfinite(value)) {
      out.append(value > 0 ? "Infinity" : "-Infinity");
    } else {
      out.append(text);
    }
  }

  private static void writeString(String text, StringBuilder out) {
    out.append('"');
    for (int i = 0; i < text.length(); ++i) {
      char c = text.charAt(i);
      switch (c) {
        case '"':
          out.append("\\\"");
          break;
        case '\\':
          out.append("\\\\");
          break;
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        case '\b':
          out.append("\\b");
          break;
        case '\f':
          out.append("\\f");
          break;
        default:
          if (c < 0x20 || isLoneSurrogate(text, i)) {
            // A lone surrogate has no UTF-8 form; Python's json reads the escape back into one.
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
      }
    }
    out.append('"');
  }

  private static boolean isLoneSurrogate(String text, int i) {
    char c = text.charAt(i);
    if (Character.isHighSurrogate(c)) {
      return i + 1 >= text.length() || !Character.isLowSurrogate(text.charAt(i + 1));
    }
    if (Character.isLowSurrogate(c)) {
      return i == 0 || !Character.isHighSurrogate(text.charAt(i - 1));
    }
    return false;
  }

  /** The value of a JSON text; ERROR naming the offset when it is not JSON. */
  static Object decode(String text) {
    Parser parser = new Parser(text);
    parser.skipSpace();
    Object value = parser.value(0);
    parser.skipSpace();
    if (parser.at < text.length()) throw parser.error("end of text");
    return value;
  }

  private static final class Parser {
    final String text;
    int at;

    Parser(String text) {
      this.text = text;
    }

    PyenvException error(String expected) {
      String found =
          at < text.length() ? "'" + text.charAt(at) + "'" : "the end of the text";
      return new PyenvException(
          PyenvStatus.ERROR,
          "invalid JSON at offset " + at + ": expected " + expected + ", found " + found);
    }

    void skipSpace() {
      while (at < text.length()) {
        char c = text.charAt(at);
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
        ++at;
      }
    }

    boolean literal(String word) {
      if (!text.startsWith(word, at)) return false;
      at += word.length();
      return true;
    }

    Object value(int depth) {
      if (depth > MAX_DEPTH) throw error("at most " + MAX_DEPTH + " levels of nesting");
      if (at >= text.length()) throw error("a value");
      char c = text.charAt(at);
      switch (c) {
        case '{':
          return object(depth);
        case '[':
          return array(depth);
        case '"':
          return string();
        case 't':
          if (literal("true")) return Boolean.TRUE;
          break;
        case 'f':
          if (literal("false")) return Boolean.FALSE;
          break;
        case 'n':
          if (literal("null")) return null;
          break;
        case 'N':
          if (literal("NaN")) return Double.NaN;
          break;
        case 'I':
          if (literal("Infinity")) return Double.POSITIVE_INFINITY;
          break;
        default:
          if (c == '-' && literal("-Infinity")) return Double.NEGATIVE_INFINITY;
          if (c == '-' || (c >= '0' && c <= '9')) return number();
      }
      throw error("a value");
    }

    Map<String, Object> object(int depth) {
      ++at; // {
      Map<String, Object> map = new LinkedHashMap<>();
      skipSpace();
      if (at < text.length() && text.charAt(at) == '}') {
        ++at;
        return map;
      }
      for (;;) {
        skipSpace();
        if (at >= text.length() || text.charAt(at) != '"') throw error("a string key");
        String key = string();
        skipSpace();
        if (at >= text.length() || text.charAt(at) != ':') throw error("':'");
        ++at;
        skipSpace();
        map.put(key, value(depth + 1));
        skipSpace();
        if (at < text.length() && text.charAt(at) == ',') {
          ++at;
        } else if (at < text.length() && text.charAt(at) == '}') {
          ++at;
          return map;
        } else {
          throw error("',' or '}'");
        }
      }
    }

    List<Object> array(int depth) {
      ++at; // [
      List<Object> list = new ArrayList<>();
      skipSpace();
      if (at < text.length() && text.charAt(at) == ']') {
        ++at;
        return list;
      }
      for (;;) {
        skipSpace();
        list.add(value(depth + 1));
        skipSpace();
        if (at < text.length() && text.charAt(at) == ',') {
          ++at;
        } else if (at < text.length() && text.charAt(at) == ']') {
          ++at;
          return list;
        } else {
          throw error("',' or ']'");
        }
      }
    }

    String string() {
      ++at; // "
      StringBuilder out = new StringBuilder();
      for (;;) {
        if (at >= text.length()) throw error("'\"'");
        char c = text.charAt(at++);
        if (c == '"') return out.toString();
        if (c < 0x20) {
          --at;
          throw error("an escaped control character");
        }
        if (c != '\\') {
          out.append(c);
          continue;
        }
        if (at >= text.length()) throw error("an escape");
        char e = text.charAt(at++);
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out.append(e);
            break;
          case 'b':
            out.append('\b');
            break;
          case 'f':
            out.append('\f');
            break;
          case 'n':
            out.append('\n');
            break;
          case 'r':
            out.append('\r');
            break;
          case 't':
            out.append('\t');
            break;
          case 'u':
            out.append(hex4());
            break;
          default:
            --at;
            throw error("an escape");
        }
      }
    }

    char hex4() {
      if (at + 4 > text.length()) throw error("four hex digits");
      int value = 0;
      for (int i = 0; i < 4; ++i) {
        int digit = Character.digit(text.charAt(at), 16);
        if (digit < 0) throw error("a hex digit");
        value = value * 16 + digit;
        ++at;
      }
      return (char) value;
    }

    Object number() {
      int start = at;
      if (text.charAt(at) == '-') ++at;
      if (at < text.length() && text.charAt(at) == '0') {
        ++at;
      } else if (!digits()) {
        throw error("a digit");
      }
      boolean integral = true;
      if (at < text.length() && text.charAt(at) == '.') {
        integral = false;
        ++at;
        if (!digits()) throw error("a digit");
      }
      if (at < text.length() && (text.charAt(at) == 'e' || text.charAt(at) == 'E')) {
        integral = false;
        ++at;
        if (at < text.length() && (text.charAt(at) == '+' || text.charAt(at) == '-')) ++at;
        if (!digits()) throw error("a digit");
      }
      String number = text.substring(start, at);
      if (!integral) return Double.parseDouble(number);
      if (number.length() <= 18) return Long.parseLong(number);
      BigInteger big = new BigInteger(number);
      return big.bitLength() < 64 ? (Object) big.longValue() : big;
    }

    boolean digits() {
      int start = at;
      while (at < text.length() && text.charAt(at) >= '0' && text.charAt(at) <= '9') ++at;
      return at > start;
    }
  }
}
