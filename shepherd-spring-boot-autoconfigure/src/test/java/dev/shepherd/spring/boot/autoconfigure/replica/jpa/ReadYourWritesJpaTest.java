package dev.shepherd.spring.boot.autoconfigure.replica.jpa;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.replica.ReplicaRouter;
import dev.shepherd.replica.ReplicaRoutingDataSource;
import dev.shepherd.replica.Route;
import dev.shepherd.testing.PostgresCluster;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * Read-your-writes for an unchanged Spring Data JPA application, on a real PostgreSQL primary and
 * streaming replica: a request saves an entity, the next request (sending back the token the first
 * one got) reads it with {@code findById}, served by the replica.
 */
class ReadYourWritesJpaTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  static ConfigurableApplicationContext app;
  static HttpClient http;
  static URI base;

  @BeforeAll
  static void start() {
    app = new SpringApplicationBuilder(NotesApplication.class).properties(
        "server.port=0",
        "server.tomcat.basedir=target/tomcat",
        "server.address=127.0.0.1",
        "spring.datasource.url=" + pg.primaryJdbcUrl(),
        "spring.datasource.username=" + pg.user(),
        "spring.jpa.hibernate.ddl-auto=create",
        "spring.jpa.open-in-view=true",
        "shepherd.idempotency.store=jdbc",
        "shepherd.idempotency.jdbc.create-schema=true",
        "shepherd.replica.replicas.r1.url=" + pg.replicaJdbcUrl(),
        "shepherd.replica.replicas.r1.username=" + pg.user(),
        // generous: on this loaded machine a replica is always given the time to replay
        "shepherd.replica.max-wait=10s",
        "shepherd.replica.token.signing-secret=0123456789abcdef0123456789abcdef",
        "shepherd.replica.token.secure-cookie=false").run();
    pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));
    http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    base = URI.create("http://127.0.0.1:" + app.getEnvironment().getProperty("local.server.port"));
  }

  @AfterAll
  static void stop() {
    if (app != null) {
      app.close();
    }
  }

  private static ReplicaRoutingDataSource routing() throws Exception {
    return app.getBean(DataSource.class).unwrap(ReplicaRoutingDataSource.class);
  }

  /** POSTs a note; returns its id and the consistency token of the response. */
  private static String[] create(String text) throws Exception {
    HttpResponse<String> created = http.send(HttpRequest.newBuilder(base.resolve("/notes"))
        .timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofString(text)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(created.statusCode()).isEqualTo(200);
    String token = created.headers().firstValue("Shepherd-Consistency-Token").orElseThrow(
        () -> new AssertionError("the write's response carries no consistency token"));
    return new String[] {created.body(), token};
  }

  private static HttpResponse<String> read(String id, String token) throws Exception {
    return http.send(HttpRequest.newBuilder(base.resolve("/notes/" + id)).timeout(Duration.ofSeconds(30))
        .header("Shepherd-Consistency-Token", token).GET().build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void theNextRequestsFindByIdIsServedByTheReplicaAndSeesTheWrite500TimesInARow() throws Exception {
    ReplicaRouter router = routing().router();
    long replicaReadsBefore = router.stats().replicaReads();
    long primaryReadsBefore = router.stats().primaryReads();
    long replicaConnectionsBefore = routing().stats().replicaConnections();
    for (int i = 0; i < 500; i++) {
      String text = "note " + i;
      String[] created = create(text);
      HttpResponse<String> read = read(created[0], created[1]);
      assertThat(read.statusCode()).as("iteration %d: the read saw the write", i).isEqualTo(200);
      assertThat(read.body()).as("iteration %d", i).isEqualTo(text);
    }
    assertThat(router.stats().replicaReads() - replicaReadsBefore).as("reads routed to the replica").isEqualTo(500);
    assertThat(router.stats().primaryReads() - primaryReadsBefore).as("reads that fell back").isZero();
    assertThat(routing().stats().replicaConnections() - replicaConnectionsBefore).isEqualTo(500);
  }

  @Test
  void withReplayPausedTheReadFallsBackToThePrimaryAndStillSeesTheWrite() throws Exception {
    ReplicaRouter router = routing().router();
    pg.pauseReplay();
    try {
      String[] created = create("written while replay is paused");
      long timedOutBefore = router.stats().fallbacks().get(Route.FallbackReason.TIMED_OUT);
      long replicaReadsBefore = router.stats().replicaReads();
      HttpResponse<String> read = read(created[0], created[1]);
      assertThat(read.statusCode()).isEqualTo(200);
      assertThat(read.body()).isEqualTo("written while replay is paused");
      assertThat(router.stats().fallbacks().get(Route.FallbackReason.TIMED_OUT) - timedOutBefore).isEqualTo(1);
      assertThat(router.stats().replicaReads()).isEqualTo(replicaReadsBefore);
    } finally {
      pg.resumeReplay();
    }
  }
}
