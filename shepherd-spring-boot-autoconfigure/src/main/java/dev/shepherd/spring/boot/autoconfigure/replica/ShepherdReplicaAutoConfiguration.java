package dev.shepherd.spring.boot.autoconfigure.replica;

import static dev.shepherd.spring.boot.autoconfigure.internal.Settings.set;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.replica.ConsistencyTokenCodec;
import dev.shepherd.replica.ConsistencyTokenFilter;
import dev.shepherd.replica.ReplicaRouter;
import dev.shepherd.replica.ReplicaRoutingDataSource;
import dev.shepherd.replica.ReplicaTracker;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import org.springframework.beans.factory.ListableBeanFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.config.ConfigurableBeanFactory;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.AnyNestedCondition;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;
import org.springframework.core.env.Environment;
import org.springframework.util.ClassUtils;

/**
 * Read-your-writes on PostgreSQL replicas with no code change. For the replicas under {@code
 * shepherd.replica.replicas}: a connection pool and a {@link ReplicaTracker} each
 * ({@link ShepherdReplicas}) and a tracker for each {@link ReplicaDataSource} bean, the application's primary {@code DataSource} wrapped in a routing one
 * ({@link ReplicaRoutingPostProcessor}) and, in a Servlet web application, a {@link
 * ConsistencyTokenCodec} and the {@link ConsistencyTokenFilter} on every request (elsewhere the
 * codec only when its signing secret is set).
 *
 * <p>Every bean backs off when the application defines its own of the same type (the filter: of the
 * same name, {@code shepherdConsistencyTokenFilter}); {@code ReplicaTracker} beans of the
 * application are added to the configured replicas.
 */
@AutoConfiguration(afterName = "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration")
@ConditionalOnClass(name = {"dev.shepherd.replica.ReplicaTracker", "com.zaxxer.hikari.HikariDataSource"})
@ConditionalOnProperty(prefix = "shepherd.replica", name = "enabled", havingValue = "true", matchIfMissing = true)
@Conditional(OnReplicasConfiguredCondition.class)
@EnableConfigurationProperties(ShepherdReplicaProperties.class)
public final class ShepherdReplicaAutoConfiguration {
  /** Creates the configuration; used by Spring. */
  public ShepherdReplicaAutoConfiguration() {}

  /** A class of PostgreSQL's driver that the write position is read through. */
  private static final String POSTGRES_DRIVER_CLASS = "org.postgresql.core.BaseConnection";


  /**
   * The replicas: a pool and a tracker for each configured one, a tracker for each
   * {@link ReplicaDataSource} bean, plus the application's own {@code ReplicaTracker} beans.
   *
   * @param properties {@code shepherd.replica.*}
   * @param applicationTrackers {@code ReplicaTracker} beans of the application
   * @param beanFactory where {@link ReplicaDataSource} beans are found
   * @return the replicas
   * @throws InvalidConfigurationPropertyValueException when a replica has no URL or a bad setting
   */
  @Bean
  @ConditionalOnMissingBean
  public ShepherdReplicas shepherdReplicas(ShepherdReplicaProperties properties, ObjectProvider<ReplicaTracker> applicationTrackers,
      ListableBeanFactory beanFactory) {
    requirePostgresDriver(beanFactory);
    List<ReplicaTracker> trackers = new ArrayList<>();
    List<AutoCloseable> owned = new ArrayList<>();
    List<HikariDataSource> pools = new ArrayList<>();
    try {
      for (Map.Entry<String, ShepherdReplicaProperties.Replica> entry : properties.replicas().entrySet()) {
        String name = entry.getKey();
        ShepherdReplicaProperties.Replica replica = entry.getValue();
        String prefix = "shepherd.replica.replicas." + name + ".";
        if (replica.url() == null || replica.url().isBlank()) {
          throw new InvalidConfigurationPropertyValueException(prefix + "url", replica.url(),
              "every replica needs a JDBC URL, for example jdbc:postgresql://replica-1:5432/app");
        }
        HikariDataSource pool = pool(name, replica, prefix);
        pools.add(pool);
        ReplicaTracker.Builder tracker = ReplicaTracker.builder(pool).name(name);
        set(prefix + "min-poll-interval", replica.minPollInterval(), () -> tracker.minPollInterval(replica.minPollInterval()));
        set(prefix + "max-poll-interval", replica.maxPollInterval(), () -> tracker.maxPollInterval(replica.maxPollInterval()));
        set(prefix + "query-timeout", replica.queryTimeout(), () -> tracker.queryTimeout(replica.queryTimeout()));
        ReplicaTracker built = tracker.build();
        trackers.add(built);
        owned.add(built);
      }
    } catch (RuntimeException e) {
      owned.forEach(ShepherdReplicaAutoConfiguration::closeQuietly);
      pools.forEach(HikariDataSource::close);
      throw e;
    }
    for (String name : beanFactory.getBeanNamesForAnnotation(ReplicaDataSource.class)) {
      ReplicaTracker tracker = ReplicaTracker.builder(beanFactory.getBean(name, DataSource.class)).name(name).build();
      trackers.add(tracker);
      owned.add(tracker); // the tracker, not the application's data source
    }
    owned.addAll(pools); // trackers first, then their pools
    applicationTrackers.orderedStream().forEach(trackers::add);
    return new ShepherdReplicas(trackers, owned);
  }

