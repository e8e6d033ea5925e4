package dev.shepherd.watch.etcd;

import dev.shepherd.watch.WatchEvent;
import dev.shepherd.watch.WatchSink;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/** A sink shared by many subscriptions that records every event per correlation id. */
final class Recording implements WatchSink<Optional<String>> {

  final Map<String, List<WatchEvent.Update<Optional<String>>>> updates = new ConcurrentHashMap<>();
  final Map<String, List<WatchEvent<Optional<String>>>> others = new ConcurrentHashMap<>();

  @Override
  public void accept(WatchEvent<Optional<String>> event) {
    if (event instanceof WatchEvent.Update<Optional<String>> update) {
      updates.computeIfAbsent(event.correlationId(), id -> new CopyOnWriteArrayList<>()).add(update);
    } else {
      others.computeIfAbsent(event.correlationId(), id -> new CopyOnWriteArrayList<>()).add(event);
    }
  }

  /** Returns the latest value delivered to {@code correlationId}, if any. */
  Optional<WatchEvent.Update<Optional<String>>> last(String correlationId) {
    List<WatchEvent.Update<Optional<String>>> list = updates.get(correlationId);
    return list == null || list.isEmpty() ? Optional.empty() : Optional.of(list.get(list.size() - 1));
  }

  /** Returns the indexes delivered to {@code correlationId}, in order. */
  List<Long> indexes(String correlationId) {
    return updates.getOrDefault(correlationId, List.of()).stream().map(WatchEvent.Update::index).toList();
  }
}
