package dev.shepherd.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * A server fixture that is one child process of an installed binary, in its own temporary
 * directory, on free loopback ports: the life cycle {@link RedisServer} and {@link EtcdServer}
 * share. A subclass picks its ports, builds its command line and says when it is ready; this class
 * starts it (three tries, as a free port can be taken between choosing and binding it), stops and
 * restarts it on the same ports, and deletes the directory on close.
 *
 * <p>States: not started (no directory, no process), running (directory and process), stopped
 * (directory kept, no process; {@link #restart()} goes back to running), closed (directory
 * deleted). Every transition holds this object's monitor.
 */
abstract class ProcessServer extends ServerFixture {

  private final String name;
  private final Path binary;
  private final Duration startTimeout;
  private @Nullable Path directory;
  private @Nullable Process process;

  ProcessServer(String name, Path binary, Duration startTimeout) {
    this.name = name;
    this.binary = binary;
    this.startTimeout = startTimeout;
  }

  /** Chooses the free ports of the next start attempt. */
  abstract void choosePorts();

  /**
   * Returns the command line that runs the server on the chosen ports.
   *
   * @param binary the installed server binary
   * @param directory the fixture's temporary directory
   * @return the program and its arguments
   */
  abstract List<String> command(Path binary, Path directory);

  /** Returns where the server listens, for messages. */
  abstract String address();

  /** Returns whether the started server answers; called until true while the process lives. */
  abstract boolean ready();

  /** Cleans up after a failed start attempt, before the next one; the process is stopped. */
  void afterFailedStart() {}

  /**
   * Returns the temporary directory.
   *
   * @throws IllegalStateException if not started
   */
  final synchronized Path home() {
    if (directory == null) {
      throw new IllegalStateException(name + " is not started");
    }
    return directory;
  }

  /** Returns whether the server process is up (started and not stopped). */
  final synchronized boolean processRunning() {
    return process != null;
  }

  /** Stops the server (SIGTERM); connections fail until {@link #restart()}. */
  public synchronized void stop() {
    Process running = process;
    if (running != null) {
      ServerSupport.stop(running, Duration.ofSeconds(10));
      process = null;
    }
  }

  /** Starts the server again on the same ports after {@link #stop()}. */
  public synchronized void restart() {
    stop();
    launch();
  }

  @Override
  protected synchronized void doStart() {
    directory = ServerSupport.tempDirectory("shepherd-" + name + "-", Optional.empty());
    IllegalStateException last = null;
    for (int attempt = 0; attempt < 3; attempt++) {
      choosePorts();
      try {
        launch();
        return;
      } catch (IllegalStateException e) {
        last = e; // most likely a port was taken between choosePorts() and bind: try others
        stop();
        afterFailedStart();
      }
    }
    throw last;
  }

  private void launch() {
    Path dir = home();
    Path log = dir.resolve(name + ".log");
    Process started;
    try {
      started = new ProcessBuilder(command(binary, dir))
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
          .start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + binary, e);
    }
    process = started;
    try {
      ServerSupport.await(name + " on " + address(), startTimeout, () -> !started.isAlive() || ready());
    } catch (IllegalStateException e) {
      throw new IllegalStateException(e.getMessage() + "; log:\n" + ServerSupport.tail(log), e);
    }
    if (!started.isAlive()) {
      process = null;
      throw new IllegalStateException(name + " exited at start on " + address() + "; log:\n" + ServerSupport.tail(log));
    }
  }

  @Override
  protected synchronized void doClose() {
    stop();
    if (directory != null) {
      ServerSupport.deleteRecursively(directory);
    }
  }
}
