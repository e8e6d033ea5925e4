package dev.shepherd.spring.boot.autoconfigure.replica;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * Settings of read-your-writes on PostgreSQL replicas, under {@code shepherd.replica}. Configuring
 * one replica under {@code shepherd.replica.replicas.<name>.url} turns the capability on.
 */
@ConfigurationProperties("shepherd.replica")
public class ShepherdReplicaProperties {
  /** Creates the settings, with their defaults. */
  public ShepherdReplicaProperties() {}


  /** Whether the replica capability is on when replicas are configured. */
  private boolean enabled = true;

  /** The replicas by name: each gets a connection pool and a ReplicaTracker. */
  private Map<String, Replica> replicas = new LinkedHashMap<>();

  /** How long a read-only transaction waits for a replica to replay what it must see before it reads on the primary. */
  private Duration maxWait = Duration.ofMillis(500);

  /** The routing DataSource that replaces the application's primary DataSource bean. */
  private Routing routing = new Routing();

  /** The consistency token that carries a write's position to the next request. */
  private Token token = new Token();

  /**
   * Returns the setting: whether the application's primary DataSource bean is wrapped in a
   * ReplicaRoutingDataSource.
   *
   * @return the enabled setting
   */
  public boolean isEnabled() {
    return enabled;
  }

  /**
   * Sets the setting: whether the application's primary DataSource bean is wrapped in a
   * ReplicaRoutingDataSource.
   *
   * @param enabled the enabled setting
   */
  public void setEnabled(boolean enabled) {
    this.enabled = enabled;
  }

  /**
   * Returns the setting: the replicas by name: each gets a connection pool and a ReplicaTracker.
   *
   * @return the replicas setting
   */
  public Map<String, Replica> getReplicas() {
    return replicas;
  }

  /**
   * Sets the setting: the replicas by name: each gets a connection pool and a ReplicaTracker.
   *
   * @param replicas the replicas setting
   */
  public void setReplicas(Map<String, Replica> replicas) {
    this.replicas = replicas;
  }

  /**
   * Returns the setting: how long a read-only transaction waits for a replica to replay what it
   * must see before it reads on the primary.
   *
   * @return the max-wait setting
   */
  public Duration getMaxWait() {
    return maxWait;
  }

  /**
   * Sets the setting: how long a read-only transaction waits for a replica to replay what it must
   * see before it reads on the primary.
   *
   * @param maxWait the max-wait setting
   */
  public void setMaxWait(Duration maxWait) {
    this.maxWait = maxWait;
  }

  /**
   * Returns the setting: the routing DataSource that replaces the application's primary DataSource
   * bean.
   *
   * @return the routing setting
   */
  public Routing getRouting() {
    return routing;
  }

  /**
   * Sets the setting: the routing DataSource that replaces the application's primary DataSource
   * bean.
   *
   * @param routing the routing setting
   */
  public void setRouting(Routing routing) {
    this.routing = routing;
  }

  /**
   * Returns the setting: the consistency token that carries a write's position to the next
   * request.
   *
   * @return the token setting
   */
  public Token getToken() {
    return token;
  }

  /**
   * Sets the setting: the consistency token that carries a write's position to the next request.
   *
   * @param token the token setting
   */
  public void setToken(Token token) {
    this.token = token;
  }

  /** One replica: where it is, its pool and its tracker's timing. */
  public static class Replica {
    /** Creates the settings, with their defaults. */
    public Replica() {}


    /** JDBC URL of the replica, for example jdbc:postgresql://replica-1:5432/app. Required. */
    private @Nullable String url;

    /** User name on the replica; the driver's default when unset. */
    private @Nullable String username;

    /** Password on the replica. */
    private @Nullable String password;

    /** Most connections in the replica's pool. */
    private int maximumPoolSize = 10;

    /** How long the pool waits for a connection; short, so a replica that refuses connections is noticed fast (HikariCP's minimum is 250 ms). */
    private Duration connectionTimeout = Duration.ofSeconds(1);

    /** Pause between replay-position polls after progress. */
    private Duration minPollInterval = Duration.ofNanos(500_000);

    /** Longest pause between polls while replay does not move. */
    private Duration maxPollInterval = Duration.ofMillis(50);

    /** Network timeout of the tracker's queries. */
    private Duration queryTimeout = Duration.ofSeconds(2);

    /**
     * Returns the setting: jDBC URL of the replica, for example
     * jdbc:postgresql://replica-1:5432/app. Required.
     *
     * @return the url setting
     */
    public @Nullable String getUrl() {
      return url;
    }

    /**
     * Sets the setting: jDBC URL of the replica, for example jdbc:postgresql://replica-1:5432/app.
     * Required.
     *
     * @param url the url setting
     */
    public void setUrl(@Nullable String url) {
      this.url = url;
    }

    /**
     * Returns the setting: user name on the replica; the driver's default when unset.
     *
     * @return the username setting
     */
    public @Nullable String getUsername() {
      return username;
    }

