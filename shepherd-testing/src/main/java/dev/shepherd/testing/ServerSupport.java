package dev.shepherd.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/** What the server launchers share: ports, binaries, child processes, temporary directories. */
final class ServerSupport {

  static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

  private ServerSupport() {}

  /** Returns a port that was free on 127.0.0.1 a moment ago. */
  static int freePort() {
    try (ServerSocket socket = new ServerSocket(0, 1, LOOPBACK)) {
      socket.setReuseAddress(true);
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("no free port on 127.0.0.1", e);
    }
  }

  /** Returns whether something accepts connections on 127.0.0.1:port. */
  static boolean isListening(int port) {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(LOOPBACK, port), 200);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** Returns whether 127.0.0.1:port can be bound now. */
  static boolean isPortFree(int port) {
    try (ServerSocket socket = new ServerSocket()) {
      socket.setReuseAddress(true);
      socket.bind(new InetSocketAddress(LOOPBACK, port));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** Finds an executable in the given directories, then on PATH; fails with the install command. */
  static Path binary(String name, String debianPackage, String... directories) {
    List<Path> candidates = new ArrayList<>();
    for (String directory : directories) {
      candidates.add(Path.of(directory, name));
    }
    String path = System.getenv("PATH");
    if (path != null) {
      for (String directory : path.split(":", -1)) {
        if (!directory.isEmpty()) {
          candidates.add(Path.of(directory, name));
        }
      }
    }
    for (Path candidate : candidates) {
      if (Files.isExecutable(candidate)) {
        return candidate;
      }
    }
    throw new IllegalStateException(missing(name, debianPackage));
  }

  static String missing(String what, String debianPackage) {
    return what + " is not installed; install it with `sudo apt-get update && sudo apt-get install -y "
        + debianPackage + "` (./shepherd test installs it by itself when run as root)";
  }

  /** Returns whether this JVM runs as root (PostgreSQL refuses to run as root). */
  static boolean isRoot() {
    try {
      return ((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")) == 0;
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return "root".equals(System.getProperty("user.name"));
    }
  }

  /** Makes a temporary directory owned by {@code owner} (when running as root) or by us. */
  static Path tempDirectory(String prefix, Optional<String> owner) {
    try {
      Path directory = Files.createTempDirectory(prefix);
      if (owner.isPresent()) {
        chown(directory, owner.get());
      }
      return directory;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a temporary directory " + prefix + "*", e);
    }
  }

  static void chown(Path path, String owner) throws IOException {
    UserPrincipal user = path.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(owner);
    Files.setOwner(path, user);
  }

  /** Deletes a directory tree; missing is fine. */
  static void deleteRecursively(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try {
      Files.walkFileTree(root, new SimpleFileVisitor<>() {
        @Override
        public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
          Files.deleteIfExists(file);
          return FileVisitResult.CONTINUE;
        }

        @Override
        public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
          Files.deleteIfExists(dir);
          return FileVisitResult.CONTINUE;
        }
      });
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + root, e);
    }
  }

  /** Runs a command to completion; fails with its output when it exits non-zero or times out. */
  static String run(List<String> command, Duration timeout) {
    Path output = null;
    try {
      output = Files.createTempFile("shepherd-cmd-", ".log");
      Process process = new ProcessBuilder(command)
          .redirectErrorStream(true)
          .redirectOutput(output.toFile())
          .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
          .start();
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
        throw new IllegalStateException("`" + String.join(" ", command) + "` did not finish within "
            + timeout + "; output:\n" + tail(output));
      }
      String text = Files.readString(output, StandardCharsets.UTF_8);
      if (process.exitValue() != 0) {
        throw new IllegalStateException("`" + String.join(" ", command) + "` exited with "
            + process.exitValue() + "; output:\n" + tail(output));
      }
      return text;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot run `" + String.join(" ", command) + "`", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while running `" + String.join(" ", command) + "`", e);
    } finally {
      if (output != null) {
        try {
          Files.deleteIfExists(output);
        } catch (IOException ignored) {
          // a leftover log in /tmp is harmless
        }
      }
    }
  }

  /** Returns the last 40 lines of a log file, or a note that it cannot be read. */
  static String tail(Path log) {
    try (Stream<String> lines = Files.lines(log, StandardCharsets.UTF_8)) {
      List<String> all = lines.toList();
      return String.join("\n", all.subList(Math.max(0, all.size() - 40), all.size()));
    } catch (IOException | UncheckedIOException e) {
      return "(no log at " + log + ")";
    }
  }

  /** Polls a condition every 20 ms until it holds; fails with {@code what} after {@code timeout}. */
  static void await(String what, Duration timeout, BooleanSupplier condition) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException("timed out after " + timeout + " waiting for " + what);
      }
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for " + what, e);
      }
    }
  }

  /** Stops a child process: SIGTERM, then SIGKILL after {@code grace}; waits until it is gone. */
  static void stop(Process process, Duration grace) {
    if (!process.isAlive()) {
      return;
    }
    process.destroy();
    try {
      if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }
}
