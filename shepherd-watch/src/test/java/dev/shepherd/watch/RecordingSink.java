package dev.shepherd.watch;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A thread-safe sink that keeps every event it received. */
final class RecordingSink<V> implements WatchSink<V> {

  final List<WatchEvent<V>> events = new CopyOnWriteArrayList<>();

  @Override
  public void accept(WatchEvent<V> event) {
    events.add(event);
  }

  List<WatchEvent.Update<V>> updates() {
    List<WatchEvent.Update<V>> updates = new ArrayList<>();
    for (WatchEvent<V> e : events) {
      if (e instanceof WatchEvent.Update<V> u) {
        updates.add(u);
      }
    }
    return updates;
  }

  List<V> values() {
    return updates().stream().map(WatchEvent.Update::value).toList();
  }

  List<Long> indexes() {
    return updates().stream().map(WatchEvent.Update::index).toList();
  }
}
