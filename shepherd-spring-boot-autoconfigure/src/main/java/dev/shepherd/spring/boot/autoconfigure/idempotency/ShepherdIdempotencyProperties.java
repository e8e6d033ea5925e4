package dev.shepherd.spring.boot.autoconfigure.idempotency;

import dev.shepherd.idempotency.servlet.KeyPolicy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;

/** Settings of the Idempotency-Key filter and its tracker, under {@code shepherd.idempotency}. */
@ConfigurationProperties("shepherd.idempotency")
public class ShepherdIdempotencyProperties {
  /** Creates the settings, with their defaults. */
  public ShepherdIdempotencyProperties() {}


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

  /**
   * Whether requests without a principal share one anonymous scope of keys (true) or are answered
   * 400 when they send a key (false: an anonymous caller could otherwise replay another's answer).
   */
  private boolean allowAnonymous = false;

  /** A request header that names the caller (an API key a gateway checked), used instead of the authenticated principal; none when unset. */
  private @Nullable String principalHeader;

  /** The JDBC store. */
  private Jdbc jdbc = new Jdbc();

  /** The Redis store. */
  private Redis redis = new Redis();

  /**
   * Returns the setting: whether the Idempotency-Key filter is installed in a Servlet web
   * application.
   *
   * @return the enabled setting
   */
  public boolean isEnabled() {
    return enabled;
  }

  /**
   * Sets the setting: whether the Idempotency-Key filter is installed in a Servlet web
   * application.
   *
   * @param enabled the enabled setting
   */
  public void setEnabled(boolean enabled) {
    this.enabled = enabled;
  }

  /**
   * Returns the setting: which store keeps the records.
   *
   * @return the store setting
   */
  public StoreType getStore() {
    return store;
  }

  /**
   * Sets the setting: which store keeps the records.
   *
   * @param store the store setting
   */
  public void setStore(StoreType store) {
    this.store = store;
  }

  /**
   * Returns the setting: uRL patterns the filter is registered on.
   *
   * @return the url-patterns setting
   */
  public List<String> getUrlPatterns() {
    return urlPatterns;
  }

  /**
   * Sets the setting: uRL patterns the filter is registered on.
   *
   * @param urlPatterns the url-patterns setting
   */
  public void setUrlPatterns(List<String> urlPatterns) {
    this.urlPatterns = urlPatterns;
  }

  /**
   * Returns the setting: hTTP methods the filter tracks.
   *
   * @return the methods setting
   */
  public List<String> getMethods() {
    return methods;
  }

  /**
   * Sets the setting: hTTP methods the filter tracks.
   *
   * @param methods the methods setting
   */
  public void setMethods(List<String> methods) {
    this.methods = methods;
  }

  /**
   * Returns the setting: default for tracked methods outside shepherd.idempotency.paths: OPTIONAL
   * (a request with the key runs at most once, one without runs as before, so adding the starter
   * breaks no client), REQUIRED (400 without the key) or IGNORED.
   *
   * @return the key-policy setting
   */
  public KeyPolicy getKeyPolicy() {
    return keyPolicy;
  }

  /**
   * Sets the setting: default for tracked methods outside shepherd.idempotency.paths: OPTIONAL (a
   * request with the key runs at most once, one without runs as before, so adding the starter
   * breaks no client), REQUIRED (400 without the key) or IGNORED.
   *
   * @param keyPolicy the key-policy setting
   */
  public void setKeyPolicy(KeyPolicy keyPolicy) {
    this.keyPolicy = keyPolicy;
  }

  /**
   * Returns the setting: key policy per path prefix (longest prefix wins, segment-wise), for
   * example shepherd.idempotency.paths[/orders]=required.
   *
   * @return the paths setting
   */
  public Map<String, KeyPolicy> getPaths() {
    return paths;
  }

  /**
   * Sets the setting: key policy per path prefix (longest prefix wins, segment-wise), for example
   * shepherd.idempotency.paths[/orders]=required.
   *
   * @param paths the paths setting
   */
  public void setPaths(Map<String, KeyPolicy> paths) {
    this.paths = paths;
  }

  /**
   * Returns the setting: how long a claim holds without renewal: the longest a key stays blocked
   * after its owner died.
   *
   * @return the lease setting
   */
  public Duration getLease() {
    return lease;
  }

  /**
   * Sets the setting: how long a claim holds without renewal: the longest a key stays blocked
   * after its owner died.
   *
   * @param lease the lease setting
   */
  public void setLease(Duration lease) {
    this.lease = lease;
  }

  /**
   * Returns the setting: how long completed responses are replayed.
   *
   * @return the retention setting
   */
  public Duration getRetention() {
    return retention;
  }

  /**
   * Sets the setting: how long completed responses are replayed.
   *
   * @param retention the retention setting
   */
  public void setRetention(Duration retention) {
    this.retention = retention;
  }

  /**
   * Returns the setting: how long a retry waits for the first request of its key to finish (then
   * replays it) instead of answering 409 at once.
   *
   * @return the wait-for-in-flight setting
   */
  public Duration getWaitForInFlight() {
    return waitForInFlight;
  }

  /**
   * Sets the setting: how long a retry waits for the first request of its key to finish (then
   * replays it) instead of answering 409 at once.
   *
   * @param waitForInFlight the wait-for-in-flight setting
   */
  public void setWaitForInFlight(Duration waitForInFlight) {
    this.waitForInFlight = waitForInFlight;
  }

  /**
   * Returns the setting: largest request body a tracked request may have, in bytes (413 above).
   *
   * @return the max-body-size setting
   */
  public int getMaxBodySize() {
    return maxBodySize;
  }

