package dev.shepherd.idempotency;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

/** Makes a JDBC store over a pooled JDBC URL, in the child JVM. */
public final class JdbcStoreFactory implements StoreFactory {

  @Override
  public IdempotencyStore create(String spec) {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(spec);
    config.setMaximumPoolSize(4);
    config.setConnectionTimeout(2000);
    HikariDataSource dataSource = new HikariDataSource(config);
    JdbcIdempotencyStore store =
        JdbcIdempotencyStore.builder(dataSource).createSchema(true).build();
    return new IdempotencyStore() {
      @Override
      public Tracked claim(String key, String fingerprint, java.time.Duration lease,
          java.time.Duration retention, OrphanPolicy orphanPolicy) {
        return store.claim(key, fingerprint, lease, retention, orphanPolicy);
      }

      @Override
      public boolean renew(String key, long token, java.time.Duration lease,
          java.time.Duration retention) {
        return store.renew(key, token, lease, retention);
      }

      @Override
      public boolean complete(String key, long token, StoredResponse response,
          java.time.Duration retention) {
        return store.complete(key, token, response, retention);
      }

      @Override
      public boolean halt(String key, long token, String reason, java.time.Duration retention) {
        return store.halt(key, token, reason, retention);
      }

      @Override
      public boolean release(String key, long token) {
        return store.release(key, token);
      }

      @Override
      public int prune(int limit) {
        return store.prune(limit);
      }

      @Override
      public void close() {
        dataSource.close();
      }
    };
  }
}
