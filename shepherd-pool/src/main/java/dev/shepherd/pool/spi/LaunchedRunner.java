package dev.shepherd.pool.spi;

import java.util.concurrent.CompletableFuture;

/**
 * What a {@link RunnerLauncher} started: a process, a Pod. Part of the remote backend service
 * provider interface.
 */
public interface LaunchedRunner {

  /**
   * Returns a future completed when what was started has ended (a process exited, a Pod failed or
   * was deleted); exceptionally with a cause describing why, if known. {@link
   * dev.shepherd.pool.RemoteBackend RemoteBackend} treats its completion as the runner's death,
   * even if the connection is still open.
   *
   * @return the future of the end
   */
  CompletableFuture<Void> exited();

  /**
   * Tells the launcher that the runner has connected back and proved its secret, so that whatever
   * carried the secret to it (a Kubernetes Secret, a file) can be removed now. Called at most once,
   * before the runner takes calls. The default does nothing.
   */
  default void connected() {}

  /**
   * Describes what was last seen of it, for the message of a boot that timed out (for a Pod, why
   * it is still pending: "0/3 nodes are available: 3 Insufficient memory"). The default has
   * nothing to say.
   *
   * @return a short description, or an empty string
   */
  default String describe() {
    return "";
  }

  /** Ends it at once (destroy the process, delete the Pod). Idempotent; returns without waiting. */
  void kill();
}
