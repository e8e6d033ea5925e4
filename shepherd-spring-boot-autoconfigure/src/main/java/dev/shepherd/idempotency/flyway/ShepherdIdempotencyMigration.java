package dev.shepherd.idempotency.flyway;

import dev.shepherd.idempotency.JdbcIdempotencyStore;
import java.nio.charset.StandardCharsets;
import java.sql.Statement;
import java.util.zip.CRC32;
import org.flywaydb.core.api.MigrationVersion;
import org.flywaydb.core.api.migration.Context;
import org.flywaydb.core.api.migration.JavaMigration;
import org.jspecify.annotations.Nullable;

/**
 * The schema of {@link JdbcIdempotencyStore} as a repeatable Flyway migration. It runs the very SQL
 * the store ships ({@link JdbcIdempotencyStore#schemaSql(String)} for the default table), so the
 * Flyway route, the Liquibase changelog (which includes the same resource) and the by-hand file can
 * never drift apart.
 *
 * <p>Repeatable (no version), so its place never collides with the application's own versioned
 * migrations; Flyway runs it again only when its checksum, the CRC-32 of the SQL, changes, and the
 * SQL is idempotent ({@code IF NOT EXISTS} throughout). A custom table name needs the store's
 * {@code create-schema} or the by-hand route.
 */
public final class ShepherdIdempotencyMigration implements JavaMigration {

  private final String sql = JdbcIdempotencyStore.schemaSql(JdbcIdempotencyStore.DEFAULT_TABLE);

  /** Creates the migration; called by Flyway when it scans its locations. */
  public ShepherdIdempotencyMigration() {}

  /**
   * Returns the SQL the migration runs.
   *
   * @return the store's schema for its default table
   */
  public String sql() {
    return sql;
  }

  /**
   * Returns no version: the migration is repeatable.
   *
   * @return null
   */
  @Override
  public @Nullable MigrationVersion getVersion() {
    return null;
  }

  @Override
  public String getDescription() {
    return "shepherd idempotency";
  }

  @Override
  public Integer getChecksum() {
    CRC32 crc = new CRC32();
    crc.update(sql.getBytes(StandardCharsets.UTF_8));
    return (int) crc.getValue();
  }

  @Override
  public boolean canExecuteInTransaction() {
    return true;
  }

  @Override
  public void migrate(Context context) throws Exception {
    try (Statement statement = context.getConnection().createStatement()) {
      statement.execute(sql);
    }
  }
}
