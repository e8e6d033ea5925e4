package dev.shepherd.spring.boot.autoconfigure.cache;

/**
 * Told of every cache the {@link CoalescingCacheManager} creates; beans of this type are picked up
 * by the auto-configuration (the metrics auto-configuration binds each cache's meters with one).
 */
@FunctionalInterface
public interface CoalescingCacheListener {

  /**
   * Called once per cache, on the thread that first asked for it.
   *
   * @param cache the new cache
   */
  void created(CoalescingSpringCache cache);
}
