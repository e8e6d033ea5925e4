package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

class ConsistencyContextTest {

  @Test
  void outsideAScopeThereIsNoTokenAndWritesCannotBeRecorded() {
    assertThat(ConsistencyContext.current()).isEmpty();
    assertThat(ConsistencyContext.requiredLsn()).isNull();
    assertThatThrownBy(() -> ConsistencyContext.recordWrite(Lsn.parse("0/1")))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("ConsistencyTokenFilter");
  }

  @Test
  void recordedWritesMergeByKeepingTheGreaterPosition() throws Exception {
    ConsistencyToken start = ConsistencyToken.of(Lsn.parse("0/200"));
    ConsistencyContext.callWith(start, () -> {
      assertThat(ConsistencyContext.recordWrite(Lsn.parse("0/100")).lsn()).isEqualTo(Lsn.parse("0/200"));
      assertThat(ConsistencyContext.recordWrite(Lsn.parse("0/300")).lsn()).isEqualTo(Lsn.parse("0/300"));
      assertThat(ConsistencyContext.requiredLsn()).isEqualTo(Lsn.parse("0/300"));
      return null;
    });
    assertThat(ConsistencyContext.current()).isEmpty();
  }

  @Test
  void aRecordedTokenKeepsItsIssueTimeAndHistory() throws Exception {
    DatabaseIdentity db = new DatabaseIdentity(42L, 2);
    Instant issued = Instant.parse("2026-12-04T21:00:00Z");
    ConsistencyToken written = ConsistencyToken.of(Lsn.parse("0/500"), db, issued);
    ConsistencyContext.callWith(null, () -> {
      assertThat(ConsistencyContext.recordWrite(written)).isEqualTo(written);
      assertThat(ConsistencyContext.current()).contains(written);
      return null;
    });
  }

  @Test
  void scopesNestAndRestoreTheOuterToken() {
    ConsistencyContext.runWith(ConsistencyToken.of(Lsn.parse("0/1")), () -> {
      ConsistencyContext.runWith(ConsistencyToken.of(Lsn.parse("0/2")),
          () -> assertThat(ConsistencyContext.requiredLsn()).isEqualTo(Lsn.parse("0/2")));
      assertThat(ConsistencyContext.requiredLsn()).isEqualTo(Lsn.parse("0/1"));
    });
  }

  @Test
  void wrappedTaskCarriesTheTokenIntoAnotherThread() throws Exception {
    try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
      Lsn[] seen = new Lsn[1];
      Future<?> done = ConsistencyContext.callWith(ConsistencyToken.of(Lsn.parse("0/ABC")),
          () -> executor.submit(ConsistencyContext.wrap(() -> seen[0] = ConsistencyContext.requiredLsn())));
      done.get();
      assertThat(seen[0]).isEqualTo(Lsn.parse("0/ABC"));
    }
  }
}
