package dev.shepherd.spring.boot.autoconfigure.watch;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * Settings of the watched keys, under {@code shepherd.watch}. Configuring one key under {@code
 * shepherd.watch.keys.<name>.key} turns the capability on.
 */
@ConfigurationProperties("shepherd.watch")
public class ShepherdWatchProperties {
  /** Creates the settings, with their defaults. */
  public ShepherdWatchProperties() {}


  /** Where the watched keys live. */
  public enum SourceType {
    /** etcd v3, through jetcd (needs shepherd-watch-etcd): one etcd watch per key. */
    ETCD,
    /** Consul's KV HTTP API with blocking queries (also any server speaking it, such as Shepherd's BlockingQueryServlet). */
    CONSUL
  }

  /** Where the keys live. Required when keys are configured. */
  private @Nullable SourceType source;

  /** Longest a blocking query waits upstream before it is sent again. */
  private Duration maxWait = Duration.ofMinutes(5);

  /** Failing for longer than this marks a key stale (a Failing event, and health DOWN). */
  private Duration failingThreshold = Duration.ofSeconds(30);

  /** How long the start waits for each key's current value, so live configuration is bound before the application serves. */
  private Duration initialWait = Duration.ofSeconds(5);

  /**
   * Wait before the watch loop asks again after a failure, doubling from this (with jitter) up to
   * backoff-max; Consul's preset when unset (0 for three failures, then 1 s doubling, up to 60 s,
   * plus up to 100 % stagger). With etcd, 100ms notices a recovered server sooner.
   */
  private @Nullable Duration backoffInitial;

  /** Longest wait between attempts after failures, when backoff-initial is set. */
  private Duration backoffMax = Duration.ofSeconds(60);

  /** The etcd source. */
  private Etcd etcd = new Etcd();

  /** The Consul (HTTP) source. */
  private Consul consul = new Consul();

  /** The watched keys by name. */
  private Map<String, Key> keys = new LinkedHashMap<>();

  /**
   * Returns the setting: where the keys live. Required when keys are configured.
   *
   * @return the source setting
   */
  public @Nullable SourceType getSource() {
    return source;
  }

  /**
   * Sets the setting: where the keys live. Required when keys are configured.
   *
   * @param source the source setting
   */
  public void setSource(@Nullable SourceType source) {
    this.source = source;
  }

  /**
   * Returns the setting: longest a blocking query waits upstream before it is sent again.
   *
   * @return the max-wait setting
   */
  public Duration getMaxWait() {
    return maxWait;
  }

  /**
   * Sets the setting: longest a blocking query waits upstream before it is sent again.
   *
   * @param maxWait the max-wait setting
   */
  public void setMaxWait(Duration maxWait) {
    this.maxWait = maxWait;
  }

  /**
   * Returns the setting: failing for longer than this marks a key stale (a Failing event, and
   * health DOWN).
   *
   * @return the failing-threshold setting
   */
  public Duration getFailingThreshold() {
    return failingThreshold;
  }

  /**
   * Sets the setting: failing for longer than this marks a key stale (a Failing event, and health
   * DOWN).
   *
   * @param failingThreshold the failing-threshold setting
   */
  public void setFailingThreshold(Duration failingThreshold) {
    this.failingThreshold = failingThreshold;
  }

  /**
   * Returns the setting: how long the start waits for each key's current value, so live
   * configuration is bound before the application serves.
   *
   * @return the initial-wait setting
   */
  public Duration getInitialWait() {
    return initialWait;
  }

  /**
   * Sets the setting: how long the start waits for each key's current value, so live configuration
   * is bound before the application serves.
   *
   * @param initialWait the initial-wait setting
   */
  public void setInitialWait(Duration initialWait) {
    this.initialWait = initialWait;
  }

  /**
   * Returns the setting: wait before the watch loop asks again after a failure, doubling from this
   * (with jitter) up to backoff-max; Consul's preset when unset (0 for three failures, then 1 s
   * doubling, up to 60 s, plus up to 100 % stagger). With etcd, 100ms notices a recovered server
   * sooner.
   *
   * @return the backoff-initial setting
   */
  public @Nullable Duration getBackoffInitial() {
    return backoffInitial;
  }

  /**
   * Sets the setting: wait before the watch loop asks again after a failure, doubling from this
   * (with jitter) up to backoff-max; Consul's preset when unset (0 for three failures, then 1 s
   * doubling, up to 60 s, plus up to 100 % stagger). With etcd, 100ms notices a recovered server
   * sooner.
   *
   * @param backoffInitial the backoff-initial setting
   */
  public void setBackoffInitial(@Nullable Duration backoffInitial) {
    this.backoffInitial = backoffInitial;
  }

  /**
   * Returns the setting: longest wait between attempts after failures, when backoff-initial is
   * set.
   *
   * @return the backoff-max setting
   */
  public Duration getBackoffMax() {
    return backoffMax;
  }

