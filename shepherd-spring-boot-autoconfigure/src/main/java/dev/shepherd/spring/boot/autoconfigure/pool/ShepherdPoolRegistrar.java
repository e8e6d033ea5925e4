package dev.shepherd.spring.boot.autoconfigure.pool;

import static dev.shepherd.spring.boot.autoconfigure.internal.Settings.set;

import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.ElasticPoolBuilder;
import dev.shepherd.pool.FunctionRegistry;
import dev.shepherd.pool.FunctionRegistryFactory;
import dev.shepherd.pool.LocalBackend;
import dev.shepherd.pool.ProcessBackend;
import dev.shepherd.pool.RunnerFunction;
import dev.shepherd.pool.spi.Backend;
import java.util.Map;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.beans.factory.BeanFactoryAware;
import org.springframework.beans.factory.ListableBeanFactory;
import org.springframework.beans.factory.support.BeanDefinitionRegistry;
import org.springframework.beans.factory.support.RootBeanDefinition;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.context.EnvironmentAware;
import org.springframework.context.annotation.ImportBeanDefinitionRegistrar;
import org.springframework.core.env.Environment;
import org.springframework.core.type.AnnotationMetadata;
import org.springframework.util.ClassUtils;

/**
 * Registers an {@link ElasticPool} bean per pool under {@code shepherd.pool.pools}, named after the
 * pool, unless the application already has an {@code ElasticPool} of that name; a bean of another
 * type under that name stops the start. Each pool is closed on shutdown.
 */
final class ShepherdPoolRegistrar implements ImportBeanDefinitionRegistrar, EnvironmentAware, BeanFactoryAware {

  @SuppressWarnings("NullAway.Init") // set through EnvironmentAware before registerBeanDefinitions
  private Environment environment;

  @SuppressWarnings("NullAway.Init") // set through BeanFactoryAware before registerBeanDefinitions
  private BeanFactory beanFactory;

  @Override
  public void setEnvironment(Environment environment) {
    this.environment = environment;
  }

  @Override
  public void setBeanFactory(BeanFactory beanFactory) {
    this.beanFactory = beanFactory;
  }

  @Override
  public void registerBeanDefinitions(AnnotationMetadata metadata, BeanDefinitionRegistry registry) {
    Map<String, ShepherdPoolProperties.Pool> pools = Binder.get(environment)
        .bind("shepherd.pool.pools", Bindable.mapOf(String.class, ShepherdPoolProperties.Pool.class))
        .orElse(Map.of());
    pools.forEach((name, pool) -> {
      if (registry.containsBeanDefinition(name)) {
        checkIsAPool(name);
        return; // the application's own pool of that name wins
      }
      RootBeanDefinition definition = new RootBeanDefinition(ElasticPool.class, () -> build(name, pool));
      definition.setDestroyMethodName("close");
      registry.registerBeanDefinition(name, definition);
    });
  }

  /**
   * Backs off only for the application's own {@link ElasticPool} (or a bean whose type cannot be
   * known before it is created): a bean of another type under the pool's name, a component-scanned
   * {@code Reports} service say, would leave the pool unregistered and the injection of it failing
   * far from the cause.
   */
  private void checkIsAPool(String name) {
    Class<?> type = beanFactory.getType(name, false);
    if (type != null && !ElasticPool.class.isAssignableFrom(type)) {
      throw new InvalidConfigurationPropertyValueException("shepherd.pool.pools." + name, name,
          "the pool would be an ElasticPool bean named '" + name + "', and the application already has a bean of that "
              + "name, a " + type.getName() + "; rename the pool or that bean");
    }
  }

  private ElasticPool build(String name, ShepherdPoolProperties.Pool pool) {
    String prefix = "shepherd.pool.pools." + name + ".";
    Backend backend = switch (pool.backend()) {
      case LOCAL -> LocalBackend.of(functions(prefix, pool));
      case PROCESS -> ProcessBackend.builder().functions(factory(prefix, pool)).build();
    };
    ElasticPoolBuilder builder = ElasticPool.builder().name(name).backend(backend);
    set(prefix + "max", pool.max(), () -> builder.max(pool.max()));
    set(prefix + "min", pool.min(), () -> builder.min(pool.min()));
    set(prefix + "max-concurrency", pool.maxConcurrency(), () -> builder.maxConcurrency(pool.maxConcurrency()));
    set(prefix + "call-timeout", pool.callTimeout(), () -> builder.callTimeout(pool.callTimeout()));
    set(prefix + "boot-timeout", pool.bootTimeout(), () -> builder.bootTimeout(pool.bootTimeout()));
    set(prefix + "shutdown-timeout", pool.shutdownTimeout(), () -> builder.shutdownTimeout(pool.shutdownTimeout()));
    set(prefix + "idle-shutdown-after", pool.idleShutdownAfter(), () -> builder.idleShutdownAfter(pool.idleShutdownAfter()));
    // The builder's cross-field check (min at most max), without starting anything, blamed on min.
    set(prefix + "min", pool.min(), builder::config);
    return builder.build();
  }

  private FunctionRegistry functions(String prefix, ShepherdPoolProperties.Pool pool) {
    Map<String, RunnerFunction> beans = ((ListableBeanFactory) beanFactory).getBeansOfType(RunnerFunction.class);
    FunctionRegistry.Builder registry = FunctionRegistry.builder();
    if (pool.functions().isEmpty()) {
      beans.forEach(registry::register);
    } else {
      for (String function : pool.functions()) {
        RunnerFunction bean = beans.get(function);
        if (bean == null) {
          throw new InvalidConfigurationPropertyValueException(prefix + "functions", pool.functions(),
              "no RunnerFunction bean named " + function + " (there are " + beans.keySet() + ")");
        }
        registry.register(function, bean);
      }
    }
    return registry.build();
  }

  private static Class<? extends FunctionRegistryFactory> factory(String prefix, ShepherdPoolProperties.Pool pool) {
    String name = pool.functionsFactory();
    if (name == null || name.isBlank()) {
      throw new InvalidConfigurationPropertyValueException(prefix + "functions-factory", name,
          "a PROCESS pool needs a public FunctionRegistryFactory class that every child JVM instantiates");
    }
    try {
      Class<?> type = ClassUtils.forName(name, ShepherdPoolRegistrar.class.getClassLoader());
      if (!FunctionRegistryFactory.class.isAssignableFrom(type)) {
        throw new InvalidConfigurationPropertyValueException(prefix + "functions-factory", name,
            "the class does not implement dev.shepherd.pool.FunctionRegistryFactory");
      }
      return type.asSubclass(FunctionRegistryFactory.class);
    } catch (ClassNotFoundException | LinkageError e) {
      throw new InvalidConfigurationPropertyValueException(prefix + "functions-factory", name, "no such class: " + e);
    }
  }
}
