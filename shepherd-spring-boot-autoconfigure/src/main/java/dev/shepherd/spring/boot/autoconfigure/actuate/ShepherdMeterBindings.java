package dev.shepherd.spring.boot.autoconfigure.actuate;

import dev.shepherd.micrometer.ShepherdMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.beans.factory.config.DestructionAwareBeanPostProcessor;
import org.springframework.util.ClassUtils;

/**
 * The meter bindings the metrics auto-configuration made, each kept with the component bean it
 * belongs to: removed from the registry when that bean is destroyed (a pool destroyed on its own,
 * the watches or replicas closed), just before the bean closes, and every binding left when the
 * context closes. Without it, a context closed or refreshed on a registry that outlives it (devtools
 * restarts, tests sharing a registry) would leave Shepherd's meters behind, holding the closed
 * components, and the next context's components of the same names would be reported through them.
 *
 * <p>States: open, then closed by {@link #destroy()}; a binding handed over after that (a binder
 * run while the context closes) is closed at once. Thread-safe.
 */
final class ShepherdMeterBindings implements DestructionAwareBeanPostProcessor, DisposableBean {

  private static final System.Logger LOG = System.getLogger(ShepherdMeterBindings.class.getName());

  /**
   * Bean types whose destruction removes their bindings; those absent from the class path are left
   * out, so that no Shepherd capability must be present.
   */
  private static final List<String> COMPONENT_TYPES = List.of("dev.shepherd.pool.ElasticPool",
      "dev.shepherd.spring.boot.autoconfigure.replica.ShepherdReplicas",
      "dev.shepherd.spring.boot.autoconfigure.watch.ShepherdWatches");

  private final List<Class<?>> componentTypes = new ArrayList<>();
  // By identity: a component bean is this instance, whatever its equals says.
  private final IdentityHashMap<Object, List<ShepherdMetrics.Binding>> byOwner = new IdentityHashMap<>(); // guarded by this
  private boolean closed; // guarded by this

  ShepherdMeterBindings() {
    ClassLoader loader = ShepherdMeterBindings.class.getClassLoader();
    for (String type : COMPONENT_TYPES) {
      try {
        componentTypes.add(ClassUtils.forName(type, loader));
      } catch (ClassNotFoundException | LinkageError absent) {
        // That capability is not on the class path: nothing of it is bound.
      }
    }
  }

  /**
   * Binds meters through a new binding on {@code registry} and keeps it with {@code owner}. A meter
   * already in the registry (the application bound that component itself) leaves the component
   * unbound here, with a warning, instead of stopping the start.
   *
   * @param owner the component bean (or this holder, for bindings that last as long as the context)
   * @param registry the registry
   * @param what the component's name, for the warning
   * @param bind registers the meters through the binding it is given
   * @return what {@code bind} returned, or null when the meters were already registered
   */
  <T> @Nullable T bind(Object owner, MeterRegistry registry, String what, Function<ShepherdMetrics.Binding, T> bind) {
    ShepherdMetrics.Binding binding = ShepherdMetrics.binding(registry);
    T result;
    try {
      result = bind.apply(binding);
    } catch (IllegalStateException alreadyBound) {
      binding.close();
      LOG.log(System.Logger.Level.WARNING, "Shepherd's meters of " + what + " are not registered: " + alreadyBound.getMessage());
      return null;
    } catch (RuntimeException e) {
      binding.close();
      throw e;
    }
    boolean keep;
    synchronized (this) {
      keep = !closed;
      if (keep) {
        byOwner.computeIfAbsent(owner, o -> new ArrayList<>()).add(binding);
      }
    }
    if (!keep) {
      binding.close();
    }
    return result;
  }

  /** Returns how many bindings are kept and not yet closed (for diagnostics). */
  synchronized int openBindings() {
    return byOwner.values().stream().mapToInt(List::size).sum();
  }

  @Override
  public boolean requiresDestruction(Object bean) {
    for (Class<?> type : componentTypes) {
      if (type.isInstance(bean)) {
        return true;
      }
    }
    return false;
  }

  @Override
  public void postProcessBeforeDestruction(Object bean, String beanName) {
    List<ShepherdMetrics.Binding> bindings;
    synchronized (this) {
      bindings = byOwner.remove(bean);
    }
    if (bindings != null) {
      bindings.forEach(ShepherdMetrics.Binding::close);
    }
  }

  @Override
  public void destroy() {
    List<ShepherdMetrics.Binding> all = new ArrayList<>();
    synchronized (this) {
      closed = true;
      byOwner.values().forEach(all::addAll);
      byOwner.clear();
    }
    all.forEach(ShepherdMetrics.Binding::close);
  }

  @Override
  public String toString() {
    return "ShepherdMeterBindings[" + openBindings() + " open]";
  }
}
