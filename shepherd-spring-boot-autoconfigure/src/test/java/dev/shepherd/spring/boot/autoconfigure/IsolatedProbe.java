package dev.shepherd.spring.boot.autoconfigure;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReference;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.AbstractApplicationContextRunner;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.cache.annotation.EnableCaching;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.DeferredImportSelector;
import org.springframework.context.annotation.Import;
import org.springframework.core.type.AnnotationMetadata;
import org.springframework.util.ClassUtils;

/**
 * Starts an application with every Shepherd auto-configuration, run by {@link MissingJarTest} in a
 * class loader of its own whose class path lacks a library: the classes here link against what that
 * class path has, so a bean method or field naming an absent class fails as it would in an
 * application. Only {@code java.*} types cross the loader boundary.
 */
public final class IsolatedProbe {

  private IsolatedProbe() {}

  /** The auto-configurations, those whose classes the class path has, imported by name as Spring Boot imports them. */
  private static final String[] AUTO_CONFIGURATIONS = {
      "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration",
      "org.springframework.boot.micrometer.metrics.autoconfigure.MetricsAutoConfiguration",
      "dev.shepherd.spring.boot.autoconfigure.cache.ShepherdCacheAutoConfiguration",
      "dev.shepherd.spring.boot.autoconfigure.replica.ShepherdReplicaAutoConfiguration",
      "dev.shepherd.spring.boot.autoconfigure.idempotency.ShepherdIdempotencyAutoConfiguration",
      "dev.shepherd.spring.boot.autoconfigure.watch.ShepherdWatchAutoConfiguration",
      "dev.shepherd.spring.boot.autoconfigure.pool.ShepherdPoolAutoConfiguration",
      "dev.shepherd.spring.boot.autoconfigure.actuate.ShepherdMetricsAutoConfiguration",
      "dev.shepherd.spring.boot.autoconfigure.actuate.ShepherdHealthAutoConfiguration"};

  /**
   * Imports the auto-configurations by name, after the application's configuration, as
   * {@code @EnableAutoConfiguration} does: Spring then reads their annotations from the class files,
   * so a condition naming an absent class is evaluated (registered as classes, by
   * {@code AutoConfigurations.of}, their conditions would be read by reflection, which drops an
   * annotation naming an absent class, and the nested configurations would be processed regardless).
   */
  static final class Imports implements DeferredImportSelector {
    @Override
    public String[] selectImports(AnnotationMetadata metadata) {
      ClassLoader loader = IsolatedProbe.class.getClassLoader();
      return Arrays.stream(AUTO_CONFIGURATIONS).filter(name -> ClassUtils.isPresent(name, loader)).toArray(String[]::new);
    }
  }

  @Configuration(proxyBeanMethods = false)
  @EnableCaching
  @Import(Imports.class)
  static class App {
    @Bean
    dev.shepherd.pool.RunnerFunction echo() {
      return x -> x;
    }
  }

  /** A meter registry, added only when Micrometer is on the class path. */
  @Configuration(proxyBeanMethods = false)
  static class Registry {
    @Bean
    io.micrometer.core.instrument.MeterRegistry meterRegistry() {
      return new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
    }
  }

  /** The application without the imports: the auto-configurations come as classes, from the runner. */
  @Configuration(proxyBeanMethods = false)
  static class PlainApp {
    @Bean
    dev.shepherd.pool.RunnerFunction echo() {
      return x -> x;
    }
  }

  /** Caching turned on, for the cache auto-configuration (without it, {@code @EnableCaching} would want a cache manager). */
  @Configuration(proxyBeanMethods = false)
  @EnableCaching
  static class Caching {}

  /** The application's own idempotency store, for the health contributor to report on. */
  @Configuration(proxyBeanMethods = false)
  static class AppStore {
    @Bean
    dev.shepherd.idempotency.IdempotencyStore appIdempotencyStore() {
      return dev.shepherd.idempotency.InMemoryIdempotencyStore.create();
    }
  }

