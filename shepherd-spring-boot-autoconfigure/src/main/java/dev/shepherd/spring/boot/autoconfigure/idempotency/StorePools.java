package dev.shepherd.spring.boot.autoconfigure.idempotency;

import static dev.shepherd.spring.boot.autoconfigure.internal.Settings.set;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.SQLException;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.util.ClassUtils;

/**
 * Makes the JDBC idempotency store's own HikariCP pool, to the database of the application's
 * {@code DataSource}; loaded only when HikariCP is on the class path.
 *
 * <p>Where the connection settings come from, in this order: the application's data source when it
 * is (or wraps) a HikariCP pool, whose whole configuration is copied (URL or data source class,
 * credentials, driver properties, init SQL), then Spring Boot's {@code spring.datasource.*}
 * ({@code DataSourceProperties}) when its URL is set. With neither, the store keeps the
 * application's data source, as it did before it had a pool, and a warning says so.
 */
final class StorePools {

  private static final System.Logger LOG = System.getLogger(StorePools.class.getName());

  /** The pool's name, in HikariCP's logs, JMX and meters. */
  static final String POOL_NAME = "shepherd-idempotency";

  private static final String BOOT_PROPERTIES = "org.springframework.boot.jdbc.autoconfigure.DataSourceProperties";

  private StorePools() {}

  /**
   * The store's pool to the database of {@code application}, or {@code application} itself (not
   * closed by the store) when its settings cannot be told.
   *
   * @param application the application's data source (the primary, when replicas are routed)
   * @param pool {@code shepherd.idempotency.jdbc.pool.*}
   * @param beanFactory where Spring Boot's {@code DataSourceProperties} are looked up
   * @return the store's data source; closing it closes the pool made here
   */
  static ShepherdIdempotencyDataSource create(DataSource application, ShepherdIdempotencyProperties.Pool pool, BeanFactory beanFactory) {
    HikariConfig config = new HikariConfig();
    HikariDataSource hikari = hikariOf(application);
    if (hikari != null) {
      hikari.copyStateTo(config);
    } else if (!fromBootProperties(config, beanFactory)) {
      LOG.log(System.Logger.Level.WARNING, "The JDBC idempotency store shares the application's DataSource ("
          + application.getClass().getName() + "): it is not a HikariCP pool and spring.datasource.url is not set, so "
          + "the store's own pool cannot be made. A pool saturated by requests then delays lease renewals. Declare a "
          + "ShepherdIdempotencyDataSource bean, or set shepherd.idempotency.jdbc.pool.enabled=false to say this is intended.");
      return ShepherdIdempotencyDataSource.of(application);
    }
    config.setPoolName(POOL_NAME);
    set("shepherd.idempotency.jdbc.pool.maximum-size", pool.maximumSize(), () -> {
      if (pool.maximumSize() < 1) {
        throw new IllegalArgumentException("the store's pool needs at least 1 connection");
      }
      config.setMaximumPoolSize(pool.maximumSize());
      config.setMinimumIdle(pool.maximumSize());
    });
    set("shepherd.idempotency.jdbc.pool.connection-timeout", pool.connectionTimeout(),
        () -> config.setConnectionTimeout(pool.connectionTimeout().toMillis()));
    // Connections are opened at the first statement, not here: a database that is down at start-up
    // is reported by the store's first call (and its health contributor), as the application's
    // own pool reports it.
    config.setInitializationFailTimeout(-1);
    return ShepherdIdempotencyDataSource.owning(new HikariDataSource(config));
  }

  private static @Nullable HikariDataSource hikariOf(DataSource application) {
    try {
      return application.isWrapperFor(HikariDataSource.class) ? application.unwrap(HikariDataSource.class) : null;
    } catch (SQLException e) {
      return null;
    }
  }

  /** Sets the URL and credentials from {@code spring.datasource.*}; false when Spring Boot's JDBC support or the URL is missing. */
  private static boolean fromBootProperties(HikariConfig config, BeanFactory beanFactory) {
    ClassLoader loader = StorePools.class.getClassLoader();
    if (!ClassUtils.isPresent(BOOT_PROPERTIES, loader)) {
      return false;
    }
    return BootProperties.apply(config, beanFactory);
  }

  /** Reads Spring Boot's {@code DataSourceProperties}; loaded only when spring-boot-jdbc is there. */
  private static final class BootProperties {
    static boolean apply(HikariConfig config, BeanFactory beanFactory) {
      org.springframework.boot.jdbc.autoconfigure.DataSourceProperties properties =
          beanFactory.getBeanProvider(org.springframework.boot.jdbc.autoconfigure.DataSourceProperties.class).getIfUnique();
      if (properties == null || properties.getUrl() == null) {
        return false;
      }
      config.setJdbcUrl(properties.determineUrl());
      String username = properties.determineUsername();
      if (username != null) {
        config.setUsername(username);
      }
      String password = properties.determinePassword();
      if (password != null) {
        config.setPassword(password);
      }
      String driver = properties.determineDriverClassName();
      if (driver != null) {
        config.setDriverClassName(driver);
      }
      return true;
    }
  }
}
