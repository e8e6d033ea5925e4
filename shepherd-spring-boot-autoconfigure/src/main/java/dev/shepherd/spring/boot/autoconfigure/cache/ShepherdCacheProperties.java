package dev.shepherd.spring.boot.autoconfigure.cache;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * Settings of the coalescing {@code CacheManager}, under {@code shepherd.cache}: defaults for every
 * cache, and per-cache settings under {@code shepherd.cache.caches.<name>}.
 */
@ConfigurationProperties("shepherd.cache")
public class ShepherdCacheProperties {
  /** Creates the settings, with their defaults. */
  public ShepherdCacheProperties() {}


  /** Whether to install the coalescing CacheManager when the application enables caching. */
  private boolean enabled = true;

  /**
   * Whether a cache name that is not configured under shepherd.cache.caches gets a cache with the
   * default settings (true), or is an error at its first use (false).
   */
  private boolean dynamic = true;

  /** Whether null results are cached (as Spring's NullValue) instead of failing the load. */
  private boolean allowNullValues = true;

  /** Settings of caches created with no settings of their own. */
  private Spec defaults = new Spec();

  /** Settings per cache name; unset fields take shepherd.cache.defaults. */
  private Map<String, Spec> caches = new LinkedHashMap<>();

  /**
   * Returns the setting: whether to install the coalescing CacheManager when the application
   * enables caching.
   *
   * @return the enabled setting
   */
  public boolean isEnabled() {
    return enabled;
  }

  /**
   * Sets the setting: whether to install the coalescing CacheManager when the application enables
   * caching.
   *
   * @param enabled the enabled setting
   */
  public void setEnabled(boolean enabled) {
    this.enabled = enabled;
  }

  /**
   * Returns the setting: whether a cache name that is not configured under shepherd.cache.caches
   * gets a cache with the default settings (true), or is an error at its first use (false).
   *
   * @return the dynamic setting
   */
  public boolean isDynamic() {
    return dynamic;
  }

  /**
   * Sets the setting: whether a cache name that is not configured under shepherd.cache.caches gets
   * a cache with the default settings (true), or is an error at its first use (false).
   *
   * @param dynamic the dynamic setting
   */
  public void setDynamic(boolean dynamic) {
    this.dynamic = dynamic;
  }

  /**
   * Returns the setting: whether null results are cached (as Spring's NullValue) instead of
   * failing the load.
   *
   * @return the allow-null-values setting
   */
  public boolean isAllowNullValues() {
    return allowNullValues;
  }

  /**
   * Sets the setting: whether null results are cached (as Spring's NullValue) instead of failing
   * the load.
   *
   * @param allowNullValues the allow-null-values setting
   */
  public void setAllowNullValues(boolean allowNullValues) {
    this.allowNullValues = allowNullValues;
  }

  /**
   * Returns the setting: settings of caches created with no settings of their own.
   *
   * @return the defaults setting
   */
  public Spec getDefaults() {
    return defaults;
  }

  /**
   * Sets the setting: settings of caches created with no settings of their own.
   *
   * @param defaults the defaults setting
   */
  public void setDefaults(Spec defaults) {
    this.defaults = defaults;
  }

  /**
   * Returns the setting: settings per cache name; unset fields take shepherd.cache.defaults.
   *
   * @return the caches setting
   */
  public Map<String, Spec> getCaches() {
    return caches;
  }

  /**
   * Sets the setting: settings per cache name; unset fields take shepherd.cache.defaults.
   *
   * @param caches the caches setting
   */
  public void setCaches(Map<String, Spec> caches) {
    this.caches = caches;
  }

  /** The settings of one cache. A null field takes the default's value. */
  public static class Spec {
    /** Creates the settings, with their defaults. */
    public Spec() {}


    /** Most entries kept (W-TinyLFU eviction); unbounded when unset. */
    private @Nullable Long maximumSize;

    /** How long a loaded value stays fresh; forever when unset. */
    private @Nullable Duration timeToLive;

    /** How long a failed load is kept and answered without loading again; off when unset. */
    private @Nullable Duration cacheFailuresFor;

    /** How long an expired value is kept to answer when a reload fails; off when unset. */
    private @Nullable Duration serveStaleOnError;