  /**
   * Starts an application whose auto-configurations are registered as classes, as a test of the
   * application registers them ({@code AutoConfigurations.of(SomeAutoConfiguration.class)}): Spring
   * then reads their annotations by reflection, which loads every class an annotation names, and
   * processes each nested configuration whose own condition does not hold it back.
   *
   * @param hidden package prefixes hidden from the context by a {@link FilteredClassLoader}; none
   *     to use this class's own class loader as it is
   * @param autoConfigurations the names of the classes to register, each loaded by this class's loader
   * @param web a Servlet web application (else a plain one)
   * @param appStore whether the application defines its own idempotency store
   * @param properties {@code name=value} pairs
   * @return the sorted bean names, or {@code FAILED} and the failure's stack trace
   */
  public static String startByClass(String[] hidden, String[] autoConfigurations, boolean web, boolean appStore,
      String[] properties) {
    AtomicReference<String> result = new AtomicReference<>();
    try {
      Class<?>[] classes = new Class<?>[autoConfigurations.length];
      for (int i = 0; i < classes.length; i++) {
        classes[i] = Class.forName(autoConfigurations[i], false, IsolatedProbe.class.getClassLoader());
      }
      if (web) {
        runByClass(new WebApplicationContextRunner(), hidden, classes, appStore, properties, result);
      } else {
        runByClass(new ApplicationContextRunner(), hidden, classes, appStore, properties, result);
      }
    } catch (Throwable t) {
      StringWriter trace = new StringWriter();
      t.printStackTrace(new PrintWriter(trace));
      return "FAILED " + trace;
    }
    return result.get();
  }

  private static <R extends AbstractApplicationContextRunner<R, ?, ?>> void runByClass(R runner, String[] hidden,
      Class<?>[] classes, boolean appStore, String[] properties, AtomicReference<String> result) {
    R configured = runner.withConfiguration(AutoConfigurations.of(classes)).withUserConfiguration(PlainApp.class)
        .withPropertyValues(properties);
    if (hidden.length > 0) {
      configured = configured.withClassLoader(new FilteredClassLoader(hidden));
    }
    boolean micrometerHidden = Arrays.stream(hidden).anyMatch(h -> h.startsWith("io.micrometer"));
    if (!micrometerHidden && ClassUtils.isPresent("io.micrometer.core.instrument.MeterRegistry", IsolatedProbe.class.getClassLoader())) {
      configured = configured.withUserConfiguration(Registry.class);
    }
    if (Arrays.stream(classes).anyMatch(c -> c.getSimpleName().equals("ShepherdCacheAutoConfiguration"))) {
      configured = configured.withUserConfiguration(Caching.class);
    }
    if (appStore) {
      configured = configured.withUserConfiguration(AppStore.class);
    }
    configured.run(context -> {
      if (context.getStartupFailure() != null) {
        throw context.getStartupFailure();
      }
      String[] names = context.getBeanDefinitionNames();
      Arrays.sort(names);
      result.set(String.join(",", names));
    });
  }

  /**
   * Starts the application and closes it.
   *
   * @param web a Servlet web application (else a plain one)
   * @param properties {@code name=value} pairs
   * @return the sorted bean names, or {@code FAILED} and the failure's stack trace
   */
  public static String start(boolean web, String[] properties) {
    AtomicReference<String> result = new AtomicReference<>();
    try {
      if (web) {
        run(new WebApplicationContextRunner(), properties, result);
      } else {
        run(new ApplicationContextRunner(), properties, result);
      }
    } catch (Throwable t) {
      StringWriter trace = new StringWriter();
      t.printStackTrace(new PrintWriter(trace));
      return "FAILED " + trace;
    }
    return result.get();
  }

  private static <R extends AbstractApplicationContextRunner<R, ?, ?>> void run(R runner, String[] properties,
      AtomicReference<String> result) {
    R configured = runner.withUserConfiguration(App.class).withPropertyValues(properties);
    if (ClassUtils.isPresent("io.micrometer.core.instrument.MeterRegistry", IsolatedProbe.class.getClassLoader())) {
      configured = configured.withUserConfiguration(Registry.class);
    }
    configured.run(context -> {
      if (context.getStartupFailure() != null) {
        throw context.getStartupFailure();
      }
      String[] names = context.getBeanDefinitionNames();
      Arrays.sort(names);
      result.set(String.join(",", names));
    });
  }
}
