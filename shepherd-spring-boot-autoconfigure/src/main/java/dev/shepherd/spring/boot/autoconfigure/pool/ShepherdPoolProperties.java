package dev.shepherd.spring.boot.autoconfigure.pool;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * Elastic pools, under {@code shepherd.pool.pools.<name>}: each becomes an {@code ElasticPool} bean
 * of that name.
 */
@ConfigurationProperties("shepherd.pool")
public class ShepherdPoolProperties {
  /** Creates the settings, with their defaults. */
  public ShepherdPoolProperties() {}


  /** Where a pool's runners run. */
  public enum BackendType {
    /** Virtual threads in this JVM; the functions are the application's RunnerFunction beans. */
    LOCAL,
    /** A child JVM per runner; the functions come from the functions-factory class, which every child instantiates. */
    PROCESS
  }

  /** The pools by bean name. */
  private Map<String, Pool> pools = new LinkedHashMap<>();

  /**
   * Returns the setting: the pools by bean name.
   *
   * @return the pools setting
   */
  public Map<String, Pool> getPools() {
    return pools;
  }

  /**
   * Sets the setting: the pools by bean name.
   *
   * @param pools the pools setting
   */
  public void setPools(Map<String, Pool> pools) {
    this.pools = pools;
  }

  /** One pool. */
  public static class Pool {
    /** Creates the settings, with their defaults. */
    public Pool() {}


    /** Where the runners run. */
    private BackendType backend = BackendType.LOCAL;

    /** Names of the RunnerFunction beans the pool may call (each registered under its bean name); every RunnerFunction bean when empty. LOCAL only. */
    private List<String> functions = new ArrayList<>();

    /** A public FunctionRegistryFactory class with a no-argument constructor. PROCESS only, and required there. */
    private @Nullable String functionsFactory;

    /** Runners booted at start and kept. */
    private int min = 0;

    /** Most runners, booting ones included. */
    private int max = 1;

    /** Calls per runner at once. */
    private int maxConcurrency = 100;

    /** Default timeout of a call: waiting, booting and running. */
    private Duration callTimeout = Duration.ofSeconds(30);

    /** A runner not ready by then is killed and counts as a failed boot. */
    private Duration bootTimeout = Duration.ofSeconds(30);

    /** Grace for a retiring runner and for closing the pool at shutdown. */
    private Duration shutdownTimeout = Duration.ofSeconds(30);

    /** Runners beyond min retire after being idle this long. */
    private Duration idleShutdownAfter = Duration.ofSeconds(30);

    /**
     * Returns the setting: where the runners run.
     *
     * @return the backend setting
     */
    public BackendType getBackend() {
      return backend;
    }

    /**
     * Sets the setting: where the runners run.
     *
     * @param backend the backend setting
     */
    public void setBackend(BackendType backend) {
      this.backend = backend;
    }

    /**
     * Returns the setting: names of the RunnerFunction beans the pool may call (each registered
     * under its bean name); every RunnerFunction bean when empty. LOCAL only.
     *
     * @return the functions setting
     */
    public List<String> getFunctions() {
      return functions;
    }

    /**
     * Sets the setting: names of the RunnerFunction beans the pool may call (each registered under
     * its bean name); every RunnerFunction bean when empty. LOCAL only.
     *
     * @param functions the functions setting
     */
    public void setFunctions(List<String> functions) {
      this.functions = functions;
    }

    /**
     * Returns the setting: a public FunctionRegistryFactory class with a no-argument constructor.
     * PROCESS only, and required there.
     *
     * @return the functions-factory setting
     */
    public @Nullable String getFunctionsFactory() {
      return functionsFactory;
    }

    /**
     * Sets the setting: a public FunctionRegistryFactory class with a no-argument constructor.
     * PROCESS only, and required there.
     *
     * @param functionsFactory the functions-factory setting
     */
    public void setFunctionsFactory(@Nullable String functionsFactory) {
      this.functionsFactory = functionsFactory;
    }

    /**
     * Returns the setting: runners booted at start and kept.
     *
     * @return the min setting
     */
    public int getMin() {
      return min;
    }

    /**
     * Sets the setting: runners booted at start and kept.
     *
     * @param min the min setting
     */
    public void setMin(int min) {
      this.min = min;
    }

    /**
     * Returns the setting: most runners, booting ones included.
     *
     * @return the max setting
     */
    public int getMax() {
      return max;
    }

    /**
     * Sets the setting: most runners, booting ones included.
     *
     * @param max the max setting
     */
    public void setMax(int max) {
      this.max = max;
    }

    /**
     * Returns the setting: calls per runner at once.
     *
     * @return the max-concurrency setting
     */
    public int getMaxConcurrency() {
      return maxConcurrency;
    }

    /**
     * Sets the setting: calls per runner at once.
     *
     * @param maxConcurrency the max-concurrency setting
     */
    public void setMaxConcurrency(int maxConcurrency) {
      this.maxConcurrency = maxConcurrency;
    }

    /**
     * Returns the setting: default timeout of a call: waiting, booting and running.
     *
     * @return the call-timeout setting
     */
    public Duration getCallTimeout() {
      return callTimeout;
    }

    /**
     * Sets the setting: default timeout of a call: waiting, booting and running.
     *
     * @param callTimeout the call-timeout setting
     */
    public void setCallTimeout(Duration callTimeout) {
      this.callTimeout = callTimeout;
    }

    /**
     * Returns the setting: a runner not ready by then is killed and counts as a failed boot.
     *
     * @return the boot-timeout setting
     */
    public Duration getBootTimeout() {
      return bootTimeout;
    }

    /**
     * Sets the setting: a runner not ready by then is killed and counts as a failed boot.
     *
     * @param bootTimeout the boot-timeout setting
     */
    public void setBootTimeout(Duration bootTimeout) {
      this.bootTimeout = bootTimeout;
    }

    /**
     * Returns the setting: grace for a retiring runner and for closing the pool at shutdown.
     *
     * @return the shutdown-timeout setting
     */
    public Duration getShutdownTimeout() {
      return shutdownTimeout;
    }

    /**
     * Sets the setting: grace for a retiring runner and for closing the pool at shutdown.
     *
     * @param shutdownTimeout the shutdown-timeout setting
     */
    public void setShutdownTimeout(Duration shutdownTimeout) {
      this.shutdownTimeout = shutdownTimeout;
    }

    /**
     * Returns the setting: runners beyond min retire after being idle this long.
     *
     * @return the idle-shutdown-after setting
     */
    public Duration getIdleShutdownAfter() {
      return idleShutdownAfter;
    }

    /**
     * Sets the setting: runners beyond min retire after being idle this long.
     *
     * @param idleShutdownAfter the idle-shutdown-after setting
     */
    public void setIdleShutdownAfter(Duration idleShutdownAfter) {
      this.idleShutdownAfter = idleShutdownAfter;
    }
  }
}
