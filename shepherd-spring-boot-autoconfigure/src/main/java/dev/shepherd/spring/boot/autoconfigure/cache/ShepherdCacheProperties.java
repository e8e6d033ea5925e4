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

  public boolean isEnabled() {
    return enabled;
  }

  public void setEnabled(boolean enabled) {
    this.enabled = enabled;
  }

  public boolean isDynamic() {
    return dynamic;
  }

  public void setDynamic(boolean dynamic) {
    this.dynamic = dynamic;
  }

  public boolean isAllowNullValues() {
    return allowNullValues;
  }

  public void setAllowNullValues(boolean allowNullValues) {
    this.allowNullValues = allowNullValues;
  }

  public Spec getDefaults() {
    return defaults;
  }

  public void setDefaults(Spec defaults) {
    this.defaults = defaults;
  }

  public Map<String, Spec> getCaches() {
    return caches;
  }

  public void setCaches(Map<String, Spec> caches) {
    this.caches = caches;
  }

  /** The settings of one cache. A null field takes the default's value. */
  public static class Spec {

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

    public @Nullable Long getMaximumSize() {
      return maximumSize;
    }

    public void setMaximumSize(@Nullable Long maximumSize) {
      this.maximumSize = maximumSize;
    }

    public @Nullable Duration getTimeToLive() {
      return timeToLive;
    }

    public void setTimeToLive(@Nullable Duration timeToLive) {
      this.timeToLive = timeToLive;
    }

    public @Nullable Duration getCacheFailuresFor() {
      return cacheFailuresFor;
    }

    public void setCacheFailuresFor(@Nullable Duration cacheFailuresFor) {
      this.cacheFailuresFor = cacheFailuresFor;
    }

    public @Nullable Duration getServeStaleOnError() {
      return serveStaleOnError;
    }

    public void setServeStaleOnError(@Nullable Duration serveStaleOnError) {
      this.serveStaleOnError = serveStaleOnError;
    }

    public @Nullable Duration getLoadTimeout() {
      return loadTimeout;
    }

    public void setLoadTimeout(@Nullable Duration loadTimeout) {
      this.loadTimeout = loadTimeout;
    }

    public @Nullable Duration getWaitTimeout() {
      return waitTimeout;
    }

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
