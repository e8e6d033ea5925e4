package dev.shepherd.spring.boot.autoconfigure.idempotency;

import dev.shepherd.idempotency.servlet.KeyPolicy;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * Settings of the Idempotency-Key filter and its tracker, under {@code shepherd.idempotency}. Bound
 * once through the constructor, so the settings cannot change after start-up.
 *
 * @param enabled Whether the Idempotency-Key filter is installed in a Servlet web application.
 * @param store Which store keeps the records.
 * @param urlPatterns URL patterns the filter is registered on.
 * @param methods HTTP methods the filter tracks.
 * @param keyPolicy Default for tracked methods outside shepherd.idempotency.paths: OPTIONAL (a
 *     request with the key runs at most once, one without runs as before, so adding the starter
 *     breaks no client), REQUIRED (400 without the key) or IGNORED.
 * @param paths Key policy per path prefix (longest prefix wins, segment-wise), for example
 *     shepherd.idempotency.paths[/orders]=required.
 * @param lease How long a claim holds without renewal: the longest a key stays blocked after its
 *     owner died.
 * @param retention How long completed responses are replayed.
 * @param waitForInFlight How long a retry waits for the first request of its key to finish (then
 *     replays it) instead of answering 409 at once.
 * @param maxBodySize Largest request body a tracked request may have, in bytes (413 above).
 * @param maxStoredResponseSize Largest response body that is stored, in bytes (larger ones are
 *     streamed and not replayed).
 * @param springSecurityPrincipal Whether the principal of a request comes from Spring Security's
 *     Authentication when Spring Security is present.
 * @param allowAnonymous Whether requests without a principal share one anonymous scope of keys
 *     (true) or are answered 400 when they send a key (false: an anonymous caller could otherwise
 *     replay another's answer).
 * @param principalHeader A request header that names the caller (an API key a gateway checked),
 *     used instead of the authenticated principal; none when unset.
 * @param jdbc The JDBC store.
 * @param redis The Redis store.
 */
@ConfigurationProperties("shepherd.idempotency")
public record ShepherdIdempotencyProperties(
    @DefaultValue("true") boolean enabled,
    @DefaultValue("auto") StoreType store,
    @DefaultValue("/*") List<String> urlPatterns,
    @DefaultValue({"POST", "PATCH"}) List<String> methods,
    @DefaultValue("optional") KeyPolicy keyPolicy,
    @DefaultValue Map<String, KeyPolicy> paths,
    @DefaultValue("60s") Duration lease,
    @DefaultValue("24h") Duration retention,
    @DefaultValue("0") Duration waitForInFlight,
    @DefaultValue("1048576") int maxBodySize,
    @DefaultValue("1048576") int maxStoredResponseSize,
    @DefaultValue("true") boolean springSecurityPrincipal,
    @DefaultValue("false") boolean allowAnonymous,
    @Nullable String principalHeader,
    @DefaultValue Jdbc jdbc,
    @DefaultValue Redis redis) {

  /** Where idempotency records are kept. */
  public enum StoreType {
    /**
     * Redis when shepherd-idempotency-redis and a Lettuce client are there, else JDBC on the
     * DataSource when it is PostgreSQL, else memory (with a warning).
     */
    AUTO,
    /**
     * PostgreSQL, the application's database (its primary when replicas are routed), through a
     * small pool of the store's own (shepherd.idempotency.jdbc.pool).
     */
    JDBC,
    /** Redis through the application's Lettuce RedisClient or Spring Data Redis Lettuce connection factory. */
    REDIS,
    /** This JVM only: retries that reach another instance run again. */
    MEMORY
  }

  /**
   * The JDBC (PostgreSQL) store.
   *
   * @param tableName Table of the records (a plain or schema-qualified lower-case identifier).
   * @param createSchema Whether the table is created at start-up. Off by default: apply the shipped
   *     Flyway, Liquibase or SQL schema instead; a missing table is then a start-up error.
   * @param pool The store's own connection pool, for its claims, lease renewals and completes.
   */
  public record Jdbc(
      @DefaultValue("shepherd_idempotency") String tableName,
      @DefaultValue("false") boolean createSchema,
      @DefaultValue Pool pool) {}

  /**
   * The JDBC store's own HikariCP pool, to the application's database (settings copied from the
   * application's HikariCP pool, else from spring.datasource.*): lease renewals then never wait
   * behind the application's requests for a connection. Needs HikariCP on the class path.
   *
   * @param enabled Whether the JDBC store gets a pool of its own. When false, or without HikariCP,
   *     the store runs its statements on the application's DataSource, where a pool saturated by
   *     requests delays lease renewals past the lease.
   * @param maximumSize Most connections in the store's pool (also kept open when idle).
   * @param connectionTimeout How long a statement of the store waits for a connection of its pool;
   *     keep it well under a third of shepherd.idempotency.lease (HikariCP's minimum is 250 ms).
   */
  public record Pool(
      @DefaultValue("true") boolean enabled,
      @DefaultValue("4") int maximumSize,
      @DefaultValue("5s") Duration connectionTimeout) {}

  /**
   * The Redis store.
   *
   * @param keyPrefix Prefix of every Redis key the store writes.
   * @param commandTimeout How long one Redis command may take before the store reports a failure
   *     (503).
   */
  public record Redis(
      @DefaultValue("shepherd:idem:") String keyPrefix,
      @DefaultValue("5s") Duration commandTimeout) {}
}
