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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Each optional library truly absent: an application with every Shepherd auto-configuration
 * ({@link IsolatedProbe}) runs in a class loader whose class path is this test's without that
 * library's jars, so that a class the auto-configuration links against and the library lacks fails
 * as a {@code NoClassDefFoundError} would in an application (which {@code FilteredClassLoader}
 * cannot show: it hides classes from conditions only). The context starts with the rest of Shepherd,
 * or the start stops naming the property and the dependency.
 */
class MissingJarTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();
  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  /** Every capability asked for. */
  private static String[] everything(String... more) {
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
    properties.addAll(List.of(more));
    return properties.toArray(String[]::new);
  }

  /** Starts the probe on this test's class path without the entries containing any of {@code missing}. */
  private static String startWithout(List<String> missing, boolean web, String... properties) throws Exception {
    List<URL> urls = new ArrayList<>();
    List<String> left = new ArrayList<>();
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      if (missing.stream().anyMatch(entry::contains)) {
        left.add(entry);
        continue;
      }
      urls.add(toUrl(entry));
    }
    assertThat(left).as("the class path had " + missing).hasSizeGreaterThanOrEqualTo(missing.isEmpty() ? 0 : 1);
    ClassLoader previous = Thread.currentThread().getContextClassLoader();
    try (URLClassLoader isolated = new URLClassLoader(urls.toArray(URL[]::new), ClassLoader.getPlatformClassLoader())) {
      Thread.currentThread().setContextClassLoader(isolated);
      Method start = isolated.loadClass(IsolatedProbe.class.getName()).getMethod("start", boolean.class, String[].class);
      return (String) start.invoke(null, web, properties);
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

  private static List<String> beans(String started) {
    assertThat(started).as("the application started").doesNotStartWith("FAILED");
    return Arrays.asList(started.split(","));
  }

  private static final List<String> CORE = List.of("cacheManager", "shepherdReplicas", "shepherdReplicaRouter",
      "consistencyTokenCodec", "shepherdWatches", "work");

  @Test
  void withEveryJarEverythingStarts() throws Exception {
    List<String> beans = beans(startWithout(List.of(), true, everything()));
    assertThat(beans).containsAll(CORE).contains("shepherdIdempotencyFilter", "shepherdConsistencyTokenFilter",
        "shepherdMeterBindings", "shepherdIdempotencyHealthContributor", "shepherdPoolHealthContributor");
  }

  @Test
  void withoutMicrometer() throws Exception {
    List<String> beans = beans(startWithout(List.of("/io/micrometer/", "shepherd-micrometer", "spring-boot-micrometer"), true,
        everything()));
    assertThat(beans).containsAll(CORE).contains("shepherdIdempotencyFilter", "shepherdIdempotencyHealthContributor")
        .doesNotContain("shepherdMeterBindings", "shepherdCacheMetrics");
  }

  @Test
  void withoutActuator() throws Exception {
    List<String> beans = beans(startWithout(List.of("spring-boot-health", "spring-boot-actuator"), true, everything()));
    assertThat(beans).containsAll(CORE).contains("shepherdIdempotencyFilter", "shepherdMeterBindings")
        .noneMatch(name -> name.endsWith("HealthContributor"));
  }

  @Test
  void withoutLettuce() throws Exception {
    List<String> missing = List.of("/io/lettuce/", "shepherd-idempotency-redis", "shepherd-cache-redis", "spring-data-redis",
        "spring-boot-data-redis");
    assertThat(beans(startWithout(missing, true, everything()))).containsAll(CORE).contains("shepherdIdempotencyStore");
    assertThat(startWithout(missing, true, everything("shepherd.idempotency.store=redis")))
        .startsWith("FAILED").contains("shepherd.idempotency.store").contains("io.lettuce:lettuce-core");
    assertThat(startWithout(missing, true, everything("shepherd.cache.cluster.enabled=true")))
        .startsWith("FAILED").contains("shepherd.cache.cluster.enabled").contains("dev.shepherd:shepherd-cache-redis");
  }

  @Test
  void withoutJetcd() throws Exception {
    assertThat(startWithout(List.of("/io/etcd/"), true, everything()))
        .startsWith("FAILED").contains("shepherd.watch.source").contains("io.etcd:jetcd-core");
    List<String> consul = beans(startWithout(List.of("/io/etcd/"), true, everything("shepherd.watch.source=consul",
        "shepherd.watch.consul.base-uri=http://127.0.0.1:1", "shepherd.watch.initial-wait=10ms")));
    assertThat(consul).containsAll(CORE);
  }

  @Test
  void withoutTheServletApi() throws Exception {
    List<String> beans = beans(startWithout(List.of("tomcat-embed", "jakarta.servlet-api"), false, everything()));
    assertThat(beans).containsAll(CORE).contains("shepherdMeterBindings", "shepherdReplicaHealthContributor")
        .doesNotContain("shepherdIdempotencyFilter", "shepherdConsistencyTokenFilter", "shepherdIdempotencyTracker");
  }

  @Test
  void withoutPgjdbc() throws Exception {
    List<String> missing = List.of("/org/postgresql/");
    List<String> beans = beans(startWithout(missing, true, everything(
        "spring.datasource.url=jdbc:h2:mem:missing;DB_CLOSE_DELAY=-1", "spring.datasource.username=sa", "shepherd.replica.enabled=false")));
    assertThat(beans).contains("cacheManager", "shepherdWatches", "work", "shepherdIdempotencyFilter", "shepherdMeterBindings")
        .doesNotContain("shepherdReplicas");
    assertThat(startWithout(missing, true, everything(
        "spring.datasource.url=jdbc:h2:mem:missing-replicas;DB_CLOSE_DELAY=-1", "spring.datasource.username=sa")))
        .startsWith("FAILED").contains("shepherd.replica.enabled").contains("org.postgresql:postgresql");
  }

}
