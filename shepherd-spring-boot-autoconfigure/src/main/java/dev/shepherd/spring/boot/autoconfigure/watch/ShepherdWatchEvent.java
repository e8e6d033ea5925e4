package dev.shepherd.spring.boot.autoconfigure.watch;

import dev.shepherd.watch.WatchEvent;
import java.util.Optional;
import org.springframework.context.ApplicationEvent;

/**
 * A change (or failure, or recovery) of a watched key, published to the application context:
 * listen with {@code @EventListener void on(ShepherdWatchEvent event)}. Listeners run on the
 * key's delivery thread, one event at a time per key.
 */
public final class ShepherdWatchEvent extends ApplicationEvent {

  private static final long serialVersionUID = 1L;

  private final String name;
  private final transient WatchEvent<Optional<String>> event;

  /**
   * Creates the event.
   *
   * @param source the publisher
   * @param name the key's name under {@code shepherd.watch.keys}
   * @param event what happened
   */
  public ShepherdWatchEvent(Object source, String name, WatchEvent<Optional<String>> event) {
    super(source);
    this.name = name;
    this.event = event;
  }

  /**
   * Returns the key's configured name.
   *
   * @return the name under {@code shepherd.watch.keys}
   */
  public String name() {
    return name;
  }

  /**
   * Returns what happened: switch over {@code Update}, {@code Failing} and {@code Recovered}.
   *
   * @return the watch event; an update's value is empty when the key does not exist
   */
  public WatchEvent<Optional<String>> event() {
    return event;
  }

  /**
   * Returns the new value when this is an update.
   *
   * @return the value, empty for a deleted key and for failure or recovery events
   */
  public Optional<String> value() {
    return event instanceof WatchEvent.Update<Optional<String>> update ? update.value() : Optional.empty();
  }
}
