package dev.shepherd.cache;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Runs the sample of README.md and of CoalescingCache's javadoc, copied verbatim. */
class ReadmeSampleTest {

  record User(long id, String name) {}

  /** Stands in for the application's data access. */
  static final class UserRepository {
    int finds;

    User find(long id) {
      finds++;
      return new User(id, "user-" + id);
    }
  }

  private final UserRepository repository = new UserRepository();

  @Test
  void readmeSampleFetchesThroughTheCache() throws Exception {
    CoalescingCache<Long, User> users = CoalescingCache.<Long, User>builder()
        .maximumSize(10_000)
        .timeToLive(Duration.ofMinutes(5))
        .cacheFailuresFor(Duration.ofSeconds(2))
        .serveStaleOnError(Duration.ofMinutes(30))
        .build();

    Fetched<User> fetched = users.fetch(42L, id -> Load.commit(repository.find(id)), Duration.ofSeconds(1));
    User user = fetched.value();          // fetched.source(): HIT, LOADED, JOINED or STALE

    assertThat(user).isEqualTo(new User(42L, "user-42"));
    assertThat(fetched.source()).isEqualTo(Fetched.Source.LOADED);
    assertThat(users.fetch(42L, id -> Load.commit(repository.find(id))).source())
        .isEqualTo(Fetched.Source.HIT);
    assertThat(repository.finds).isEqualTo(1);
  }

  @Test
  void javadocSampleFetchesThroughTheCache() throws Exception {
    CoalescingCache<Long, User> users = CoalescingCache.<Long, User>builder()
        .maximumSize(10_000)
        .timeToLive(Duration.ofMinutes(5))
        .cacheFailuresFor(Duration.ofSeconds(2))
        .build();

    Fetched<User> fetched = users.fetch(42L, id -> Load.commit(repository.find(id)), Duration.ofSeconds(1));
    User user = fetched.value();   // fetched.source(): HIT, LOADED, JOINED or STALE

    assertThat(user.name()).isEqualTo("user-42");
  }
}