  /**
   * Sets the setting: longest wait between attempts after failures, when backoff-initial is set.
   *
   * @param backoffMax the backoff-max setting
   */
  public void setBackoffMax(Duration backoffMax) {
    this.backoffMax = backoffMax;
  }

  /**
   * Returns the setting: the etcd source.
   *
   * @return the etcd setting
   */
  public Etcd getEtcd() {
    return etcd;
  }

  /**
   * Sets the setting: the etcd source.
   *
   * @param etcd the etcd setting
   */
  public void setEtcd(Etcd etcd) {
    this.etcd = etcd;
  }

  /**
   * Returns the setting: the Consul (HTTP) source.
   *
   * @return the consul setting
   */
  public Consul getConsul() {
    return consul;
  }

  /**
   * Sets the setting: the Consul (HTTP) source.
   *
   * @param consul the consul setting
   */
  public void setConsul(Consul consul) {
    this.consul = consul;
  }

  /**
   * Returns the setting: the watched keys by name.
   *
   * @return the keys setting
   */
  public Map<String, Key> getKeys() {
    return keys;
  }

  /**
   * Sets the setting: the watched keys by name.
   *
   * @param keys the keys setting
   */
  public void setKeys(Map<String, Key> keys) {
    this.keys = keys;
  }

  /** One watched key. */
  public static class Key {
    /** Creates the settings, with their defaults. */
    public Key() {}


    /** The key in the source, for example config/checkout-v2. Required. */
    private @Nullable String key;

    /** A configuration property that takes the key's value while it exists (live configuration), for example features.checkout-v2; none when unset. */
    private @Nullable String property;

    /**
     * Returns the setting: the key in the source, for example config/checkout-v2. Required.
     *
     * @return the key setting
     */
    public @Nullable String getKey() {
      return key;
    }

    /**
     * Sets the setting: the key in the source, for example config/checkout-v2. Required.
     *
     * @param key the key setting
     */
    public void setKey(@Nullable String key) {
      this.key = key;
    }

    /**
     * Returns the setting: a configuration property that takes the key's value while it exists
     * (live configuration), for example features.checkout-v2; none when unset.
     *
     * @return the property setting
     */
    public @Nullable String getProperty() {
      return property;
    }

    /**
     * Sets the setting: a configuration property that takes the key's value while it exists (live
     * configuration), for example features.checkout-v2; none when unset.
     *
     * @param property the property setting
     */
    public void setProperty(@Nullable String property) {
      this.property = property;
    }
  }

  /** The etcd source. */
  public static class Etcd {
    /** Creates the settings, with their defaults. */
    public Etcd() {}


    /** etcd endpoints, for example http://127.0.0.1:2379. */
    private List<String> endpoints = new ArrayList<>(List.of("http://127.0.0.1:2379"));

    /** Bound on one read of a key. */
    private Duration requestTimeout = Duration.ofSeconds(5);

    /**
     * Returns the setting: etcd endpoints, for example http://127.0.0.1:2379.
     *
     * @return the endpoints setting
     */
    public List<String> getEndpoints() {
      return endpoints;
    }

    /**
     * Sets the setting: etcd endpoints, for example http://127.0.0.1:2379.
     *
     * @param endpoints the endpoints setting
     */
    public void setEndpoints(List<String> endpoints) {
      this.endpoints = endpoints;
    }

    /**
     * Returns the setting: bound on one read of a key.
     *
     * @return the request-timeout setting
     */
    public Duration getRequestTimeout() {
      return requestTimeout;
    }

    /**
     * Sets the setting: bound on one read of a key.
     *
     * @param requestTimeout the request-timeout setting
     */
    public void setRequestTimeout(Duration requestTimeout) {
      this.requestTimeout = requestTimeout;
    }
  }

  /** The Consul (HTTP blocking query) source. */
  public static class Consul {
    /** Creates the settings, with their defaults. */
    public Consul() {}


    /** Base URI of the Consul agent (or compatible server). */
    private URI baseUri = URI.create("http://127.0.0.1:8500");

    /** ACL token sent with every request; none when unset. */
    private @Nullable String token;

    /**
     * Returns the setting: base URI of the Consul agent (or compatible server).
     *
     * @return the base-uri setting
     */
    public URI getBaseUri() {
      return baseUri;
    }

    /**
     * Sets the setting: base URI of the Consul agent (or compatible server).
     *
     * @param baseUri the base-uri setting
     */
    public void setBaseUri(URI baseUri) {
      this.baseUri = baseUri;
    }

    /**
     * Returns the setting: aCL token sent with every request; none when unset.
     *
     * @return the token setting
     */
    public @Nullable String getToken() {
      return token;
    }

    /**
     * Sets the setting: aCL token sent with every request; none when unset.
     *
     * @param token the token setting
     */
    public void setToken(@Nullable String token) {
      this.token = token;
    }
  }
}
