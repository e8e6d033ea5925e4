package dev.shepherd.spring.boot.autoconfigure.watch;

import dev.shepherd.watch.KvEntry;
import dev.shepherd.watch.Versioned;
import dev.shepherd.watch.WatchSource;
import java.time.Duration;
import java.util.Optional;

/** Consul's KV source with each entry's value as UTF-8 text, so every source gives {@code Optional<String>}. */
final class KvStrings implements WatchSource<Optional<String>> {

  private final WatchSource<Optional<KvEntry>> entries;

  KvStrings(WatchSource<Optional<KvEntry>> entries) {
    this.entries = entries;
  }

  @Override
  public Versioned<Optional<String>> fetch(String key, long minIndex, Duration maxWait) throws Exception {
    Versioned<Optional<KvEntry>> fetched = entries.fetch(key, minIndex, maxWait);
    return Versioned.of(fetched.value().flatMap(KvEntry::valueAsString), fetched.index());
  }

  @Override
  public void release(String key) {
    entries.release(key);
  }

  @Override
  public boolean multiplexesPerKey() {
    return entries.multiplexesPerKey();
  }

  @Override
  public String toString() {
    return entries.toString();
  }
}