  /**
   * Stops the start when PostgreSQL's driver is missing (excluded from shepherd-replica's
   * dependencies): every commit's write position is read through it, so the first write would fail
   * with a NoClassDefFoundError that names no setting.
   */
  private static void requirePostgresDriver(ListableBeanFactory beanFactory) {
    ClassLoader loader = beanFactory instanceof ConfigurableBeanFactory configurable && configurable.getBeanClassLoader() != null
        ? configurable.getBeanClassLoader() : ShepherdReplicaAutoConfiguration.class.getClassLoader();
    if (!ClassUtils.isPresent(POSTGRES_DRIVER_CLASS, loader)) {
      throw new InvalidConfigurationPropertyValueException("shepherd.replica.enabled", true,
          "replicas are configured, and read-your-writes needs PostgreSQL's JDBC driver (org.postgresql:postgresql, a "
              + "dependency of shepherd-replica) on the class path; add it back, or set shepherd.replica.enabled=false");
    }
  }

  private static HikariDataSource pool(String name, ShepherdReplicaProperties.Replica replica, String prefix) {
    HikariConfig config = new HikariConfig();
    config.setPoolName("shepherd-replica-" + name);
    config.setJdbcUrl(replica.url());
    if (replica.username() != null) {
      config.setUsername(replica.username());
    }
    if (replica.password() != null) {
      config.setPassword(replica.password());
    }
    set(prefix + "maximum-pool-size", replica.maximumPoolSize(), () -> config.setMaximumPoolSize(replica.maximumPoolSize()));
    set(prefix + "connection-timeout", replica.connectionTimeout(), () -> config.setConnectionTimeout(replica.connectionTimeout().toMillis()));
    config.setReadOnly(true);
    // Start even while the replica is down: the tracker reports it unavailable and reads go to the primary.
    config.setInitializationFailTimeout(-1);
    return new HikariDataSource(config);
  }

  private static void closeQuietly(AutoCloseable closeable) {
    try {
      closeable.close();
    } catch (Exception ignored) {
      // Start-up already failed; that failure is the one to report.
    }
  }

  /**
   * The codec that signs and checks consistency tokens: in a Servlet web application, whose token
   * filter needs it, and elsewhere only when {@code shepherd.replica.token.signing-secret} is set
   * (for the application's own use), so that a batch job reading from replicas needs no secret.
   *
   * @param properties {@code shepherd.replica.token.*}
   * @return the codec
   * @throws InvalidConfigurationPropertyValueException when the signing secret is missing or short
   */
  @Bean
  @ConditionalOnMissingBean
  @Conditional(CodecWanted.class)
  public ConsistencyTokenCodec consistencyTokenCodec(ShepherdReplicaProperties properties) {
    ShepherdReplicaProperties.Token token = properties.token();
    String secret = token.signingSecret();
    if (secret == null || secret.getBytes(StandardCharsets.UTF_8).length < 32) {
      throw new InvalidConfigurationPropertyValueException("shepherd.replica.token.signing-secret",
          secret == null ? null : "(" + secret.length() + " characters, hidden)",
          "a secret of at least 32 bytes is needed to sign consistency tokens; set it from a secret store, "
              + "the same on every instance of the application");
    }
    ConsistencyTokenCodec.Builder codec = ConsistencyTokenCodec.builder();
    set("shepherd.replica.token.signing-key-id", token.signingKeyId(),
        () -> codec.signingKey(token.signingKeyId(), secret.getBytes(StandardCharsets.UTF_8)));
    token.verificationKeys().forEach((id, old) -> set("shepherd.replica.token.verification-keys." + id, "(hidden)",
        () -> codec.verificationKey(id, old.getBytes(StandardCharsets.UTF_8))));
    return codec.build();
  }

