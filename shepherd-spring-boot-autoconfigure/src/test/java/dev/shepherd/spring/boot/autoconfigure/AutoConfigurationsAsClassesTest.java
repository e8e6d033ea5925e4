package dev.shepherd.spring.boot.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.EtcdServer;
import dev.shepherd.testing.PostgresCluster;
import java.io.File;
import java.lang.reflect.Method;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Each Shepherd auto-configuration registered as a class, as an application's test registers it
 * ({@code new ApplicationContextRunner().withConfiguration(AutoConfigurations.of(X.class))}), with
 * each optional library missing in turn, and once all of them together: the context starts, the
 * beans that library is not needed for are there and the ones it is needed for are not.
 *
 * <p>Two ways of missing: hidden by Spring Boot's {@code FilteredClassLoader} (conditions cannot see
 * the library, though its classes still load), and truly absent, in a class loader whose class path
 * lacks the library's jars (as {@link MissingJarTest} does). Registered as a class, an
 * auto-configuration's annotations are read by reflection: a class-level
 * {@code @ConditionalOnClass(Absent.class)} then cannot be read (the annotation is dropped, so the
 * configuration is processed as if it had no such condition), and a nested configuration or bean
 * method whose signature names an absent class fails to load. Only conditions by name
 * ({@code @ConditionalOnClass(name = ...)}) and optional types kept inside nested configurations
 * guarded by their own condition survive this, Spring Boot's own rule for its auto-configurations.
 */
class AutoConfigurationsAsClassesTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();
  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  private static final String PACKAGE = "dev.shepherd.spring.boot.autoconfigure.";
  private static final String DATA_SOURCE = "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration";

  /** The auto-configurations, and the beans each makes with every library there. */
  enum Auto {
    CACHE("cache.ShepherdCacheAutoConfiguration", "cacheManager", "shepherdCacheCouriers"),
    REPLICA("replica.ShepherdReplicaAutoConfiguration", "shepherdReplicas", "shepherdReplicaRouter", "consistencyTokenCodec",
        "shepherdConsistencyTokenFilter"),
    IDEMPOTENCY("idempotency.ShepherdIdempotencyAutoConfiguration", "shepherdIdempotencyStore", "shepherdIdempotencyTracker",
        "shepherdIdempotencyFilter", "shepherdIdempotencyDataSource"),
    WATCH("watch.ShepherdWatchAutoConfiguration", "shepherdWatches"),
    POOL("pool.ShepherdPoolAutoConfiguration", "work"),
    METRICS("actuate.ShepherdMetricsAutoConfiguration", "shepherdMeterBindings", "shepherdCacheMetrics",
        "shepherdReplicaRouteMetrics", "shepherdReplicaTrackerMetrics", "shepherdIdempotencyStoreMetrics", "shepherdPoolMetrics",
        "shepherdWatchMetrics"),
    HEALTH("actuate.ShepherdHealthAutoConfiguration", "shepherdIdempotencyHealthContributor");

    final String className;
    final List<String> beans;

    Auto(String simpleName, String... beans) {
      this.className = PACKAGE + simpleName;
      this.beans = List.of(beans);
    }
  }

  /** The optional libraries: the jars that make each (class-path entries) and the packages they hold. */
  enum Library {
    MICROMETER(List.of("/io/micrometer/", "shepherd-micrometer", "spring-boot-micrometer"),
        List.of("io.micrometer", "dev.shepherd.micrometer", "org.springframework.boot.micrometer")),
    ACTUATOR(List.of("spring-boot-health", "spring-boot-actuator"),
        List.of("org.springframework.boot.health", "org.springframework.boot.actuate")),
    LETTUCE(List.of("/io/lettuce/", "shepherd-idempotency-redis", "shepherd-cache-redis", "spring-data-redis", "spring-boot-data-redis"),
        List.of("io.lettuce", "dev.shepherd.idempotency.redis", "dev.shepherd.cache.redis", "org.springframework.data.redis",
            "org.springframework.boot.data.redis")),
    JETCD(List.of("/io/etcd/", "shepherd-watch-etcd"), List.of("io.etcd", "dev.shepherd.watch.etcd")),
    SERVLET(List.of("tomcat-embed", "jakarta.servlet-api"), List.of("jakarta.servlet", "org.apache.catalina", "org.apache.tomcat")),
    PGJDBC(List.of("/org/postgresql/"), List.of("org.postgresql")),
    HIKARI(List.of("/com/zaxxer/"), List.of("com.zaxxer"));

    final List<String> jars;
    final List<String> packages;

    Library(List<String> jars, List<String> packages) {
      this.jars = jars;
      this.packages = packages;
    }
  }

  /** Every capability asked for, adjusted to what the missing library allows. */
  private static String[] properties(Library missing) {
    List<String> properties = new ArrayList<>(List.of(
        "spring.datasource.url=" + pg.primaryJdbcUrl(), "spring.datasource.username=" + pg.user(),
        "shepherd.replica.replicas.r1.url=" + pg.replicaJdbcUrl(), "shepherd.replica.replicas.r1.username=" + pg.user(),
        "shepherd.replica.token.signing-secret=0123456789abcdef0123456789abcdef",
        "shepherd.idempotency.jdbc.create-schema=true",
        "shepherd.watch.source=etcd", "shepherd.watch.etcd.endpoints=" + etcd.endpoint(),
        "shepherd.watch.keys.flag.key=config/flag", "shepherd.watch.initial-wait=30s",
        "shepherd.cache.caches.prices.maximum-size=10", "shepherd.pool.pools.work.max=1",
        "management.health.shepherd-replica.enabled=true", "management.health.shepherd-pool.enabled=true",
        "management.health.shepherd-watch.enabled=true"));
    switch (missing) {
      // Without the etcd client, watch Consul (an agent nobody runs: the key reports failing).
      case JETCD -> properties.addAll(List.of("shepherd.watch.source=consul", "shepherd.watch.consul.base-uri=http://127.0.0.1:1",
          "shepherd.watch.initial-wait=10ms"));
      // Without PostgreSQL's driver, an application on another database, without replicas.
      case PGJDBC -> properties.addAll(List.of("spring.datasource.url=jdbc:h2:mem:by-class;DB_CLOSE_DELAY=-1",
          "spring.datasource.username=sa", "shepherd.replica.enabled=false"));
      default -> { }
    }
    return properties.toArray(String[]::new);
  }

  /** The beans an auto-configuration makes when {@code missing} is missing (alone, or all together). */
  private static List<String> expected(Auto auto, Library missing, boolean together) {
    List<String> beans = new ArrayList<>(auto.beans);
    switch (auto) {
      case REPLICA -> {
        if (missing == Library.HIKARI || missing == Library.PGJDBC) {
          beans.clear();
        } else if (missing == Library.SERVLET) {
          beans.remove("shepherdConsistencyTokenFilter");
        }
      }
      case IDEMPOTENCY -> {
        if (missing == Library.SERVLET) {
          beans.clear();
        } else if (missing == Library.HIKARI) {
          beans.remove("shepherdIdempotencyDataSource"); // the JDBC store's own pool is a HikariCP pool
        }
      }
      case METRICS -> {
        if (missing == Library.MICROMETER) {
          beans.clear();
        }
      }
      case HEALTH -> {
        if (missing == Library.ACTUATOR) {
          beans.clear();
        } else if (together) {
          // With the capabilities there, one contributor each (the idempotency store only in a web application).
          if (missing == Library.SERVLET) {
            beans.remove("shepherdIdempotencyHealthContributor");
          }
          beans.addAll(List.of("shepherdPoolHealthContributor", "shepherdWatchHealthContributor"));
          if (missing != Library.HIKARI && missing != Library.PGJDBC) {
            beans.add("shepherdReplicaHealthContributor");
          }
        }
      }
      default -> { }
    }
    return beans;
  }

  /** The beans no auto-configuration makes without {@code missing}, those of {@code autos} that need it. */
  private static List<String> unexpected(List<Auto> autos, Library missing, boolean together) {
    List<String> absent = new ArrayList<>();
    for (Auto auto : autos) {
      absent.addAll(auto.beans);
      absent.removeAll(expected(auto, missing, together));
    }
    if (missing == Library.ACTUATOR) {
      absent.addAll(List.of("shepherdPoolHealthContributor", "shepherdWatchHealthContributor", "shepherdReplicaHealthContributor"));
    }
    return absent;
  }

  private static String[] classNames(List<Auto> autos) {
    List<String> names = new ArrayList<>(List.of(DATA_SOURCE));
    autos.forEach(a -> names.add(a.className));
    return names.toArray(String[]::new);
  }

  /** Hidden by a FilteredClassLoader: each auto-configuration alone, then all together. */
  @Test
  void eachAutoConfigurationAsAClassStartsWithEachLibraryHidden() {
    SoftAssertions softly = new SoftAssertions();
    for (Library missing : Library.values()) {
      for (Auto auto : Auto.values()) {
        checkStarted(softly, List.of(auto), missing, false,
            IsolatedProbe.startByClass(missing.packages.toArray(String[]::new), classNames(List.of(auto)),
                missing != Library.SERVLET, auto == Auto.HEALTH, properties(missing)));
      }
      checkStarted(softly, List.of(Auto.values()), missing, true,
          IsolatedProbe.startByClass(missing.packages.toArray(String[]::new), classNames(List.of(Auto.values())),
              missing != Library.SERVLET, false, properties(missing)));
    }
    softly.assertAll();
  }

  /**
   * Truly absent, in a class loader without the library's jars: each auto-configuration alone, then
   * all together. One class loader per missing library serves its eight context starts (loading
   * Spring afresh for each took most of this module's time): whether a class resolves in a class
   * loader does not depend on what was started in it before, and each start is a context of its own.
   */
  @Test
  void eachAutoConfigurationAsAClassStartsWithEachLibraryAbsent() throws Exception {
    SoftAssertions softly = new SoftAssertions();
    for (Library missing : Library.values()) {
      try (URLClassLoader isolated = classLoaderWithout(missing)) {
        for (Auto auto : Auto.values()) {
          checkStarted(softly, List.of(auto), missing, false, startIn(isolated, missing, List.of(auto), auto == Auto.HEALTH));
        }
        checkStarted(softly, List.of(Auto.values()), missing, true, startIn(isolated, missing, List.of(Auto.values()), false));
      }
    }
    softly.assertAll();
  }

  private static void checkStarted(SoftAssertions softly, List<Auto> autos, Library missing, boolean together, String started) {
    String what = autos.size() == 1 ? autos.getFirst().name() : "all auto-configurations";
    if (started.startsWith("FAILED")) {
      softly.fail(what + " without " + missing + " did not start: " + started.lines().filter(l -> !l.startsWith("\tat ")).toList());
      return;
    }
    List<String> beans = Arrays.asList(started.split(","));
    for (Auto auto : autos) {
      softly.assertThat(beans).as(what + " without " + missing).containsAll(expected(auto, missing, together));
    }
    for (String absent : unexpected(autos, missing, together)) {
      softly.assertThat(beans).as(what + " without " + missing).doesNotContain(absent);
    }
  }

  /** A class loader of this test's class path without the library's jars (its parent: the platform's). */
  private static URLClassLoader classLoaderWithout(Library missing) {
    List<URL> urls = new ArrayList<>();
    int left = 0;
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      if (missing.jars.stream().anyMatch(entry::contains)) {
        left++;
        continue;
      }
      urls.add(toUrl(entry));
    }
    assertThat(left).as("the class path had " + missing).isPositive();
    return new URLClassLoader(urls.toArray(URL[]::new), ClassLoader.getPlatformClassLoader());
  }

  /** Starts the probe in {@code isolated}, a class loader without the library's jars. */
  private static String startIn(URLClassLoader isolated, Library missing, List<Auto> autos, boolean appStore) throws Exception {
    ClassLoader previous = Thread.currentThread().getContextClassLoader();
    try {
      Thread.currentThread().setContextClassLoader(isolated);
      Method start = isolated.loadClass(IsolatedProbe.class.getName())
          .getMethod("startByClass", String[].class, String[].class, boolean.class, boolean.class, String[].class);
      return (String) start.invoke(null, new String[0], classNames(autos), missing != Library.SERVLET, appStore, properties(missing));
    } finally {
      Thread.currentThread().setContextClassLoader(previous);
    }
  }

  private static URL toUrl(String entry) {
    try {
      return new File(entry).toURI().toURL();
    } catch (MalformedURLException e) {
      throw new AssertionError(entry, e);
    }
  }
}