    /**
     * Sets the setting: user name on the replica; the driver's default when unset.
     *
     * @param username the username setting
     */
    public void setUsername(@Nullable String username) {
      this.username = username;
    }

    /**
     * Returns the setting: password on the replica.
     *
     * @return the password setting
     */
    public @Nullable String getPassword() {
      return password;
    }

    /**
     * Sets the setting: password on the replica.
     *
     * @param password the password setting
     */
    public void setPassword(@Nullable String password) {
      this.password = password;
    }

    /**
     * Returns the setting: most connections in the replica's pool.
     *
     * @return the maximum-pool-size setting
     */
    public int getMaximumPoolSize() {
      return maximumPoolSize;
    }

    /**
     * Sets the setting: most connections in the replica's pool.
     *
     * @param maximumPoolSize the maximum-pool-size setting
     */
    public void setMaximumPoolSize(int maximumPoolSize) {
      this.maximumPoolSize = maximumPoolSize;
    }

    /**
     * Returns the setting: how long the pool waits for a connection; short, so a replica that
     * refuses connections is noticed fast (HikariCP's minimum is 250 ms).
     *
     * @return the connection-timeout setting
     */
    public Duration getConnectionTimeout() {
      return connectionTimeout;
    }

    /**
     * Sets the setting: how long the pool waits for a connection; short, so a replica that refuses
     * connections is noticed fast (HikariCP's minimum is 250 ms).
     *
     * @param connectionTimeout the connection-timeout setting
     */
    public void setConnectionTimeout(Duration connectionTimeout) {
      this.connectionTimeout = connectionTimeout;
    }

    /**
     * Returns the setting: pause between replay-position polls after progress.
     *
     * @return the min-poll-interval setting
     */
    public Duration getMinPollInterval() {
      return minPollInterval;
    }

    /**
     * Sets the setting: pause between replay-position polls after progress.
     *
     * @param minPollInterval the min-poll-interval setting
     */
    public void setMinPollInterval(Duration minPollInterval) {
      this.minPollInterval = minPollInterval;
    }

    /**
     * Returns the setting: longest pause between polls while replay does not move.
     *
     * @return the max-poll-interval setting
     */
    public Duration getMaxPollInterval() {
      return maxPollInterval;
    }

    /**
     * Sets the setting: longest pause between polls while replay does not move.
     *
     * @param maxPollInterval the max-poll-interval setting
     */
    public void setMaxPollInterval(Duration maxPollInterval) {
      this.maxPollInterval = maxPollInterval;
    }

    /**
     * Returns the setting: network timeout of the tracker's queries.
     *
     * @return the query-timeout setting
     */
    public Duration getQueryTimeout() {
      return queryTimeout;
    }

    /**
     * Sets the setting: network timeout of the tracker's queries.
     *
     * @param queryTimeout the query-timeout setting
     */
    public void setQueryTimeout(Duration queryTimeout) {
      this.queryTimeout = queryTimeout;
    }
  }

  /** The routing DataSource. */
  public static class Routing {
    /** Creates the settings, with their defaults. */
    public Routing() {}


    /** Whether the application's primary DataSource bean is wrapped in a ReplicaRoutingDataSource. */
    private boolean enabled = true;

    /** Name of the DataSource bean to wrap. */
    private String dataSourceBeanName = "dataSource";

    /** Whether each read-write commit is followed by one query for its write position (needed for read-your-writes). */
    private boolean recordWrites = true;

    /**
     * Returns the setting: whether the application's primary DataSource bean is wrapped in a
     * ReplicaRoutingDataSource.
     *
     * @return the enabled setting
     */
    public boolean isEnabled() {
      return enabled;
    }

    /**
     * Sets the setting: whether the application's primary DataSource bean is wrapped in a
     * ReplicaRoutingDataSource.
     *
     * @param enabled the enabled setting
     */
    public void setEnabled(boolean enabled) {
      this.enabled = enabled;
    }

    /**
     * Returns the setting: name of the DataSource bean to wrap.
     *
     * @return the data-source-bean-name setting
     */
    public String getDataSourceBeanName() {
      return dataSourceBeanName;
    }

    /**
     * Sets the setting: name of the DataSource bean to wrap.
     *
     * @param dataSourceBeanName the data-source-bean-name setting
     */
    public void setDataSourceBeanName(String dataSourceBeanName) {
      this.dataSourceBeanName = dataSourceBeanName;
    }

    /**
     * Returns the setting: whether each read-write commit is followed by one query for its write
     * position (needed for read-your-writes).
     *
     * @return the record-writes setting
     */
    public boolean isRecordWrites() {
      return recordWrites;
    }

    /**
     * Sets the setting: whether each read-write commit is followed by one query for its write
     * position (needed for read-your-writes).
     *
     * @param recordWrites the record-writes setting
     */
    public void setRecordWrites(boolean recordWrites) {
      this.recordWrites = recordWrites;
    }
  }

  /** The signed consistency token and its Servlet filter. */
  public static class Token {
    /** Creates the settings, with their defaults. */
    public Token() {}


    /** Id of the signing key, written into every token (rotate by changing it and keeping the old key as a verification key). */
    private String signingKeyId = "k1";

