package org.libpyenv;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

/**
 * Real zips and tars for the tests, with what java.util.zip cannot write: Unix modes, symbolic
 * links and hostile names, as the C++ tests' libzip and libarchive writers do.
 */
final class Archives {
  private Archives() {}

  static final int S_IFREG = 0100000;
  static final int S_IFDIR = 0040000;
  static final int S_IFLNK = 0120000;

  /** One entry: `data` is the file's bytes or the link's target. */
  record Entry(String name, byte[] data, int mode) {}

  static Entry file(String name, byte[] data, int perm) {
    return new Entry(name, data, S_IFREG | perm);
  }

  static Entry dir(String name) {
    return new Entry(name.endsWith("/") ? name : name + "/", new byte[0], S_IFDIR | 0755);
  }

  static Entry link(String name, String target) {
    return new Entry(name, target.getBytes(StandardCharsets.UTF_8), S_IFLNK | 0777);
  }

  /** A zip whose entries carry Unix modes (made by Unix, mode in the external attributes). */
  static void writeZip(Path path, List<Entry> entries) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream central = new ByteArrayOutputStream();
    for (Entry e : entries) {
      byte[] name = e.name().getBytes(StandardCharsets.UTF_8);
      CRC32 crc = new CRC32();
      crc.update(e.data());
      boolean deflate = (e.mode() & 0170000) == S_IFREG && e.data().length > 0;
      byte[] stored = deflate ? deflate(e.data()) : e.data();
      int offset = out.size();
      ByteBuffer local = le(30);
      local.putInt(0x04034b50).putShort((short) 20).putShort((short) 0x0800);
      local.putShort((short) (deflate ? 8 : 0)).putShort((short) 0).putShort((short) 0x5821);
      local.putInt((int) crc.getValue()).putInt(stored.length).putInt(e.data().length);
      local.putShort((short) name.length).putShort((short) 0);
      out.write(local.array());
      out.write(name);
      out.write(stored);
      ByteBuffer header = le(46);
      header.putInt(0x02014b50).putShort((short) 0x0314).putShort((short) 20);
      header.putShort((short) 0x0800).putShort((short) (deflate ? 8 : 0));
      header.putShort((short) 0).putShort((short) 0x5821);
      header.putInt((int) crc.getValue()).putInt(stored.length).putInt(e.data().length);
      header.putShort((short) name.length).putShort((short) 0).putShort((short) 0);
      header.putShort((short) 0).putShort((short) 0).putInt(e.mode() << 16).putInt(offset);
      central.write(header.array());
      central.write(name);
    }
    int centralOffset = out.size();
    out.write(central.toByteArray());
    ByteBuffer end = le(22);
    end.putInt(0x06054b50).putShort((short) 0).putShort((short) 0);
    end.putShort((short) entries.size()).putShort((short) entries.size());
    end.putInt(central.size()).putInt(centralOffset).putShort((short) 0);
    out.write(end.array());
    Files.write(path, out.toByteArray());
  }

  /** A gzip'd ustar archive. */
  static void writeTarGz(Path path, List<Entry> entries) throws IOException {
    try (OutputStream file = Files.newOutputStream(path);
        GZIPOutputStream gz = new GZIPOutputStream(file)) {
      for (Entry e : entries) {
        int type = e.mode() & 0170000;
        boolean regular = type == S_IFREG;
        byte[] header = new byte[512];
        put(header, 0, 100, e.name());
        octal(header, 100, 8, e.mode() & 07777);
        octal(header, 108, 8, 0);
        octal(header, 116, 8, 0);
        octal(header, 124, 12, regular ? e.data().length : 0);
        octal(header, 136, 12, 1700000000L);
        header[156] = (byte) (type == S_IFDIR ? '5' : type == S_IFLNK ? '2' : '0');
        if (type == S_IFLNK) put(header, 157, 100, new String(e.data(), StandardCharsets.UTF_8));
        put(header, 257, 6, "ustar");
        put(header, 263, 2, "00");
        for (int i = 148; i < 156; ++i) header[i] = ' ';
        long sum = 0;
        for (byte b : header) sum += b & 0xff;
        octal(header, 148, 7, sum);
        gz.write(header);
        if (regular) {
          gz.write(e.data());
          gz.write(new byte[(512 - e.data().length % 512) % 512]);
        }
      }
      gz.write(new byte[1024]);
    }
  }

  private static ByteBuffer le(int size) {
    return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
  }

  private static byte[] deflate(byte[] data) {
    Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
    deflater.setInput(data);
    deflater.finish();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buffer = new byte[8192];
    while (!deflater.finished()) out.write(buffer, 0, deflater.deflate(buffer));
    deflater.end();
    return out.toByteArray();
  }

  private static void put(byte[] header, int at, int size, String text) {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    if (bytes.length > size) throw new IllegalArgumentException("too long for tar: " + text);
    System.arraycopy(bytes, 0, header, at, bytes.length);
  }

  private static void octal(byte[] header, int at, int size, long value) {
    String digits = Long.toOctalString(value);
    String padded = "0".repeat(size - 1 - digits.length()) + digits;
    put(header, at, size - 1, padded);
    header[at + size - 1] = 0;
  }
}
