package dev.shepherd.pool;

import dev.shepherd.pool.spi.RunnerLauncher;
import java.util.Map;

/**
 * The environment variables through which a parent tells a remote runner where to connect back and
 * how to prove who it is. Any backend that starts {@link RunnerMain} some other way (a Kubernetes
 * Pod, a container) sets exactly these, as given by {@link RunnerLauncher#launch}.
 *
 * <p>A JVM that has {@link #PARENT} in its environment is a runner: an {@link ElasticPool} built
 * there forces {@code min} to 0, so a runner never boots runners of its own unless a call asks.
 */
public final class RunnerEnvironment {

  /**
   * Where the parent's server listens: {@code host:port}, or {@code unix:} and the path of a Unix
   * domain socket (a {@link ProcessBackend}'s default).
   */
  public static final String PARENT = "SHEPHERD_POOL_PARENT";

  /** The runner's id; the runner presents it when it connects. */
  public static final String RUNNER_ID = "SHEPHERD_POOL_RUNNER_ID";

  /**
   * A random per-runner secret (Base64url, 256 bits). Neither side ever sends it: the runner proves
   * it with an HMAC-SHA256 over both sides' random nonces, and both derive the session keys of the
   * sealed channel from it. A Kubernetes runner gets it from a {@code Secret}, never from a value
   * in its Pod spec.
   */
  public static final String SECRET = "SHEPHERD_POOL_SECRET";

  /** The binary name of the runner's {@link FunctionRegistryFactory} class. */
  public static final String FUNCTIONS = "SHEPHERD_POOL_FUNCTIONS";

  /**
   * Optional: the parent's process id. A runner started as a child process also exits when this
   * process is gone (the process backend sets it; a Pod has no such parent).
   */
  public static final String PARENT_PID = "SHEPHERD_POOL_PARENT_PID";

  private RunnerEnvironment() {}

  /**
   * Returns whether this JVM runs as a remote runner of some pool.
   *
   * @return true if {@link #PARENT} is set in the environment
   */
  public static boolean isRunner() {
    return isRunner(System.getenv());
  }

  static boolean isRunner(Map<String, String> environment) {
    String parent = environment.get(PARENT);
    return parent != null && !parent.isEmpty();
  }
}
