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

  /** Where a pool's runners run. */
  public enum BackendType {
    /** Virtual threads in this JVM; the functions are the application's RunnerFunction beans. */
    LOCAL,
    /** A child JVM per runner; the functions come from the functions-factory class, which every child instantiates. */
    PROCESS
  }

  /** The pools by bean name. */
  private Map<String, Pool> pools = new LinkedHashMap<>();

  public Map<String, Pool> getPools() {
    return pools;
  }

  public void setPools(Map<String, Pool> pools) {
    this.pools = pools;
  }

  /** One pool. */
  public static class Pool {

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

    public BackendType getBackend() {
      return backend;
    }

    public void setBackend(BackendType backend) {
      this.backend = backend;
    }

    public List<String> getFunctions() {
      return functions;
    }

    public void setFunctions(List<String> functions) {
      this.functions = functions;
    }

    public @Nullable String getFunctionsFactory() {
      return functionsFactory;
    }

    public void setFunctionsFactory(@Nullable String functionsFactory) {
      this.functionsFactory = functionsFactory;
    }

    public int getMin() {
      return min;
    }

    public void setMin(int min) {
      this.min = min;
    }

    public int getMax() {
      return max;
    }

    public void setMax(int max) {
      this.max = max;
    }

    public int getMaxConcurrency() {
      return maxConcurrency;
    }

    public void setMaxConcurrency(int maxConcurrency) {
      this.maxConcurrency = maxConcurrency;
    }

    public Duration getCallTimeout() {
      return callTimeout;
    }

    public void setCallTimeout(Duration callTimeout) {
      this.callTimeout = callTimeout;
    }

    public Duration getBootTimeout() {
      return bootTimeout;
    }

    public void setBootTimeout(Duration bootTimeout) {
      this.bootTimeout = bootTimeout;
    }

    public Duration getShutdownTimeout() {
      return shutdownTimeout;
    }

    public void setShutdownTimeout(Duration shutdownTimeout) {
      this.shutdownTimeout = shutdownTimeout;
    }

    public Duration getIdleShutdownAfter() {
      return idleShutdownAfter;
    }

    public void setIdleShutdownAfter(Duration idleShutdownAfter) {
      this.idleShutdownAfter = idleShutdownAfter;
    }
  }
}
