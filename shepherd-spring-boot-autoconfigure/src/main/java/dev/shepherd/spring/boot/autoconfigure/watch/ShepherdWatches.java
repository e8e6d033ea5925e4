package dev.shepherd.spring.boot.autoconfigure.watch;

import dev.shepherd.watch.Subscription;
import dev.shepherd.watch.WatchEvent;
import dev.shepherd.watch.WatchSource;
import dev.shepherd.watch.Watcher;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.boot.context.properties.ConfigurationPropertiesBean;
import org.springframework.boot.context.properties.bind.BindMethod;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.context.ApplicationContext;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.env.MapPropertySource;

/**
 * The watched keys of {@code shepherd.watch.keys}: one {@link Watcher} over the configured source,
 * a subscription per key started once every bean exists, each event published as a
 * {@link ShepherdWatchEvent}, and each key with a {@code property} kept as that configuration
 * property (in the property source {@value #PROPERTY_SOURCE}, ahead of every other) with the
 * {@code @ConfigurationProperties} beans under it bound again on every change.
 *
 * <p>Beans bound again are changed on the watch's delivery thread: fields that other threads read
 * should be {@code volatile}. Only JavaBean-style beans (setters) are bound again; constructor-bound
 * ones keep their start-up values. A deleted key removes the property, and beans keep the value they
 * had. Closed on shutdown: subscriptions, the watcher, the source, then its client.
 */
public final class ShepherdWatches implements SmartInitializingSingleton, DisposableBean {

  /** Name of the property source that holds the watched values. */
  public static final String PROPERTY_SOURCE = "shepherdWatch";

  private static final System.Logger LOG = System.getLogger(ShepherdWatches.class.getName());

  /**
   * A source and what closes it, in order.
   *
   * @param source the source of the watcher
   * @param closeables what closes the source and its client, in order
   */
  public record Opened(WatchSource<Optional<String>> source, List<AutoCloseable> closeables) {}

  private final ShepherdWatchProperties properties;
  private final Watcher<Optional<String>> watcher;
  private final List<AutoCloseable> closeables;
  private final ApplicationContext context;
  private final ConfigurableEnvironment environment;
  private final Map<String, Object> values = new ConcurrentHashMap<>();
  private final Map<String, Subscription<Optional<String>>> subscriptions = new LinkedHashMap<>();

  /**
   * Creates the watches; they start once every bean of the context exists.
   *
   * @param properties the keys and their properties
   * @param watcher the watcher over the source, closed on shutdown
   * @param closeables the source and its client, closed after the watcher
   * @param context where events are published and beans bound again
   * @param environment where the watched values become properties
   */
  public ShepherdWatches(ShepherdWatchProperties properties, Watcher<Optional<String>> watcher, List<AutoCloseable> closeables,
      ApplicationContext context, ConfigurableEnvironment environment) {
    this.properties = properties;
    this.watcher = watcher;
    this.closeables = List.copyOf(closeables);
    this.context = context;
    this.environment = environment;
    environment.getPropertySources().addFirst(new MapPropertySource(PROPERTY_SOURCE, values));
  }

  /**
   * Returns the watcher, for watching more keys from code.
   *
   * @return the watcher
   */
  public Watcher<Optional<String>> watcher() {
    return watcher;
  }

  /**
   * Returns the subscription of every configured key, by name (for their health).
   *
   * @return the subscriptions
   */
  public synchronized Map<String, Subscription<Optional<String>>> subscriptions() {
    return Map.copyOf(subscriptions);
  }

  /** Subscribes to every key, then waits up to the initial wait for their current values. */
  @Override
  public void afterSingletonsInstantiated() {
    CountDownLatch first = new CountDownLatch(properties.keys().size());
    synchronized (this) {
      properties.keys().forEach((name, key) -> {
        boolean[] seen = {false};
        String watched = java.util.Objects.requireNonNull(key.key(), () -> "shepherd.watch.keys." + name + ".key is not set");
        subscriptions.put(name, watcher.watch(watched, name, event -> {
          deliver(name, key, event);
          if (!seen[0] && event instanceof WatchEvent.Update) {
            seen[0] = true;
            first.countDown();
          }
        }));
      });
    }
    try {
      if (!first.await(properties.initialWait().toNanos(), TimeUnit.NANOSECONDS)) {
        LOG.log(System.Logger.Level.WARNING, "shepherd.watch: not every key's value arrived within shepherd.watch.initial-wait ("
            + properties.initialWait() + "); they are bound when they arrive");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void deliver(String name, ShepherdWatchProperties.Key key, WatchEvent<Optional<String>> event) {
    String property = key.property();
    if (property != null && event instanceof WatchEvent.Update<Optional<String>> update) {
      if (update.value().isPresent()) {
        values.put(property, update.value().get());
      } else {
        values.remove(property);
      }
      rebind(property);
    }
    context.publishEvent(new ShepherdWatchEvent(this, name, event));
  }

  private void rebind(String property) {
    Binder binder = Binder.get(environment);
    for (ConfigurationPropertiesBean bean : ConfigurationPropertiesBean.getAll(context).values()) {
      String prefix = bean.getAnnotation().prefix().isEmpty() ? bean.getAnnotation().value() : bean.getAnnotation().prefix();
      if (!property.startsWith(prefix + ".") || bean.asBindTarget().getBindMethod() != BindMethod.JAVA_BEAN) {
        continue;
      }
      Object instance = bean.getInstance();
      if (instance == null) {
        continue;
      }
      try {
        binder.bind(prefix, Bindable.ofInstance(instance));
      } catch (RuntimeException e) {
        LOG.log(System.Logger.Level.WARNING, "shepherd.watch: binding " + prefix + " again after " + property
            + " changed failed; the bean keeps its former values", e);
      }
    }
  }

  /**
   * Closes the subscriptions, the watcher, the source and its client.
   *
   * @throws Exception the first failure, the others suppressed
   */
  @Override
  public void destroy() throws Exception {
    List<AutoCloseable> all = new ArrayList<>();
    synchronized (this) {
      all.addAll(subscriptions.values());
      subscriptions.clear();
    }
    all.add(watcher);
    all.addAll(closeables);
    Exception failure = null;
    for (AutoCloseable closeable : all) {
      try {
        closeable.close();
      } catch (Exception e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  @Override
  public String toString() {
    return "ShepherdWatches" + properties.keys().keySet();
  }
}
