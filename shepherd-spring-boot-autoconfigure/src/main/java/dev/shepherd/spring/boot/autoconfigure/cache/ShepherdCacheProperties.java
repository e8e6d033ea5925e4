package dev.shepherd.spring.boot.autoconfigure.cache;

import java.time.Duration;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.ConstructorBinding;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * Settings of the coalescing {@code CacheManager}, under {@code shepherd.cache}: defaults for every
 * cache, and per-cache settings under {@code shepherd.cache.caches.<name>}. Bound once through the
 * constructor, so the settings cannot change after start-up.
 *
 * @param enabled Whether to install the coalescing CacheManager when the application enables
 *     caching.
 * @param dynamic Whether a cache name that is not configured under shepherd.cache.caches gets a
 *     cache with the default settings (true), or is an error at its first use (false).
 * @param allowNullValues Whether null results are cached (as Spring's NullValue) instead of failing
 *     the load.
 * @param defaults Settings of caches created with no settings of their own.
 * @param caches Settings per cache name; unset fields take shepherd.cache.defaults.
 * @param cluster Cluster mode: one load per key across every JVM sharing one Redis (needs
 *     shepherd-cache-redis and a Lettuce client).
 */
@ConfigurationProperties("shepherd.cache")
public record ShepherdCacheProperties(
    @DefaultValue("true") boolean enabled,
    @DefaultValue("true") boolean dynamic,
    @DefaultValue("true") boolean allowNullValues,
    @DefaultValue Spec defaults,
    @DefaultValue Map<String, Spec> caches,
    @DefaultValue Cluster cluster) {

  /** The constructor the binder uses (a record's canonical one). */
  @ConstructorBinding
  public ShepherdCacheProperties {}

  /**
   * The settings as they were bound before cluster mode existed: no cache is clustered.
   *
   * @param enabled whether the coalescing CacheManager is installed
   * @param dynamic whether unconfigured cache names get a cache with the defaults
   * @param allowNullValues whether null results are cached
   * @param defaults settings of caches with no settings of their own
   * @param caches settings per cache name
   */
  public ShepherdCacheProperties(boolean enabled, boolean dynamic, boolean allowNullValues, Spec defaults, Map<String, Spec> caches) {
    this(enabled, dynamic, allowNullValues, defaults, caches, new Cluster(false));
  }

  /**
   * The switch of cluster mode, {@code shepherd.cache.cluster.*}.
   *
   * @param enabled Whether caches coalesce across JVMs through Redis (shepherd-cache-redis): each
   *     cache whose cluster.enabled is not false gets a RedisCourier, and needs a cluster.value-type.
   */
  public record Cluster(@DefaultValue("false") boolean enabled) {}

  /**
   * The cluster settings of one cache ({@code shepherd.cache.defaults.cluster.*}, {@code
   * shepherd.cache.caches.<name>.cluster.*}). A null field takes the default's value.
   *
   * @param enabled Whether this cache is clustered when shepherd.cache.cluster.enabled is true; true
   *     when unset.
   * @param valueType Fully qualified class of the cache's values, the only type the JSON codec reads
   *     from Redis; required for a clustered cache.
   * @param keyPrefix Prefix of every Redis key and channel of the cache; shepherd:cache: when unset.
   * @param lease How long after its last renewal another JVM may take a load over; 10 seconds when
   *     unset.
   * @param commandTimeout Bound of every Redis command; past it the cache coalesces in its JVM only
   *     until Redis answers again; 500 milliseconds when unset.
   * @param maxValueBytes Largest encoded value kept in Redis and sent to other JVMs (larger ones are
   *     loaded by each JVM); 1 MiB when unset.
   * @param shareFailureMessages Whether a failed load's message goes to Redis and the other JVMs, or
   *     only the error's class; true when unset.
   */
  public record ClusterSpec(
      @Nullable Boolean enabled,
      @Nullable String valueType,
      @Nullable String keyPrefix,
      @Nullable Duration lease,
      @Nullable Duration commandTimeout,
      @Nullable Integer maxValueBytes,
      @Nullable Boolean shareFailureMessages) {

    /** Returns this spec with every unset field taken from {@code defaults}. */
    ClusterSpec orElse(@Nullable ClusterSpec defaults) {
      if (defaults == null) {
        return this;
      }
      return new ClusterSpec(
          Spec.or(enabled, defaults.enabled),
          Spec.or(valueType, defaults.valueType),
          Spec.or(keyPrefix, defaults.keyPrefix),
          Spec.or(lease, defaults.lease),
          Spec.or(commandTimeout, defaults.commandTimeout),
          Spec.or(maxValueBytes, defaults.maxValueBytes),
          Spec.or(shareFailureMessages, defaults.shareFailureMessages));
    }
  }

  /**
   * The settings of one cache. A null field takes the default's value.
   *
   * @param maximumSize Most entries kept (W-TinyLFU eviction); unbounded when unset.
   * @param timeToLive How long a loaded value stays fresh; forever when unset.
   * @param cacheFailuresFor How long a failed load is kept and answered without loading again; off
   *     when unset.
   * @param serveStaleOnError How long an expired value is kept to answer when a reload fails; off
   *     when unset.
   * @param loadTimeout A load running longer fails every caller waiting for it; 1 minute when unset.
   * @param waitTimeout How long one caller waits for a load before it gets an error (the load goes
   *     on); no bound when unset.
   * @param loadOnCallingThread Whether the caller that starts a load without a wait-timeout runs the
   *     cached method on its own thread, inside its transaction and with its security and request
   *     context, as Spring's other caches do; true when unset. With a wait-timeout, or when false,
   *     the method runs on Shepherd's loader threads, without them. A clustered cache needs it
   *     false (its loads run where its RedisCourier puts them).
   * @param cluster Cluster mode of this cache (with shepherd.cache.cluster.enabled).
   */
  public record Spec(
      @Nullable Long maximumSize,
      @Nullable Duration timeToLive,
      @Nullable Duration cacheFailuresFor,
      @Nullable Duration serveStaleOnError,
      @Nullable Duration loadTimeout,
      @Nullable Duration waitTimeout,
      @Nullable Boolean loadOnCallingThread,
      @Nullable ClusterSpec cluster) {

    /**
     * The settings as they were bound before {@code loadOnCallingThread} existed.
     *
     * @param maximumSize most entries kept, or null
     * @param timeToLive how long a loaded value stays fresh, or null
     * @param cacheFailuresFor how long a failed load is kept, or null
     * @param serveStaleOnError how long an expired value is kept to answer a failed reload, or null
     * @param loadTimeout the longest a load may run, or null
     * @param waitTimeout how long one caller waits for a load, or null
     */
    public Spec(
        @Nullable Long maximumSize,
        @Nullable Duration timeToLive,
        @Nullable Duration cacheFailuresFor,
        @Nullable Duration serveStaleOnError,
        @Nullable Duration loadTimeout,
        @Nullable Duration waitTimeout) {
      this(maximumSize, timeToLive, cacheFailuresFor, serveStaleOnError, loadTimeout, waitTimeout, null, null);
    }

    /**
     * The settings as they were bound before {@code cluster} existed.
     *
     * @param maximumSize most entries kept, or null
     * @param timeToLive how long a loaded value stays fresh, or null
     * @param cacheFailuresFor how long a failed load is kept, or null
     * @param serveStaleOnError how long an expired value is kept to answer a failed reload, or null
     * @param loadTimeout the longest a load may run, or null
     * @param waitTimeout how long one caller waits for a load, or null
     * @param loadOnCallingThread whether the caller that starts a load runs it, or null
     */
    public Spec(
        @Nullable Long maximumSize,
        @Nullable Duration timeToLive,
        @Nullable Duration cacheFailuresFor,
        @Nullable Duration serveStaleOnError,
        @Nullable Duration loadTimeout,
        @Nullable Duration waitTimeout,
        @Nullable Boolean loadOnCallingThread) {
      this(maximumSize, timeToLive, cacheFailuresFor, serveStaleOnError, loadTimeout, waitTimeout, loadOnCallingThread, null);
    }

    /** The constructor the binder uses (a record's canonical one). */
    @ConstructorBinding
    public Spec {}

    /** Returns this spec with every unset field taken from {@code defaults}. */
    Spec orElse(Spec defaults) {
      return new Spec(
          or(maximumSize, defaults.maximumSize),
          or(timeToLive, defaults.timeToLive),
          or(cacheFailuresFor, defaults.cacheFailuresFor),
          or(serveStaleOnError, defaults.serveStaleOnError),
          or(loadTimeout, defaults.loadTimeout),
          or(waitTimeout, defaults.waitTimeout),
          or(loadOnCallingThread, defaults.loadOnCallingThread),
          cluster != null ? cluster.orElse(defaults.cluster) : defaults.cluster);
    }

    static <T> @Nullable T or(@Nullable T own, @Nullable T fallback) {
      return own != null ? own : fallback;
    }
  }
}
