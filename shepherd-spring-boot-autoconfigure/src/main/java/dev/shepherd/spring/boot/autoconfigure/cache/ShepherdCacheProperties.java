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
 */
@ConfigurationProperties("shepherd.cache")
public record ShepherdCacheProperties(
    @DefaultValue("true") boolean enabled,
    @DefaultValue("true") boolean dynamic,
    @DefaultValue("true") boolean allowNullValues,
    @DefaultValue Spec defaults,
    @DefaultValue Map<String, Spec> caches) {

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
   *     the method runs on Shepherd's loader threads, without them.
   */
  public record Spec(
      @Nullable Long maximumSize,
      @Nullable Duration timeToLive,
      @Nullable Duration cacheFailuresFor,
      @Nullable Duration serveStaleOnError,
      @Nullable Duration loadTimeout,
      @Nullable Duration waitTimeout,
      @Nullable Boolean loadOnCallingThread) {

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
      this(maximumSize, timeToLive, cacheFailuresFor, serveStaleOnError, loadTimeout, waitTimeout, null);
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
          or(loadOnCallingThread, defaults.loadOnCallingThread));
    }

    private static <T> @Nullable T or(@Nullable T own, @Nullable T fallback) {
      return own != null ? own : fallback;
    }
  }
}
