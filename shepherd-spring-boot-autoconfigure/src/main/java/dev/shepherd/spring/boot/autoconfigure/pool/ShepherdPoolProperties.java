package dev.shepherd.spring.boot.autoconfigure.pool;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * Elastic pools, under {@code shepherd.pool.pools.<name>}: each becomes an {@code ElasticPool} bean
 * of that name. Bound once through the constructor, so the settings cannot change after start-up.
 *
 * @param pools The pools by bean name.
 */
@ConfigurationProperties("shepherd.pool")
public record ShepherdPoolProperties(@DefaultValue Map<String, Pool> pools) {

  /** Where a pool's runners run. */
  public enum BackendType {
    /** Virtual threads in this JVM; the functions are the application's RunnerFunction beans. */
    LOCAL,
    /** A child JVM per runner; the functions come from the functions-factory class, which every child instantiates. */
    PROCESS
  }

  /**
   * One pool.
   *
   * @param backend Where the runners run.
   * @param functions Names of the RunnerFunction beans the pool may call (each registered under
   *     its bean name); every RunnerFunction bean when empty. LOCAL only.
   * @param functionsFactory A public FunctionRegistryFactory class with a no-argument constructor.
   *     PROCESS only, and required there.
   * @param min Runners booted at start and kept.
   * @param max Most runners, booting ones included.
   * @param maxConcurrency Calls per runner at once.
   * @param callTimeout Default timeout of a call: waiting, booting and running.
   * @param bootTimeout A runner not ready by then is killed and counts as a failed boot.
   * @param shutdownTimeout Grace for a retiring runner and for closing the pool at shutdown.
   * @param idleShutdownAfter Runners beyond min retire after being idle this long.
   */
  public record Pool(
      @DefaultValue("LOCAL") BackendType backend,
      @DefaultValue List<String> functions,
      @Nullable String functionsFactory,
      @DefaultValue("0") int min,
      @DefaultValue("1") int max,
      @DefaultValue("100") int maxConcurrency,
      @DefaultValue("30s") Duration callTimeout,
      @DefaultValue("30s") Duration bootTimeout,
      @DefaultValue("30s") Duration shutdownTimeout,
      @DefaultValue("30s") Duration idleShutdownAfter) {}
}
