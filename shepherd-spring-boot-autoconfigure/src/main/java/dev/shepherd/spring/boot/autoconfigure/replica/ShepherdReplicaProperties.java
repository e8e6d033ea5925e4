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

  public boolean isEnabled() {
    return enabled;
  }

  public void setEnabled(boolean enabled) {
    this.enabled = enabled;
  }

  public Map<String, Replica> getReplicas() {
    return replicas;
  }

  public void setReplicas(Map<String, Replica> replicas) {
    this.replicas = replicas;
  }

  public Duration getMaxWait() {
    return maxWait;
  }

  public void setMaxWait(Duration maxWait) {
    this.maxWait = maxWait;
  }

  public Routing getRouting() {
    return routing;
  }

  public void setRouting(Routing routing) {
    this.routing = routing;
  }

  public Token getToken() {
    return token;
  }

  public void setToken(Token token) {
    this.token = token;
  }

  /** One replica: where it is, its pool and its tracker's timing. */
  public static class Replica {

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

    public @Nullable String getUrl() {
      return url;
    }

    public void setUrl(@Nullable String url) {
      this.url = url;
    }

    public @Nullable String getUsername() {
      return username;
    }

    public void setUsername(@Nullable String username) {
      this.username = username;
    }

    public @Nullable String getPassword() {
      return password;
    }

    public void setPassword(@Nullable String password) {
      this.password = password;
    }

    public int getMaximumPoolSize() {
      return maximumPoolSize;
    }

    public void setMaximumPoolSize(int maximumPoolSize) {
      this.maximumPoolSize = maximumPoolSize;
    }

    public Duration getConnectionTimeout() {
      return connectionTimeout;
    }

    public void setConnectionTimeout(Duration connectionTimeout) {
      this.connectionTimeout = connectionTimeout;
    }

    public Duration getMinPollInterval() {
      return minPollInterval;
    }

    public void setMinPollInterval(Duration minPollInterval) {
      this.minPollInterval = minPollInterval;
    }

    public Duration getMaxPollInterval() {
      return maxPollInterval;
    }

    public void setMaxPollInterval(Duration maxPollInterval) {
      this.maxPollInterval = maxPollInterval;
    }

    public Duration getQueryTimeout() {
      return queryTimeout;
    }

    public void setQueryTimeout(Duration queryTimeout) {
      this.queryTimeout = queryTimeout;
    }
  }

  /** The routing DataSource. */
  public static class Routing {

    /** Whether the application's primary DataSource bean is wrapped in a ReplicaRoutingDataSource. */
    private boolean enabled = true;

    /** Name of the DataSource bean to wrap. */
    private String dataSourceBeanName = "dataSource";

    /** Whether each read-write commit is followed by one query for its write position (needed for read-your-writes). */
    private boolean recordWrites = true;

    public boolean isEnabled() {
      return enabled;
    }

    public void setEnabled(boolean enabled) {
      this.enabled = enabled;
    }

    public String getDataSourceBeanName() {
      return dataSourceBeanName;
    }

    public void setDataSourceBeanName(String dataSourceBeanName) {
      this.dataSourceBeanName = dataSourceBeanName;
    }

    public boolean isRecordWrites() {
      return recordWrites;
    }

    public void setRecordWrites(boolean recordWrites) {
      this.recordWrites = recordWrites;
    }
  }

  /** The signed consistency token and its Servlet filter. */
  public static class Token {

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

    public String getSigningKeyId() {
      return signingKeyId;
    }

    public void setSigningKeyId(String signingKeyId) {
      this.signingKeyId = signingKeyId;
    }

    public @Nullable String getSigningSecret() {
      return signingSecret;
    }

    public void setSigningSecret(@Nullable String signingSecret) {
      this.signingSecret = signingSecret;
    }

    public Map<String, String> getVerificationKeys() {
      return verificationKeys;
    }

    public void setVerificationKeys(Map<String, String> verificationKeys) {
      this.verificationKeys = verificationKeys;
    }

    public String getHeader() {
      return header;
    }

    public void setHeader(String header) {
      this.header = header;
    }

    public String getCookie() {
      return cookie;
    }

    public void setCookie(String cookie) {
      this.cookie = cookie;
    }

    public boolean isSecureCookie() {
      return secureCookie;
    }

    public void setSecureCookie(boolean secureCookie) {
      this.secureCookie = secureCookie;
    }

    public Duration getCookieMaxAge() {
      return cookieMaxAge;
    }

    public void setCookieMaxAge(Duration cookieMaxAge) {
      this.cookieMaxAge = cookieMaxAge;
    }

    public boolean isIgnoreInvalid() {
      return ignoreInvalid;
    }

    public void setIgnoreInvalid(boolean ignoreInvalid) {
      this.ignoreInvalid = ignoreInvalid;
    }

    public List<String> getUrlPatterns() {
      return urlPatterns;
    }

    public void setUrlPatterns(List<String> urlPatterns) {
      this.urlPatterns = urlPatterns;
    }
  }
}
