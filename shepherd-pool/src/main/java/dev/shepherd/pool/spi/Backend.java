package dev.shepherd.pool.spi;

import java.util.SortedSet;
import org.jspecify.annotations.Nullable;

/**
 * The service provider interface through which an {@link dev.shepherd.pool.ElasticPool ElasticPool}
 * boots runners and sends calls to them: a backend knows how to make a runner (a set of virtual
 * threads, a child JVM, a Kubernetes Pod) and how to talk to it; the pool decides when to boot,
 * where each call goes, when a runner retires and what callers see.
 *
 * <p>The contract, in the order the pool uses it:
 *
 * <ol>
 *   <li>{@link #functionNames()} names the functions runners can run; the pool rejects an unknown
 *       name before it takes a slot.
 *   <li>{@link #prepare(String, Object)} is called on the caller's thread before checkout; it turns
 *       the argument into what the runner accepts (encoded bytes for a remote backend) and throws
 *       {@link IllegalArgumentException} for an argument it cannot carry, so nothing is sent.
 *   <li>{@link #boot(RunnerSpec, RunnerListener)} blocks a pool-owned thread until the runner is
 *       ready (or throws); the pool bounds it with {@link RunnerSpec#bootTimeout()} and the backend
 *       must also give up (and kill what it started) by then.
 *   <li>{@link RunnerHandle#start} runs one call; the pool counts it against the runner's slots
 *       until its {@link RunningCall#result()} completes.
 *   <li>When the runner dies (crash, kill, lost connection, failed Pod), the backend calls
 *       {@link RunnerListener#runnerDied(Throwable)} exactly once; the pool then fails every call
 *       still on it with {@link dev.shepherd.pool.RunnerDiedException RunnerDiedException}.
 *   <li>{@link RunnerHandle#shutdown(java.time.Duration)} retires a runner gracefully;
 *       {@link RunnerHandle#kill()} ends it at once.
 *   <li>{@link #close()} is called once, after every runner of the pool is gone.
 * </ol>
 *
 * <p>Implementations must be thread-safe: the pool calls {@code boot} from several threads at once
 * and {@code start} from every caller's thread. A backend may serve one pool only.
 */
public interface Backend extends AutoCloseable {

  /**
   * Returns the names of the functions this backend's runners can run.
   *
   * @return the registered names, sorted, as seen in this (the parent) JVM
   */
  SortedSet<String> functionNames();

  /**
   * Turns a call's argument into the form the runners accept, on the caller's thread, before
   * anything is sent or any slot is taken.
   *
   * @param function the registered name of the function
   * @param argument the argument, possibly null
   * @return the prepared argument (the argument itself for in-process backends)
   * @throws IllegalArgumentException if the argument cannot be carried to a runner; the message
   *     says which part and why
   */
  @Nullable Object prepare(String function, @Nullable Object argument);

  /**
   * Boots one runner and blocks until it is ready to take calls.
   *
   * @param spec the runner's id and limits
   * @param listener where the backend reports the runner's death, once
   * @return the ready runner
   * @throws InterruptedException if the pool gives up on the boot (for example on close)
   * @throws Exception if the runner could not be booted; the pool retries while callers wait
   */
  RunnerHandle boot(RunnerSpec spec, RunnerListener listener) throws Exception;

  /**
   * Releases what the backend holds (servers, executors) after the pool retired every runner.
   * The default does nothing.
   */
  @Override
  default void close() {}
}
