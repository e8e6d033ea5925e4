package dev.shepherd.idempotency;

import java.util.Iterator;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * The tracker's optional local cache of completed responses: key to (fingerprint, response,
 * local expiry by the tracker's ticker). Bounded: past its size it drops expired entries, then
 * arbitrary ones. Thread-safe.
 */
final class ReplayCache {

  private record Entry(String fingerprint, Tracked.Completed completed, long expiresAtNanos) {}

  private final ConcurrentHashMap<String, Entry> entries = new ConcurrentHashMap<>();
  private final int maxEntries;
  private final long ttlNanos;

  ReplayCache(int maxEntries, long ttlNanos) {
    this.maxEntries = maxEntries;
    this.ttlNanos = ttlNanos;
  }

  Tracked.@Nullable Completed get(String key, String fingerprint, long now) {
    Entry entry = entries.get(key);
    if (entry == null) {
      return null;
    }
    if (now - entry.expiresAtNanos() >= 0) {
      entries.remove(key, entry);
      return null;
    }
    return entry.fingerprint().equals(fingerprint) ? entry.completed() : null;
  }

  /**
   * Caches a response.
   *
   * @param since a ticker reading taken before the store confirmed the record, so the local
   *     expiry is never later than the store's
   */
  void put(String key, String fingerprint, Tracked.Completed completed, long since) {
    entries.put(key, new Entry(fingerprint, completed, since + ttlNanos));
    if (entries.size() > maxEntries) {
      evict(since);
    }
  }

  private void evict(long now) {
    Iterator<Entry> it = entries.values().iterator();
    while (it.hasNext() && entries.size() > maxEntries) {
      Entry e = it.next();
      if (now - e.expiresAtNanos() >= 0) {
        it.remove();
      }
    }
    it = entries.values().iterator();
    while (it.hasNext() && entries.size() > maxEntries) {
      it.next();
      it.remove();
    }
  }

  int size() {
    return entries.size();
  }
}
