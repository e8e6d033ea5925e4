package dev.shepherd.spring.boot.autoconfigure.idempotency;

import dev.shepherd.idempotency.JdbcIdempotencyStore;
import java.util.Objects;
import javax.sql.DataSource;

/**
 * The connections the JDBC idempotency store runs its own statements on (claims, lease renewals,
 * completes, the health check), apart from the application's {@code DataSource}, which still
 * serves claims completed inside the application's transactions. As a bean it replaces the small
 * HikariCP pool the auto-configuration would make ({@code shepherd.idempotency.jdbc.pool.*}).
 *
 * <p>Why the store has connections of its own: a pool saturated by the application's requests
 * makes a lease renewal wait for the pool's connection timeout (HikariCP's default 30 s, more than
 * a third of the default 60 s lease), so under load a lease could lapse while its request still
 * runs, and a retry of the same key would run the handler a second time.
 *
 * <p>Not a {@code DataSource} itself, so that the application's single {@code DataSource} stays
 * single (Spring Boot's JDBC template, transaction manager and migrations want one). Immutable and
 * thread-safe.
 *
 * @see JdbcIdempotencyStore.Builder#transactionDataSource(DataSource)
 */
public final class ShepherdIdempotencyDataSource implements AutoCloseable {

  private final DataSource dataSource;
  private final boolean owned;

  private ShepherdIdempotencyDataSource(DataSource dataSource, boolean owned) {
    this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
    this.owned = owned;
  }

  /**
   * Connections the store borrows: {@link #close()} leaves them open (close the pool where it is
   * declared, for example as a bean of its own).
   *
   * @param dataSource where the store's statements get their connections; its connection timeout
   *     should be well under a third of the lease
   * @return the store's data source
   * @throws NullPointerException if {@code dataSource} is null
   */
  public static ShepherdIdempotencyDataSource of(DataSource dataSource) {
    return new ShepherdIdempotencyDataSource(dataSource, false);
  }

  /**
   * Connections the store owns: {@link #close()}, called when the application context closes,
   * closes them.
   *
   * @param dataSource a pool that is {@link AutoCloseable} (as HikariCP's is)
   * @return the store's data source
   * @throws NullPointerException if {@code dataSource} is null
   * @throws IllegalArgumentException if it is not {@link AutoCloseable}
   */
  public static ShepherdIdempotencyDataSource owning(DataSource dataSource) {
    if (!(Objects.requireNonNull(dataSource, "dataSource") instanceof AutoCloseable)) {
      throw new IllegalArgumentException("dataSource " + dataSource.getClass().getName()
          + " is not AutoCloseable, so it cannot be closed with the context; use of(dataSource) and close it yourself");
    }
    return new ShepherdIdempotencyDataSource(dataSource, true);
  }

  /**
   * Returns where the store's statements get their connections.
   *
   * @return the data source
   */
  public DataSource dataSource() {
    return dataSource;
  }

  /**
   * Returns whether {@link #close()} closes the data source.
   *
   * @return true if made by {@link #owning(DataSource)}
   */
  public boolean owned() {
    return owned;
  }

  /**
   * Closes the data source if it is owned; otherwise does nothing.
   *
   * @throws IllegalStateException if closing the data source fails with a checked exception
   */
  @Override
  public void close() {
    if (!owned) {
      return;
    }
    try {
      ((AutoCloseable) dataSource).close();
    } catch (RuntimeException e) {
      throw e;
    } catch (Exception e) {
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      throw new IllegalStateException("cannot close the idempotency store's data source " + dataSource + ": " + e.getMessage(), e);
    }
  }

  @Override
  public String toString() {
    return "ShepherdIdempotencyDataSource[" + dataSource + (owned ? ", owned]" : "]");
  }
}