  /**
   * Sets the setting: largest request body a tracked request may have, in bytes (413 above).
   *
   * @param maxBodySize the max-body-size setting
   */
  public void setMaxBodySize(int maxBodySize) {
    this.maxBodySize = maxBodySize;
  }

  /**
   * Returns the setting: largest response body that is stored, in bytes (larger ones are streamed
   * and not replayed).
   *
   * @return the max-stored-response-size setting
   */
  public int getMaxStoredResponseSize() {
    return maxStoredResponseSize;
  }

  /**
   * Sets the setting: largest response body that is stored, in bytes (larger ones are streamed and
   * not replayed).
   *
   * @param maxStoredResponseSize the max-stored-response-size setting
   */
  public void setMaxStoredResponseSize(int maxStoredResponseSize) {
    this.maxStoredResponseSize = maxStoredResponseSize;
  }

  /**
   * Returns the setting: whether the principal of a request comes from Spring Security's
   * Authentication when Spring Security is present.
   *
   * @return the spring-security-principal setting
   */
  public boolean isSpringSecurityPrincipal() {
    return springSecurityPrincipal;
  }

  /**
   * Sets the setting: whether the principal of a request comes from Spring Security's
   * Authentication when Spring Security is present.
   *
   * @param springSecurityPrincipal the spring-security-principal setting
   */
  public void setSpringSecurityPrincipal(boolean springSecurityPrincipal) {
    this.springSecurityPrincipal = springSecurityPrincipal;
  }

  /**
   * Returns the setting: whether requests without a principal share one anonymous scope.
   *
   * @return the allow-anonymous setting
   */
  public boolean isAllowAnonymous() {
    return allowAnonymous;
  }

  /**
   * Sets the setting: whether requests without a principal share one anonymous scope.
   *
   * @param allowAnonymous the allow-anonymous setting
   */
  public void setAllowAnonymous(boolean allowAnonymous) {
    this.allowAnonymous = allowAnonymous;
  }

  /**
   * Returns the setting: the request header that names the caller, if any.
   *
   * @return the principal-header setting
   */
  public @Nullable String getPrincipalHeader() {
    return principalHeader;
  }

  /**
   * Sets the setting: the request header that names the caller, if any.
   *
   * @param principalHeader the principal-header setting
   */
  public void setPrincipalHeader(@Nullable String principalHeader) {
    this.principalHeader = principalHeader;
  }

  /**
   * Returns the setting: the JDBC store.
   *
   * @return the jdbc setting
   */
  public Jdbc getJdbc() {
    return jdbc;
  }

  /**
   * Sets the setting: the JDBC store.
   *
   * @param jdbc the jdbc setting
   */
  public void setJdbc(Jdbc jdbc) {
    this.jdbc = jdbc;
  }

  /**
   * Returns the setting: the Redis store.
   *
   * @return the redis setting
   */
  public Redis getRedis() {
    return redis;
  }

  /**
   * Sets the setting: the Redis store.
   *
   * @param redis the redis setting
   */
  public void setRedis(Redis redis) {
    this.redis = redis;
  }

  /** The JDBC (PostgreSQL) store. */
  public static class Jdbc {
    /** Creates the settings, with their defaults. */
    public Jdbc() {}


    /** Table of the records (a plain or schema-qualified lower-case identifier). */
    private String tableName = "shepherd_idempotency";

    /** Whether the table is created at start-up. Off by default: apply the shipped Flyway, Liquibase or SQL schema instead; a missing table is then a start-up error. */
    private boolean createSchema = false;

    /**
     * Returns the setting: table of the records (a plain or schema-qualified lower-case
     * identifier).
     *
     * @return the table-name setting
     */
    public String getTableName() {
      return tableName;
    }

    /**
     * Sets the setting: table of the records (a plain or schema-qualified lower-case identifier).
     *
     * @param tableName the table-name setting
     */
    public void setTableName(String tableName) {
      this.tableName = tableName;
    }

    /**
     * Returns the setting: whether the table is created at start-up. Off by default: apply the
     * shipped Flyway, Liquibase or SQL schema instead; a missing table is then a start-up error.
     *
     * @return the create-schema setting
     */
    public boolean isCreateSchema() {
      return createSchema;
    }

    /**
     * Sets the setting: whether the table is created at start-up. Off by default: apply the
     * shipped Flyway, Liquibase or SQL schema instead; a missing table is then a start-up error.
     *
     * @param createSchema the create-schema setting
     */
    public void setCreateSchema(boolean createSchema) {
      this.createSchema = createSchema;
    }
  }

  /** The Redis store. */
  public static class Redis {
    /** Creates the settings, with their defaults. */
    public Redis() {}


    /** Prefix of every Redis key the store writes. */
    private String keyPrefix = "shepherd:idem:";

    /** How long one Redis command may take before the store reports a failure (503). */
    private Duration commandTimeout = Duration.ofSeconds(5);

    /**
     * Returns the setting: prefix of every Redis key the store writes.
     *
     * @return the key-prefix setting
     */
    public String getKeyPrefix() {
      return keyPrefix;
    }

    /**
     * Sets the setting: prefix of every Redis key the store writes.
     *
     * @param keyPrefix the key-prefix setting
     */
    public void setKeyPrefix(String keyPrefix) {
      this.keyPrefix = keyPrefix;
    }

    /**
     * Returns the setting: how long one Redis command may take before the store reports a failure
     * (503).
     *
     * @return the command-timeout setting
     */
    public Duration getCommandTimeout() {
      return commandTimeout;
    }

    /**
     * Sets the setting: how long one Redis command may take before the store reports a failure
     * (503).
     *
     * @param commandTimeout the command-timeout setting
     */
    public void setCommandTimeout(Duration commandTimeout) {
      this.commandTimeout = commandTimeout;
    }
  }
}
