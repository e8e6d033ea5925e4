package dev.shepherd.spring.boot.autoconfigure.watch;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * Settings of the watched keys, under {@code shepherd.watch}. Configuring one key under {@code
 * shepherd.watch.keys.<name>.key} turns the capability on. Bound once through the constructor, so
 * the settings cannot change after start-up.
 *
 * @param source Where the keys live. Required when keys are configured.
 * @param maxWait Longest a blocking query waits upstream before it is sent again.
 * @param failingThreshold Failing for longer than this marks a key stale (a Failing event, and
 *     health DOWN).
 * @param initialWait How long the start waits for each key's current value, so live configuration
 *     is bound before the application serves.
 * @param backoffInitial Wait before the watch loop asks again after a failure, doubling from this
 *     (with jitter) up to backoff-max; Consul's preset when unset (0 for three failures, then 1 s
 *     doubling, up to 60 s, plus up to 100 % stagger). With etcd, 100ms notices a recovered server
 *     sooner.
 * @param backoffMax Longest wait between attempts after failures, when backoff-initial is set.
 * @param etcd The etcd source.
 * @param consul The Consul (HTTP) source.
 * @param keys The watched keys by name.
 */
@ConfigurationProperties("shepherd.watch")
public record ShepherdWatchProperties(
    @Nullable SourceType source,
    @DefaultValue("5m") Duration maxWait,
    @DefaultValue("30s") Duration failingThreshold,
    @DefaultValue("5s") Duration initialWait,
    @Nullable Duration backoffInitial,
    @DefaultValue("60s") Duration backoffMax,
    @DefaultValue Etcd etcd,
    @DefaultValue Consul consul,
    @DefaultValue Map<String, Key> keys) {

  /** Where the watched keys live. */
  public enum SourceType {
    /** etcd v3, through jetcd (needs shepherd-watch-etcd): one etcd watch per key. */
    ETCD,
    /** Consul's KV HTTP API with blocking queries (also any server speaking it, such as Shepherd's BlockingQueryServlet). */
    CONSUL
  }

  /**
   * One watched key.
   *
   * @param key The key in the source, for example config/checkout-v2. Required.
   * @param property A configuration property that takes the key's value while it exists (live
   *     configuration), for example features.checkout-v2; none when unset.
   */
  public record Key(@Nullable String key, @Nullable String property) {}

  /**
   * The etcd source.
   *
   * @param endpoints etcd endpoints, for example http://127.0.0.1:2379.
   * @param requestTimeout Bound on one read of a key.
   */
  public record Etcd(
      @DefaultValue("http://127.0.0.1:2379") List<String> endpoints,
      @DefaultValue("5s") Duration requestTimeout) {}

  /**
   * The Consul (HTTP blocking query) source.
   *
   * @param baseUri Base URI of the Consul agent (or compatible server).
   * @param token ACL token sent with every request; none when unset.
   */
  public record Consul(@DefaultValue("http://127.0.0.1:8500") URI baseUri, @Nullable String token) {

    /** Shows the base URI but not the token, so that logging the settings does not leak it. */
    @Override
    public String toString() {
      return "Consul[baseUri=" + baseUri + ", token=" + (token == null ? null : "(hidden)") + "]";
    }
  }
}
