package org.libpyenv;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.security.CodeSource;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * The libpyenv plugin this process uses: one per process, loaded on first use.
 *
 * <p>The plugin is {@code libpyenv.so}, loaded with {@code dlopen} by {@code libpyenv_jni.so}
 * (which never links it). Its path is, in this order: the argument of {@link #load(Path)}
 * called before anything else; the system property {@code pyenv.plugin}; or the installed
 * location: the directory of {@code libpyenv_jni.so}, then the jar's directory, then the
 * package's plugin directory relative to the jar ({@code ../../lib/pyenv} from {@code
 * share/java}), so a moved install tree works. The plugin's ABI must be 1.1 or a later 1.x;
 * what a later minor added ({@link PythonInterpreter#callBatch}, 1.2) throws ERROR, naming the
 * version it needs, when the plugin is older.
 *
 * <p>{@code libpyenv_jni.so} is found through {@code java.library.path} ({@code
 * System.loadLibrary("pyenv_jni")}), or else next to the jar or in the package's plugin
 * directory. A JVM loads a JNI library into one class loader only: the jar belongs on the
 * runtime's own class path (Flink's {@code lib/}), not in each job's class loader.
 */
public final class Pyenv {
  /** The system property naming the plugin, {@code -Dpyenv.plugin=/path/to/libpyenv.so}. */
  public static final String PLUGIN_PROPERTY = "pyenv.plugin";

  private static final String JNI_LIBRARY = "libpyenv_jni.so";
  private static final String PLUGIN = "libpyenv.so";

  private static volatile Path loaded; // written under the class lock
  private static boolean jniLoaded; // guarded by the class lock

  private Pyenv() {}

  /**
   * Loads the plugin at {@code plugin}. Call it before any other use of this package to choose
   * the plugin; loading the one already loaded again does nothing.
   *
   * @throws PyenvException ERROR when it cannot be loaded, has another ABI major or lacks a
   *     function; ESTATE when another plugin is already loaded in this process
   */
  public static synchronized void load(Path plugin) {
    Objects.requireNonNull(plugin, "plugin");
    Path path = plugin.toAbsolutePath().normalize();
    if (loaded != null) {
      if (sameFile(loaded, path)) return;
      throw new PyenvException(
          PyenvStatus.ESTATE,
          "plugin " + loaded + " is already loaded; cannot load " + path + " in the same process");
    }
    loadJniLibrary();
    Native.loadPlugin(CStrings.encode(path.toString(), "plugin path"));
    loaded = path;
  }

  /** The loaded plugin's path, loading the default one first if none is. */
  public static Path pluginPath() {
    ensureLoaded();
    return loaded;
  }

  /** The plugin's library version, e.g. "0.1.0". */
  public static String version() {
    ensureLoaded();
    return CStrings.decode(Native.version());
  }

  /** The plugin's ABI version, {@code (MAJOR << 16) | MINOR}. */
  public static int abiVersion() {
    ensureLoaded();
    return Native.abiVersion();
  }

  static void ensureLoaded() {
    if (loaded == null) loadDefault();
  }

  private static synchronized void loadDefault() {
    if (loaded != null) return;
    String property = System.getProperty(PLUGIN_PROPERTY);
    if (property != null && !property.isEmpty()) {
      try {
        load(Path.of(property));
      } catch (InvalidPathException e) {
        throw new PyenvException(
            PyenvStatus.ERROR, "system property " + PLUGIN_PROPERTY + ": " + e.getMessage());
      } catch (PyenvException e) {
        throw new PyenvException(
            e.status(), e.getMessage() + " (system property " + PLUGIN_PROPERTY + ")", e);
      }
      return;
    }
    loadJniLibrary();
    Set<Path> candidates = new LinkedHashSet<>();
    Path jni = Path.of(CStrings.decode(Native.jniLibraryPath())).toAbsolutePath();
    if (jni.getParent() != null) candidates.add(jni.getParent().resolve(PLUGIN));
    for (Path dir : jarDirectories()) candidates.add(dir.resolve(PLUGIN));
    for (Path candidate : candidates) {
      if (Files.isRegularFile(candidate)) {
        load(candidate);
        return;
      }
    }
    throw new PyenvException(
        PyenvStatus.ERROR,
        "cannot find "
            + PLUGIN
            + ": looked in "
            + candidates
            + "; set -D"
            + PLUGIN_PROPERTY
            + "=/path/to/"
            + PLUGIN
            + " or call Pyenv.load()");
  }

  private static void loadJniLibrary() {
    if (jniLoaded) return;
    List<String> tried = new ArrayList<>();
    try {
      System.loadLibrary("pyenv_jni");
      jniLoaded = true;
      return;
    } catch (UnsatisfiedLinkError e) {
      tried.add("java.library.path: " + e.getMessage());
    }
    for (Path dir : jarDirectories()) {
      Path candidate = dir.resolve(JNI_LIBRARY);
      if (!Files.isRegularFile(candidate)) {
        tried.add(candidate + ": no such file");
        continue;
      }
      try {
        System.load(candidate.toString());
        jniLoaded = true;
        return;
      } catch (UnsatisfiedLinkError e) {
        tried.add(candidate + ": " + e.getMessage());
      }
    }
    throw new PyenvException(
        PyenvStatus.ERROR, "cannot load " + JNI_LIBRARY + ": " + String.join("; ", tried));
  }

  // Where the jar is, then the package's plugin directory relative to it.
  private static List<Path> jarDirectories() {
    List<Path> out = new ArrayList<>();
    CodeSource source = Pyenv.class.getProtectionDomain().getCodeSource();
    if (source == null || source.getLocation() == null) return out;
    Path location;
    try {
      location = Path.of(source.getLocation().toURI());
    } catch (URISyntaxException | IllegalArgumentException e) {
      return out;
    }
    Path dir = Files.isDirectory(location) ? location : location.getParent();
    if (dir == null) return out;
    out.add(dir);
    out.add(dir.resolve(BuildInfo.PLUGINDIR_FROM_JARDIR).normalize());
    return out;
  }

  private static boolean sameFile(Path a, Path b) {
    try {
      return a.equals(b) || Files.isSameFile(a, b);
    } catch (java.io.IOException e) {
      return false;
    }
  }
}
