package dev.shepherd.pool.spi;

import java.util.Map;

/**
 * Starts something that runs {@link dev.shepherd.pool.RunnerMain RunnerMain} with a given
 * environment: the one part of a remote backend that differs between a child process, a Kubernetes
 * Pod or a container. Everything else (the server the runner connects back to, the secret
 * handshake, calls, cancellation, death detection, idle exit) is shared by {@link
 * dev.shepherd.pool.RemoteBackend RemoteBackend}.
 *
 * <p>Implementations must be thread-safe: runners are launched concurrently.
 */
public interface RunnerLauncher extends AutoCloseable {

  /**
   * Starts a runner and returns without waiting for it to connect.
   *
   * @param spec the runner's id and limits (tag resources with {@link RunnerSpec#runnerId()})
   * @param environment the variables of {@link dev.shepherd.pool.RunnerEnvironment
   *     RunnerEnvironment} to set, verbatim, in the runner's environment (keep the secret out of
   *     logs)
   * @return a handle to what was started
   * @throws Exception if it could not be started
   */
  LaunchedRunner launch(RunnerSpec spec, Map<String, String> environment) throws Exception;

  /** Releases what the launcher holds. The default does nothing. */
  @Override
  default void close() {}
}
