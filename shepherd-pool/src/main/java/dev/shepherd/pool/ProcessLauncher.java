package dev.shepherd.pool;

import dev.shepherd.pool.internal.RemoteProtocol;
import dev.shepherd.pool.spi.LaunchedRunner;
import dev.shepherd.pool.spi.RunnerLauncher;
import dev.shepherd.pool.spi.RunnerSpec;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * Starts runners as child JVMs; see {@link ProcessBackend}.
 *
 * <p>The child's stdin stays an open pipe it never reads; stdout and stderr are pumped, line by
 * line, to this JVM's logger, tagged with the runner id. The child gets {@link
 * RunnerEnvironment#PARENT_PID} so it exits when this process is gone, however it died.
 */
final class ProcessLauncher implements RunnerLauncher {

  private static final System.Logger LOG = System.getLogger(ProcessBackend.class.getName());
  private static final AtomicBoolean ARCHIVE_WARNED = new AtomicBoolean();

  private final Path java;
  private final List<String> jvmOptions;
  private final String classpath;

  ProcessLauncher(Path java, List<String> jvmOptions, String classpath) {
    this.java = java;
    this.jvmOptions = List.copyOf(jvmOptions);
    this.classpath = classpath;
  }

  static List<String> defaultJvmOptions() {
    return defaultJvmOptions(System.getProperty("java.class.path", ""));
  }

  static List<String> defaultJvmOptions(String classpath) {
    return defaultJvmOptions(
        classpath,
        Path.of(System.getProperty("java.io.tmpdir")),
        System.getProperty("user.name", ""),
        currentUser());
  }

  /**
   * The default options for children on a classpath. A dynamic class-data sharing archive can only
   * be made for a classpath of jar files; with a directory on it (as in a build's test run), the
   * JVM would try, fail and spend a second at every exit, so then only the JDK's own archive is
   * used.
   *
   * <p>A child JVM maps that archive's class data without verifying it again, so whoever can write
   * the file can run code in every child. It therefore lives in a directory of this user's own
   * under {@code tmpDirectory} (often a shared {@code /tmp}): created owner-only, and used only
   * when it is a real directory (not a link), owned by {@code owner}, and writable by nobody
   * else. Otherwise (another user made it first, or loosened it) children start without the
   * archive, which costs boot time and nothing else, and the reason is logged once.
   */
  static List<String> defaultJvmOptions(
      String classpath, Path tmpDirectory, String userName, @Nullable UserPrincipal owner) {
    List<String> options = new ArrayList<>();
    options.add("-XX:TieredStopAtLevel=1");
    options.add("-XX:+UseSerialGC");
    options.add("-XX:-UsePerfData");
    options.add("-Xshare:auto");
    if (Runtime.version().feature() >= 19 && onlyJars(classpath)) {
      Path directory = archiveDirectory(tmpDirectory, userName, owner);
      if (directory != null) {
        String key = System.getProperty("java.vm.version", "") + "|" + classpath;
        String hash = HexFormat.of().toHexDigits(key.hashCode());
        options.add("-XX:+AutoCreateSharedArchive");
        options.add("-XX:SharedArchiveFile=" + directory.resolve("pool-" + hash + ".jsa"));
        options.add("-Xlog:cds=off");
        options.add("-Xlog:cds+dynamic=off");
      }
    }
    return List.copyOf(options);
  }

