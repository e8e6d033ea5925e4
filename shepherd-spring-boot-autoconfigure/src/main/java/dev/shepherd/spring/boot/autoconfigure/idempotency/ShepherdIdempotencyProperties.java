package dev.shepherd.spring.boot.autoconfigure.idempotency;

import dev.shepherd.idempotency.servlet.KeyPolicy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.springframework.boot.context.properties.ConfigurationProperties;

/** Settings of the Idempotency-Key filter and its tracker, under {@code shepherd.idempotency}. */
@ConfigurationProperties("shepherd.idempotency")
public class ShepherdIdempotencyProperties {

  /** Where idempotency records are kept. */
  public enum StoreType {
    /** Redis when shepherd-idempotency-redis and a Lettuce client are there, else JDBC on the DataSource, else memory. */
    AUTO,
    /** PostgreSQL through the application's DataSource (its primary when replicas are routed). */
    JDBC,
    /** Redis through the application's Lettuce RedisClient or Spring Data Redis Lettuce connection factory. */
    REDIS,
    /** This JVM only: retries that reach another instance run again. */
    MEMORY
  }

  /** Whether the Idempotency-Key filter is installed in a Servlet web application. */
  private boolean enabled = true;

  /** Which store keeps the records. */
  private StoreType store = StoreType.AUTO;

  /** URL patterns the filter is registered on. */
  private List<String> urlPatterns = new ArrayList<>(List.of("/*"));

  /** HTTP methods the filter tracks. */
  private List<String> methods = new ArrayList<>(List.of("POST", "PATCH"));

  /**
   * Default for tracked methods outside shepherd.idempotency.paths: OPTIONAL (a request with the key
   * runs at most once, one without runs as before, so adding the starter breaks no client), REQUIRED
   * (400 without the key) or IGNORED.
   */
  private KeyPolicy keyPolicy = KeyPolicy.OPTIONAL;

  /** Key policy per path prefix (longest prefix wins, segment-wise), for example shepherd.idempotency.paths[/orders]=required. */
  private Map<String, KeyPolicy> paths = new LinkedHashMap<>();

  /** How long a claim holds without renewal: the longest a key stays blocked after its owner died. */
  private Duration lease = Duration.ofSeconds(60);

  /** How long completed responses are replayed. */
  private Duration retention = Duration.ofHours(24);

  /** How long a retry waits for the first request of its key to finish (then replays it) instead of answering 409 at once. */
  private Duration waitForInFlight = Duration.ZERO;

  /** Largest request body a tracked request may have, in bytes (413 above). */
  private int maxBodySize = 1024 * 1024;

  /** Largest response body that is stored, in bytes (larger ones are streamed and not replayed). */
  private int maxStoredResponseSize = 1024 * 1024;

  /** Whether the principal of a request comes from Spring Security's Authentication when Spring Security is present. */
  private boolean springSecurityPrincipal = true;

  /** The JDBC store. */
  private Jdbc jdbc = new Jdbc();

  /** The Redis store. */
  private Redis redis = new Redis();

  public boolean isEnabled() {
    return enabled;
  }

  public void setEnabled(boolean enabled) {
    this.enabled = enabled;
  }

  public StoreType getStore() {
    return store;
  }

  public void setStore(StoreType store) {
    this.store = store;
  }

  public List<String> getUrlPatterns() {
    return urlPatterns;
  }

  public void setUrlPatterns(List<String> urlPatterns) {
    this.urlPatterns = urlPatterns;
  }

  public List<String> getMethods() {
    return methods;
  }

  public void setMethods(List<String> methods) {
    this.methods = methods;
  }

  public KeyPolicy getKeyPolicy() {
    return keyPolicy;
  }

  public void setKeyPolicy(KeyPolicy keyPolicy) {
    this.keyPolicy = keyPolicy;
  }

  public Map<String, KeyPolicy> getPaths() {
    return paths;
  }

  public void setPaths(Map<String, KeyPolicy> paths) {
    this.paths = paths;
  }

  public Duration getLease() {
    return lease;
  }

  public void setLease(Duration lease) {
    this.lease = lease;
  }

  public Duration getRetention() {
    return retention;
  }

  public void setRetention(Duration retention) {
    this.retention = retention;
  }

  public Duration getWaitForInFlight() {
    return waitForInFlight;
  }

  public void setWaitForInFlight(Duration waitForInFlight) {
    this.waitForInFlight = waitForInFlight;
  }

  public int getMaxBodySize() {
    return maxBodySize;
  }

  public void setMaxBodySize(int maxBodySize) {
    this.maxBodySize = maxBodySize;
  }

  public int getMaxStoredResponseSize() {
    return maxStoredResponseSize;
  }

  public void setMaxStoredResponseSize(int maxStoredResponseSize) {
    this.maxStoredResponseSize = maxStoredResponseSize;
  }

  public boolean isSpringSecurityPrincipal() {
    return springSecurityPrincipal;
  }

  public void setSpringSecurityPrincipal(boolean springSecurityPrincipal) {
    this.springSecurityPrincipal = springSecurityPrincipal;
  }

  public Jdbc getJdbc() {
    return jdbc;
  }

  public void setJdbc(Jdbc jdbc) {
    this.jdbc = jdbc;
  }

  public Redis getRedis() {
    return redis;
  }

  public void setRedis(Redis redis) {
    this.redis = redis;
  }

  /** The JDBC (PostgreSQL) store. */
  public static class Jdbc {

    /** Table of the records (a plain or schema-qualified lower-case identifier). */
    private String tableName = "shepherd_idempotency";

    /** Whether the table is created at start-up. Off by default: apply the shipped Flyway, Liquibase or SQL schema instead; a missing table is then a start-up error. */
    private boolean createSchema = false;

    public String getTableName() {
      return tableName;
    }

    public void setTableName(String tableName) {
      this.tableName = tableName;
    }

    public boolean isCreateSchema() {
      return createSchema;
    }

    public void setCreateSchema(boolean createSchema) {
      this.createSchema = createSchema;
    }
  }

  /** The Redis store. */
  public static class Redis {

    /** Prefix of every Redis key the store writes. */
    private String keyPrefix = "shepherd:idem:";

    /** How long one Redis command may take before the store reports a failure (503). */
    private Duration commandTimeout = Duration.ofSeconds(5);

    public String getKeyPrefix() {
      return keyPrefix;
    }

    public void setKeyPrefix(String keyPrefix) {
      this.keyPrefix = keyPrefix;
    }

    public Duration getCommandTimeout() {
      return commandTimeout;
    }

    public void setCommandTimeout(Duration commandTimeout) {
      this.commandTimeout = commandTimeout;
    }
  }
}