  /**
   * The post-processor that wraps the primary {@code DataSource} bean.
   *
   * @param environment the environment, read for {@code shepherd.replica.routing.*}
   * @return the post-processor
   */
  @Bean
  @ConditionalOnProperty(prefix = "shepherd.replica.routing", name = "enabled", havingValue = "true", matchIfMissing = true)
  static ReplicaRoutingPostProcessor shepherdReplicaRoutingPostProcessor(Environment environment) {
    return new ReplicaRoutingPostProcessor(
        environment.getProperty("shepherd.replica.routing.data-source-bean-name", "dataSource"),
        environment.getProperty("shepherd.replica.routing.record-writes", Boolean.class, true));
  }

  /**
   * The router of the routing data source, for code that routes reads itself
   * ({@code router.readAfter(ConsistencyContext.current().orElse(null), c -> ...)}, which also checks the
   * replica replays the token's cluster and timeline).
   *
   * @param properties {@code shepherd.replica.*}
   * @param beanFactory where the wrapped data source is found
   * @return the router
   * @throws InvalidConfigurationPropertyValueException when no bean of the configured name was wrapped
   */
  @Bean
  @ConditionalOnMissingBean
  @ConditionalOnProperty(prefix = "shepherd.replica.routing", name = "enabled", havingValue = "true", matchIfMissing = true)
  public ReplicaRouter shepherdReplicaRouter(ShepherdReplicaProperties properties, ListableBeanFactory beanFactory) {
    String name = properties.routing().dataSourceBeanName();
    String problem;
    if (!beanFactory.containsBean(name)) {
      problem = "there is no bean of that name to route; name the application's primary DataSource bean";
    } else {
      Object bean = beanFactory.getBean(name);
      try {
        if (bean instanceof DataSource dataSource && dataSource.isWrapperFor(ReplicaRoutingDataSource.class)) {
          return dataSource.unwrap(ReplicaRoutingDataSource.class).router();
        }
        problem = "the bean is a " + bean.getClass().getName() + ", not a DataSource";
      } catch (SQLException e) {
        problem = "the bean cannot be unwrapped: " + e.getMessage();
      }
    }
    throw new InvalidConfigurationPropertyValueException("shepherd.replica.routing.data-source-bean-name", name, problem);
  }

  /** A Servlet web application (its token filter signs with the codec), or a signing secret set. */
  static final class CodecWanted extends AnyNestedCondition {
    CodecWanted() {
      super(ConfigurationPhase.REGISTER_BEAN);
    }

    @ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
    static final class ServletApplication {}

    @ConditionalOnProperty(prefix = "shepherd.replica.token", name = "signing-secret")
    static final class SigningSecretSet {}
  }

  /** The token filter of a Servlet web application. */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
  @ConditionalOnClass(name = "jakarta.servlet.Filter")
  static final class TokenFilterConfiguration {

    /** Order of the token filter: early, so every later filter and handler runs inside its scope. */
    static final int ORDER = Ordered.HIGHEST_PRECEDENCE + 50;

    @Bean
    @ConditionalOnMissingBean(name = "shepherdConsistencyTokenFilter")
    FilterRegistrationBean<ConsistencyTokenFilter> shepherdConsistencyTokenFilter(
        ConsistencyTokenCodec codec, ShepherdReplicaProperties properties) {
      ShepherdReplicaProperties.Token token = properties.token();
      ConsistencyTokenFilter.Builder filter = ConsistencyTokenFilter.builder(codec)
          .header(token.header().isEmpty() ? null : token.header())
          .cookie(token.cookie().isEmpty() ? null : token.cookie())
          .secureCookie(token.secureCookie());
      Duration maxAge = token.cookieMaxAge();
      set("shepherd.replica.token.cookie-max-age", maxAge, () -> filter.cookieMaxAge(maxAge));
      if (token.ignoreInvalid()) {
        filter.ignoreInvalidTokens();
      }
      FilterRegistrationBean<ConsistencyTokenFilter> registration = new FilterRegistrationBean<>(filter.build());
      registration.setName("shepherdConsistencyTokenFilter");
      registration.setUrlPatterns(token.urlPatterns());
      registration.setOrder(ORDER);
      return registration;
    }
  }
}