  /**
   * This user's private directory for class-data sharing archives under {@code tmpDirectory},
   * created if missing; null (with one log line) if it cannot be trusted or made.
   */
  static @Nullable Path archiveDirectory(
      Path tmpDirectory, String userName, @Nullable UserPrincipal owner) {
    Path directory =
        tmpDirectory.resolve("shepherd-pool-cds-" + userName.replaceAll("[^A-Za-z0-9._-]", "_"));
    if (!tmpDirectory.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      return tmpDirectory; // no POSIX permissions (Windows): java.io.tmpdir is per user there
    }
    try {
      try {
        Files.createDirectory(
            directory,
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
      } catch (FileAlreadyExistsException e) {
        // checked below like one we made
      }
      PosixFileAttributes attributes =
          Files.readAttributes(directory, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      String problem =
          !attributes.isDirectory()
              ? "is not a directory (a link or a file)"
              : owner == null || !owner.equals(attributes.owner())
                  ? "is owned by " + attributes.owner().getName() + ", not by "
                      + (owner == null ? "this user (unknown)" : owner.getName())
                  : attributes.permissions().contains(PosixFilePermission.GROUP_WRITE)
                          || attributes.permissions().contains(PosixFilePermission.OTHERS_WRITE)
                      ? "is writable by others ("
                          + PosixFilePermissions.toString(attributes.permissions()) + ")"
                      : null;
      if (problem == null) {
        return directory;
      }
      warnOnce(directory + " " + problem);
    } catch (IOException | UnsupportedOperationException e) {
      warnOnce(directory + " cannot be used: " + e);
    }
    return null;
  }

  private static void warnOnce(String problem) {
    if (ARCHIVE_WARNED.compareAndSet(false, true)) {
      LOG.log(
          System.Logger.Level.WARNING,
          "child JVMs start without a class-data sharing archive of their classes (slower boots):"
              + " the archive directory "
              + problem);
    }
  }

  private static @Nullable UserPrincipal currentUser() {
    try {
      return FileSystems.getDefault()
          .getUserPrincipalLookupService()
          .lookupPrincipalByName(System.getProperty("user.name", ""));
    } catch (IOException | UnsupportedOperationException e) {
      return null;
    }
  }

  private static boolean onlyJars(String classpath) {
    if (classpath.isEmpty()) {
      return false;
    }
    for (String entry : classpath.split(File.pathSeparator, -1)) {
      if (!entry.endsWith(".jar") || !Files.isRegularFile(Path.of(entry))) {
        return false;
      }
      if (entry.contains("surefire")) {
        return false; // a manifest-only jar pointing at directories
      }
    }
    return true;
  }

  @Override
  public LaunchedRunner launch(RunnerSpec spec, Map<String, String> environment)
      throws IOException {
    List<String> command = new ArrayList<>();
    command.add(java.toString());
    command.addAll(jvmOptions);
    command.add("-cp");
    command.add(classpath);
    command.add(RunnerMain.class.getName());
    ProcessBuilder builder = new ProcessBuilder(command);
    builder.environment().putAll(environment);
    builder.environment().put(
        RunnerEnvironment.PARENT_PID, Long.toString(ProcessHandle.current().pid()));
    builder.redirectInput(ProcessBuilder.Redirect.PIPE);
    Process process = builder.start();
    String id = spec.runnerId();
    pump(process.getInputStream(), id, "stdout", System.Logger.Level.INFO);
    pump(process.getErrorStream(), id, "stderr", System.Logger.Level.INFO);
    return new ChildProcess(id, process);
  }

  /** The most of one line of a child's output that is kept; the rest of the line is counted. */
  static final int MAX_LINE_BYTES = 8192;

  private static void pump(InputStream stream, String id, String name, System.Logger.Level level) {
    Thread.ofVirtual()
        .name("shepherd-pool-" + id + "-" + name)
        .start(
            () -> {
              try (InputStream in = stream) {
                forEachLine(
                    in, MAX_LINE_BYTES,
                    line -> LOG.log(level, "[" + id + "] " + RemoteProtocol.printable(line, MAX_LINE_BYTES + 64)));
              } catch (IOException e) {
                // the child is gone
              }
            });
  }

  /**
   * Splits a child's output into lines, keeping at most {@code maxBytes} of each: a child that
   * writes gigabytes without a newline must not run the parent out of memory, and its pump must
   * keep draining the pipe (a pump that died would leave the child blocked on a full pipe). A cut
   * line ends with how many bytes were left out.
   */
  static void forEachLine(InputStream in, int maxBytes, Consumer<String> sink) throws IOException {
    byte[] chunk = new byte[8192];
    byte[] line = new byte[maxBytes];
    int kept = 0;
    long dropped = 0;
    boolean pending = false;
    for (int n = in.read(chunk); n >= 0; n = in.read(chunk)) {
      for (int i = 0; i < n; i++) {
        byte b = chunk[i];
        if (b == '\n') {
          sink.accept(line(line, kept, dropped));
          kept = 0;
          dropped = 0;
          pending = false;
        } else {
          pending = true;
          if (kept < maxBytes) {
            line[kept++] = b;
          } else {
            dropped++;
          }
        }
      }
    }
    if (pending) {
      sink.accept(line(line, kept, dropped));
    }
  }

  private static String line(byte[] bytes, int length, long dropped) {
    int end = length > 0 && bytes[length - 1] == '\r' && dropped == 0 ? length - 1 : length;
    String text = new String(bytes, 0, end, StandardCharsets.UTF_8);
    return dropped == 0 ? text : text + "...(" + dropped + " more bytes left out)";
  }


  @Override
  public String toString() {
    return "ProcessLauncher[" + java + "]";
  }

  /** A child JVM. */
  static final class ChildProcess implements LaunchedRunner {
    private final String id;
    private final Process process;
    private final CompletableFuture<Void> exited;

    ChildProcess(String id, Process process) {
      this.id = id;
      this.process = process;
      this.exited =
          process
              .onExit()
              .thenApply(
                  p -> {
                    int status = p.exitValue();
                    if (status != 0) {
                      throw new IllegalStateException(
                          "runner " + id + " (pid " + p.pid() + ") exited with status " + status);
                    }
                    return null;
                  });
    }

    @Override
    public CompletableFuture<Void> exited() {
      return exited;
    }

    @Override
    public void kill() {
      process.destroyForcibly();
    }

    long pid() {
      return process.pid();
    }

    @Override
    public String toString() {
      return "ChildProcess[" + id + ", pid " + process.pid() + "]";
    }
  }
}
