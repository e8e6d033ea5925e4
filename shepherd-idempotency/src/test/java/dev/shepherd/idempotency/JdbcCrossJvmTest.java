package dev.shepherd.idempotency;

import dev.shepherd.testing.PostgresCluster;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Two JVMs, one PostgreSQL. */
class JdbcCrossJvmTest extends CrossJvmContract {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.primaryOnly();

  @Override
  protected IdempotencyStore newStore() {
    return new JdbcStoreFactory().create(pg.primaryJdbcUrl());
  }

  @Override
  protected Class<? extends StoreFactory> childFactory() {
    return JdbcStoreFactory.class;
  }

  @Override
  protected String childSpec() {
    return pg.primaryJdbcUrl();
  }
}
