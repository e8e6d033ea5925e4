package dev.shepherd.spring.boot.autoconfigure.replica;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * Settings of read-your-writes on PostgreSQL replicas, under {@code shepherd.replica}. Configuring
 * one replica under {@code shepherd.replica.replicas.<name>.url} turns the capability on. Bound once
 * through the constructor, so the settings cannot change after start-up.
 *
 * @param enabled Whether the replica capability is on when replicas are configured.
 * @param replicas The replicas by name: each gets a connection pool and a ReplicaTracker.
 * @param maxWait How long a read-only transaction waits for a replica to replay what it must see
 *     before it reads on the primary.
 * @param routing The routing DataSource that replaces the application's primary DataSource bean.
 * @param token The consistency token that carries a write's position to the next request.
 */
@ConfigurationProperties("shepherd.replica")
public record ShepherdReplicaProperties(
    @DefaultValue("true") boolean enabled,
    @DefaultValue Map<String, Replica> replicas,
    @DefaultValue("500ms") Duration maxWait,
    @DefaultValue Routing routing,
    @DefaultValue Token token) {

  /**
   * One replica: where it is, its pool and its tracker's timing.
   *
   * @param url JDBC URL of the replica, for example jdbc:postgresql://replica-1:5432/app. Required.
   * @param username User name on the replica; the driver's default when unset.
   * @param password Password on the replica.
   * @param maximumPoolSize Most connections in the replica's pool.
   * @param connectionTimeout How long the pool waits for a connection; short, so a replica that
   *     refuses connections is noticed fast (HikariCP's minimum is 250 ms).
   * @param minPollInterval Pause between replay-position polls after progress.
   * @param maxPollInterval Longest pause between polls while replay does not move.
   * @param queryTimeout Network timeout of the tracker's queries.
   */
  public record Replica(
      @Nullable String url,
      @Nullable String username,
      @Nullable String password,
      @DefaultValue("10") int maximumPoolSize,
      @DefaultValue("1s") Duration connectionTimeout,
      @DefaultValue("500us") Duration minPollInterval,
      @DefaultValue("50ms") Duration maxPollInterval,
      @DefaultValue("2s") Duration queryTimeout) {

    /** Shows every setting but the password, so that logging the settings does not leak it. */
    @Override
    public String toString() {
      return "Replica[url=" + url + ", username=" + username + ", password=" + (password == null ? null : "(hidden)")
          + ", maximumPoolSize=" + maximumPoolSize + ", connectionTimeout=" + connectionTimeout
          + ", minPollInterval=" + minPollInterval + ", maxPollInterval=" + maxPollInterval
          + ", queryTimeout=" + queryTimeout + "]";
    }
  }

  /**
   * The routing DataSource.
   *
   * @param enabled Whether the application's primary DataSource bean is wrapped in a
   *     ReplicaRoutingDataSource.
   * @param dataSourceBeanName Name of the DataSource bean to wrap.
   * @param recordWrites Whether each read-write commit is followed by one query for its write
   *     position (needed for read-your-writes).
   */
  public record Routing(
      @DefaultValue("true") boolean enabled,
      @DefaultValue("dataSource") String dataSourceBeanName,
      @DefaultValue("true") boolean recordWrites) {}

  /**
   * The signed consistency token and its Servlet filter.
   *
   * @param signingKeyId Id of the signing key, written into every token (rotate by changing it and
   *     keeping the old key as a verification key).
   * @param signingSecret The signing secret, at least 32 bytes of UTF-8. Required in a Servlet web
   *     application with replicas (the token filter signs with it); elsewhere the codec is made
   *     only when it is set.
   * @param verificationKeys Old keys still accepted during a rotation: key id to secret.
   * @param header Response and request header that carries the token; empty for none.
   * @param cookie Cookie that carries the token; empty for none.
   * @param secureCookie Whether the cookie is marked Secure.
   * @param cookieMaxAge Max-Age of the cookie.
   * @param ignoreInvalid Whether an invalid token is ignored (true) or answered with 400 (false).
   * @param urlPatterns URL patterns the token filter is registered on.
   */
  public record Token(
      @DefaultValue("k1") String signingKeyId,
      @Nullable String signingSecret,
      @DefaultValue Map<String, String> verificationKeys,
      @DefaultValue("Shepherd-Consistency-Token") String header,
      @DefaultValue("shepherd_consistency") String cookie,
      @DefaultValue("true") boolean secureCookie,
      @DefaultValue("1h") Duration cookieMaxAge,
      @DefaultValue("false") boolean ignoreInvalid,
      @DefaultValue("/*") List<String> urlPatterns) {

    /** Shows every setting but the secrets, so that logging the settings does not leak them. */
    @Override
    public String toString() {
      return "Token[signingKeyId=" + signingKeyId + ", signingSecret=" + (signingSecret == null ? null : "(hidden)")
          + ", verificationKeys=" + verificationKeys.keySet() + " (secrets hidden), header=" + header
          + ", cookie=" + cookie + ", secureCookie=" + secureCookie + ", cookieMaxAge=" + cookieMaxAge
          + ", ignoreInvalid=" + ignoreInvalid + ", urlPatterns=" + urlPatterns + "]";
    }
  }
}