    /** The signing secret, at least 32 bytes of UTF-8. Required when replicas are configured. */
    private @Nullable String signingSecret;

    /** Old keys still accepted during a rotation: key id to secret. */
    private Map<String, String> verificationKeys = new LinkedHashMap<>();

    /** Response and request header that carries the token; empty for none. */
    private String header = "Shepherd-Consistency-Token";

    /** Cookie that carries the token; empty for none. */
    private String cookie = "shepherd_consistency";

    /** Whether the cookie is marked Secure. */
    private boolean secureCookie = true;

    /** Max-Age of the cookie. */
    private Duration cookieMaxAge = Duration.ofHours(1);

    /** Whether an invalid token is ignored (true) or answered with 400 (false). */
    private boolean ignoreInvalid = false;

    /** URL patterns the token filter is registered on. */
    private List<String> urlPatterns = new ArrayList<>(List.of("/*"));

    /**
     * Returns the setting: id of the signing key, written into every token (rotate by changing it
     * and keeping the old key as a verification key).
     *
     * @return the signing-key-id setting
     */
    public String getSigningKeyId() {
      return signingKeyId;
    }

    /**
     * Sets the setting: id of the signing key, written into every token (rotate by changing it and
     * keeping the old key as a verification key).
     *
     * @param signingKeyId the signing-key-id setting
     */
    public void setSigningKeyId(String signingKeyId) {
      this.signingKeyId = signingKeyId;
    }

    /**
     * Returns the setting: the signing secret, at least 32 bytes of UTF-8. Required when replicas
     * are configured.
     *
     * @return the signing-secret setting
     */
    public @Nullable String getSigningSecret() {
      return signingSecret;
    }

    /**
     * Sets the setting: the signing secret, at least 32 bytes of UTF-8. Required when replicas are
     * configured.
     *
     * @param signingSecret the signing-secret setting
     */
    public void setSigningSecret(@Nullable String signingSecret) {
      this.signingSecret = signingSecret;
    }

    /**
     * Returns the setting: old keys still accepted during a rotation: key id to secret.
     *
     * @return the verification-keys setting
     */
    public Map<String, String> getVerificationKeys() {
      return verificationKeys;
    }

    /**
     * Sets the setting: old keys still accepted during a rotation: key id to secret.
     *
     * @param verificationKeys the verification-keys setting
     */
    public void setVerificationKeys(Map<String, String> verificationKeys) {
      this.verificationKeys = verificationKeys;
    }

    /**
     * Returns the setting: response and request header that carries the token; empty for none.
     *
     * @return the header setting
     */
    public String getHeader() {
      return header;
    }

    /**
     * Sets the setting: response and request header that carries the token; empty for none.
     *
     * @param header the header setting
     */
    public void setHeader(String header) {
      this.header = header;
    }

    /**
     * Returns the setting: cookie that carries the token; empty for none.
     *
     * @return the cookie setting
     */
    public String getCookie() {
      return cookie;
    }

    /**
     * Sets the setting: cookie that carries the token; empty for none.
     *
     * @param cookie the cookie setting
     */
    public void setCookie(String cookie) {
      this.cookie = cookie;
    }

    /**
     * Returns the setting: whether the cookie is marked Secure.
     *
     * @return the secure-cookie setting
     */
    public boolean isSecureCookie() {
      return secureCookie;
    }

    /**
     * Sets the setting: whether the cookie is marked Secure.
     *
     * @param secureCookie the secure-cookie setting
     */
    public void setSecureCookie(boolean secureCookie) {
      this.secureCookie = secureCookie;
    }

    /**
     * Returns the setting: max-Age of the cookie.
     *
     * @return the cookie-max-age setting
     */
    public Duration getCookieMaxAge() {
      return cookieMaxAge;
    }

    /**
     * Sets the setting: max-Age of the cookie.
     *
     * @param cookieMaxAge the cookie-max-age setting
     */
    public void setCookieMaxAge(Duration cookieMaxAge) {
      this.cookieMaxAge = cookieMaxAge;
    }

    /**
     * Returns the setting: whether an invalid token is ignored (true) or answered with 400
     * (false).
     *
     * @return the ignore-invalid setting
     */
    public boolean isIgnoreInvalid() {
      return ignoreInvalid;
    }

    /**
     * Sets the setting: whether an invalid token is ignored (true) or answered with 400 (false).
     *
     * @param ignoreInvalid the ignore-invalid setting
     */
    public void setIgnoreInvalid(boolean ignoreInvalid) {
      this.ignoreInvalid = ignoreInvalid;
    }

    /**
     * Returns the setting: uRL patterns the token filter is registered on.
     *
     * @return the url-patterns setting
     */
    public List<String> getUrlPatterns() {
      return urlPatterns;
    }

    /**
     * Sets the setting: uRL patterns the token filter is registered on.
     *
     * @param urlPatterns the url-patterns setting
     */
    public void setUrlPatterns(List<String> urlPatterns) {
      this.urlPatterns = urlPatterns;
    }
  }
}