    /** A load running longer fails every caller waiting for it; 1 minute when unset. */
    private @Nullable Duration loadTimeout;

    /** How long one caller waits for a load before it gets an error (the load goes on); no bound when unset. */
    private @Nullable Duration waitTimeout;

    /**
     * Returns the setting: most entries kept (W-TinyLFU eviction); unbounded when unset.
     *
     * @return the maximum-size setting
     */
    public @Nullable Long getMaximumSize() {
      return maximumSize;
    }

    /**
     * Sets the setting: most entries kept (W-TinyLFU eviction); unbounded when unset.
     *
     * @param maximumSize the maximum-size setting
     */
    public void setMaximumSize(@Nullable Long maximumSize) {
      this.maximumSize = maximumSize;
    }

    /**
     * Returns the setting: how long a loaded value stays fresh; forever when unset.
     *
     * @return the time-to-live setting
     */
    public @Nullable Duration getTimeToLive() {
      return timeToLive;
    }

    /**
     * Sets the setting: how long a loaded value stays fresh; forever when unset.
     *
     * @param timeToLive the time-to-live setting
     */
    public void setTimeToLive(@Nullable Duration timeToLive) {
      this.timeToLive = timeToLive;
    }

    /**
     * Returns the setting: how long a failed load is kept and answered without loading again; off
     * when unset.
     *
     * @return the cache-failures-for setting
     */
    public @Nullable Duration getCacheFailuresFor() {
      return cacheFailuresFor;
    }

    /**
     * Sets the setting: how long a failed load is kept and answered without loading again; off
     * when unset.
     *
     * @param cacheFailuresFor the cache-failures-for setting
     */
    public void setCacheFailuresFor(@Nullable Duration cacheFailuresFor) {
      this.cacheFailuresFor = cacheFailuresFor;
    }

    /**
     * Returns the setting: how long an expired value is kept to answer when a reload fails; off
     * when unset.
     *
     * @return the serve-stale-on-error setting
     */
    public @Nullable Duration getServeStaleOnError() {
      return serveStaleOnError;
    }

    /**
     * Sets the setting: how long an expired value is kept to answer when a reload fails; off when
     * unset.
     *
     * @param serveStaleOnError the serve-stale-on-error setting
     */
    public void setServeStaleOnError(@Nullable Duration serveStaleOnError) {
      this.serveStaleOnError = serveStaleOnError;
    }

    /**
     * Returns the setting: a load running longer fails every caller waiting for it; 1 minute when
     * unset.
     *
     * @return the load-timeout setting
     */
    public @Nullable Duration getLoadTimeout() {
      return loadTimeout;
    }

    /**
     * Sets the setting: a load running longer fails every caller waiting for it; 1 minute when
     * unset.
     *
     * @param loadTimeout the load-timeout setting
     */
    public void setLoadTimeout(@Nullable Duration loadTimeout) {
      this.loadTimeout = loadTimeout;
    }

    /**
     * Returns the setting: how long one caller waits for a load before it gets an error (the load
     * goes on); no bound when unset.
     *
     * @return the wait-timeout setting
     */
    public @Nullable Duration getWaitTimeout() {
      return waitTimeout;
    }

    /**
     * Sets the setting: how long one caller waits for a load before it gets an error (the load
     * goes on); no bound when unset.
     *
     * @param waitTimeout the wait-timeout setting
     */
    public void setWaitTimeout(@Nullable Duration waitTimeout) {
      this.waitTimeout = waitTimeout;
    }

    /** Returns this spec with every unset field taken from {@code defaults}. */
    Spec orElse(Spec defaults) {
      Spec merged = new Spec();
      merged.maximumSize = maximumSize != null ? maximumSize : defaults.maximumSize;
      merged.timeToLive = timeToLive != null ? timeToLive : defaults.timeToLive;
      merged.cacheFailuresFor = cacheFailuresFor != null ? cacheFailuresFor : defaults.cacheFailuresFor;
      merged.serveStaleOnError = serveStaleOnError != null ? serveStaleOnError : defaults.serveStaleOnError;
      merged.loadTimeout = loadTimeout != null ? loadTimeout : defaults.loadTimeout;
      merged.waitTimeout = waitTimeout != null ? waitTimeout : defaults.waitTimeout;
      return merged;
    }
  }
}
