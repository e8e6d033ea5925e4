package dev.shepherd.spring.boot.autoconfigure.replica;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.replica.ConsistencyContext;
import dev.shepherd.replica.ReplicaRouter;
import dev.shepherd.testing.PostgresCluster;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration;
import org.springframework.boot.jdbc.autoconfigure.DataSourceTransactionManagerAutoConfiguration;
import org.springframework.boot.jdbc.autoconfigure.JdbcTemplateAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.transaction.autoconfigure.TransactionAutoConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.transaction.annotation.Transactional;

/**
 * Read-your-writes for an unchanged JdbcTemplate application (DataSourceTransactionManager), on a
 * real primary and streaming replica, in a job that carries its token with ConsistencyContext.
 */
class ReadYourWritesJdbcTemplateTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  /** An ordinary JdbcTemplate repository. */
  public static class Notes {
    private final JdbcTemplate jdbc;

    Notes(JdbcTemplate jdbc) {
      this.jdbc = jdbc;
    }

    @Transactional
    public void add(long id, String text) {
      jdbc.update("INSERT INTO jdbc_notes(id, text) VALUES (?, ?)", id, text);
    }

    /** The note's text and where it was read ("replica" or "primary"). */
    @Transactional(readOnly = true)
    public String[] find(long id) {
      String text = jdbc.query("SELECT text FROM jdbc_notes WHERE id = ?", rs -> rs.next() ? rs.getString(1) : null, id);
      boolean replica = Boolean.TRUE.equals(jdbc.queryForObject("SELECT pg_is_in_recovery()", Boolean.class));
      return new String[] {text, replica ? "replica" : "primary"};
    }
  }

  @Configuration(proxyBeanMethods = false)
  static class App {
    @Bean
    Notes notes(JdbcTemplate jdbc) {
      jdbc.execute("CREATE TABLE IF NOT EXISTS jdbc_notes (id bigint PRIMARY KEY, text text)");
      return new Notes(jdbc);
    }
  }

  private static ApplicationContextRunner runner() {
    return new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(DataSourceAutoConfiguration.class, DataSourceTransactionManagerAutoConfiguration.class,
            JdbcTemplateAutoConfiguration.class, TransactionAutoConfiguration.class, ShepherdReplicaAutoConfiguration.class))
        .withUserConfiguration(App.class)
        .withPropertyValues("spring.datasource.url=" + pg.primaryJdbcUrl(), "spring.datasource.username=" + pg.user(),
            "shepherd.replica.replicas.r1.url=" + pg.replicaJdbcUrl(), "shepherd.replica.replicas.r1.username=" + pg.user(),
            "shepherd.replica.max-wait=10s",
            "shepherd.replica.token.signing-secret=0123456789abcdef0123456789abcdef");
  }

  @Test
  void aReadOnlyTransactionAfterAWriteIsServedByTheReplicaAndSeesIt() {
    runner().run(context -> {
      pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));
      Notes notes = context.getBean(Notes.class);
      ReplicaRouter router = context.getBean(ReplicaRouter.class);
      for (int i = 0; i < 200; i++) {
        long id = i;
        String[] found = ConsistencyContext.callWith(null, () -> {
          notes.add(id, "note " + id);
          return notes.find(id);
        });
        assertThat(found).as("iteration %d", i).containsExactly("note " + id, "replica");
      }
      assertThat(router.stats().primaryReads()).isZero();
    });
  }

  @Test
  void withoutAnyScopeTheSameThreadStillReadsItsOwnWritesOnTheReplica() {
    runner().run(context -> {
      pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));
      Notes notes = context.getBean(Notes.class);
      for (int i = 0; i < 200; i++) {
        long id = 10_000 + i;
        notes.add(id, "job note " + id);
        assertThat(notes.find(id)).as("iteration %d", i).containsExactly("job note " + id, "replica");
      }
      assertThat(context.getBean(ReplicaRouter.class).stats().primaryReads()).isZero();
    });
  }
}
