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

  public @Nullable SourceType getSource() {
    return source;
  }

  public void setSource(@Nullable SourceType source) {
    this.source = source;
  }

  public Duration getMaxWait() {
    return maxWait;
  }

  public void setMaxWait(Duration maxWait) {
    this.maxWait = maxWait;
  }

  public Duration getFailingThreshold() {
    return failingThreshold;
  }

  public void setFailingThreshold(Duration failingThreshold) {
    this.failingThreshold = failingThreshold;
  }

  public Duration getInitialWait() {
    return initialWait;
  }

  public void setInitialWait(Duration initialWait) {
    this.initialWait = initialWait;
  }

  public @Nullable Duration getBackoffInitial() {
    return backoffInitial;
  }

  public void setBackoffInitial(@Nullable Duration backoffInitial) {
    this.backoffInitial = backoffInitial;
  }

  public Duration getBackoffMax() {
    return backoffMax;
  }

  public void setBackoffMax(Duration backoffMax) {
    this.backoffMax = backoffMax;
  }

  public Etcd getEtcd() {
    return etcd;
  }

  public void setEtcd(Etcd etcd) {
    this.etcd = etcd;
  }

  public Consul getConsul() {
    return consul;
  }

  public void setConsul(Consul consul) {
    this.consul = consul;
  }

  public Map<String, Key> getKeys() {
    return keys;
  }

  public void setKeys(Map<String, Key> keys) {
    this.keys = keys;
  }

  /** One watched key. */
  public static class Key {

    /** The key in the source, for example config/checkout-v2. Required. */
    private @Nullable String key;

    /** A configuration property that takes the key's value while it exists (live configuration), for example features.checkout-v2; none when unset. */
    private @Nullable String property;

    public @Nullable String getKey() {
      return key;
    }

    public void setKey(@Nullable String key) {
      this.key = key;
    }

    public @Nullable String getProperty() {
      return property;
    }

    public void setProperty(@Nullable String property) {
      this.property = property;
    }
  }

  /** The etcd source. */
  public static class Etcd {

    /** etcd endpoints, for example http://127.0.0.1:2379. */
    private List<String> endpoints = new ArrayList<>(List.of("http://127.0.0.1:2379"));

    /** Bound on one read of a key. */
    private Duration requestTimeout = Duration.ofSeconds(5);

    public List<String> getEndpoints() {
      return endpoints;
    }

    public void setEndpoints(List<String> endpoints) {
      this.endpoints = endpoints;
    }

    public Duration getRequestTimeout() {
      return requestTimeout;
    }

    public void setRequestTimeout(Duration requestTimeout) {
      this.requestTimeout = requestTimeout;
    }
  }

  /** The Consul (HTTP blocking query) source. */
  public static class Consul {

    /** Base URI of the Consul agent (or compatible server). */
    private URI baseUri = URI.create("http://127.0.0.1:8500");

    /** ACL token sent with every request; none when unset. */
    private @Nullable String token;

    public URI getBaseUri() {
      return baseUri;
    }

    public void setBaseUri(URI baseUri) {
      this.baseUri = baseUri;
    }

    public @Nullable String getToken() {
      return token;
    }

    public void setToken(@Nullable String token) {
      this.token = token;
    }
  }
}
