package dev.shepherd.testing;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.jspecify.annotations.Nullable;

/**
 * The lifecycle shared by the real-server fixtures: started once before a test class's tests and
 * closed after them, also when a test fails; usable without JUnit through {@link #start()} and
 * {@link #close()} (the reference service and the benchmarks do that).
 *
 * <p>A JVM shutdown hook closes a server that is still running when the JVM exits normally, so an
 * aborted test run leaves no server behind. Thread-safe: start and close are synchronized.
 */
public abstract class ServerFixture implements BeforeAllCallback, AfterAllCallback, AutoCloseable {

  private @Nullable Thread shutdownHook;
  private boolean running;

  /** Subclasses only. */
  protected ServerFixture() {}

  /**
   * Starts the server(s) and waits until they accept connections; does nothing if running.
   *
   * @throws IllegalStateException if a binary is missing (the message says what to install) or a
   *     server does not come up (the message has the end of its log)
   */
  public final synchronized void start() {
    if (running) {
      return;
    }
    try {
      doStart();
    } catch (RuntimeException | Error e) {
      try {
        doClose();
      } catch (RuntimeException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    Thread hook = new Thread(this::closeQuietly, getClass().getSimpleName() + "-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    shutdownHook = hook;
    running = true;
  }

  /** Stops every process this fixture started and deletes its temporary directory. */
  @Override
  public final synchronized void close() {
    if (!running) {
      return;
    }
    running = false;
    try {
      if (shutdownHook != null) {
        Runtime.getRuntime().removeShutdownHook(shutdownHook);
        shutdownHook = null;
      }
    } catch (IllegalStateException shuttingDown) {
      // we are the shutdown hook, or the JVM is exiting: nothing to remove
    }
    doClose();
  }

  /**
   * Returns whether {@link #start()} has completed and {@link #close()} has not been called.
   *
   * @return true while started
   */
  public final synchronized boolean isRunning() {
    return running;
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    start();
  }

  @Override
  public void afterAll(ExtensionContext context) {
    close();
  }

  /** Starts the servers; on failure {@link #doClose()} is called to clean up what did start. */
  protected abstract void doStart();

  /** Stops the servers and deletes the temporary directory; must tolerate a partial start. */
  protected abstract void doClose();

  private void closeQuietly() {
    synchronized (this) {
      if (!running) {
        return;
      }
      running = false;
    }
    try {
      doClose();
    } catch (RuntimeException ignored) {
      // best effort at JVM exit
    }
  }
}
