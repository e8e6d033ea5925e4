package dev.shepherd.idempotency;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.FakeTicker;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

/**
 * Random sequences of claims, completions, halts, releases, renewals (by the current owner and by
 * former owners) and clock advances against the in-memory store, checked against a small model of
 * the store contract: one key, a lease of 60 s, a retention of 1 h.
 */
class StoreModelPropertyTest {

  private static final Duration LEASE = Duration.ofSeconds(60);
  private static final Duration RETENTION = Duration.ofHours(1);

  enum Kind { CLAIM, COMPLETE, HALT, RELEASE, RENEW, ADVANCE }

  record Op(Kind kind, String fingerprint, OrphanPolicy policy, int owner, Duration advance) {}

  @Provide
  Arbitrary<List<Op>> operations() {
    Arbitrary<Op> op = Combinators.combine(
            Arbitraries.of(Kind.class),
            Arbitraries.of("a", "b"),
            Arbitraries.of(OrphanPolicy.class),
            Arbitraries.integers().between(0, 3),
            Arbitraries.of(Duration.ZERO, Duration.ofSeconds(30), Duration.ofSeconds(59),
                Duration.ofSeconds(61), Duration.ofMinutes(61)))
        .as(Op::new);
    return op.list().ofMinSize(1).ofMaxSize(40);
  }

  /** The model: what the record is, by the index of the claim that made it. */
  private static final class Model {
    String state; // null = absent, P, C, H
    int owner = -1; // index into claims
    String fingerprint;
    long leaseEnd;
    long expiry;
  }

  @Property(tries = 200)
  void inMemoryStoreFollowsTheModel(@ForAll("operations") @Size(max = 40) List<Op> ops) {
    FakeTicker ticker = new FakeTicker();
    InMemoryIdempotencyStore store = InMemoryIdempotencyStore.create(
        ticker, Clock.fixed(Instant.EPOCH, ZoneOffset.UTC));
    Model m = new Model();
    List<Long> tokens = new ArrayList<>();
    long now = 0;
    for (Op op : ops) {
      boolean live = m.state != null && now < m.expiry;
      switch (op.kind()) {
        case ADVANCE -> {
          ticker.advance(op.advance());
          now += op.advance().toNanos();
        }
        case CLAIM -> {
          Tracked t = store.claim("k", op.fingerprint(), LEASE, RETENTION, op.policy());
          if (!live) {
            assertThat(t).isInstanceOfSatisfying(Tracked.Claimed.class,
                c -> assertThat(c.tookOver()).isFalse());
            newClaim(m, t, tokens, op.fingerprint(), now);
          } else if (!m.fingerprint.equals(op.fingerprint())) {
            assertThat(t).isInstanceOf(Tracked.Mismatch.class);
          } else if (m.state.equals("C")) {
            assertThat(t).isInstanceOf(Tracked.Completed.class);
          } else if (m.state.equals("H")) {
            assertThat(t).isInstanceOf(Tracked.Halted.class);
          } else if (now < m.leaseEnd) {
            assertThat(t).isInstanceOf(Tracked.InProgress.class);
          } else if (op.policy() == OrphanPolicy.TAKE_OVER) {
            assertThat(t).isInstanceOfSatisfying(Tracked.Claimed.class,
                c -> assertThat(c.tookOver()).isTrue());
            newClaim(m, t, tokens, op.fingerprint(), now);
          } else {
            assertThat(t).isInstanceOf(Tracked.Halted.class);
            m.state = "H";
            m.expiry = now + RETENTION.toNanos();
          }
        }
        case COMPLETE, HALT, RELEASE, RENEW -> {
          if (tokens.isEmpty()) {
            continue;
          }
          int who = Math.min(op.owner(), tokens.size() - 1);
          // owner 0 = the latest claim; others = former owners
          int index = tokens.size() - 1 - who;
          long token = tokens.get(index);
          boolean owns = live && "P".equals(m.state) && m.owner == index;
          // Finishing again with the same token and outcome is a no-op success (a retry).
          boolean again = live && m.owner == index
              && ((op.kind() == Kind.COMPLETE && "C".equals(m.state))
                  || (op.kind() == Kind.HALT && "H".equals(m.state)));
          boolean done = switch (op.kind()) {
            case COMPLETE -> store.complete("k", token,
                new StoredResponse(200, List.of(), new byte[0], Instant.EPOCH), RETENTION);
            case HALT -> store.halt("k", token, "r", RETENTION);
            case RELEASE -> store.release("k", token);
            default -> store.renew("k", token, LEASE, RETENTION);
          };
          assertThat(done).as("%s by claim %d (owner %d, state %s)", op.kind(), index, m.owner,
              m.state).isEqualTo(owns || again);
          if (owns) {
            switch (op.kind()) {
              case COMPLETE -> { m.state = "C"; m.expiry = now + RETENTION.toNanos(); }
              case HALT -> { m.state = "H"; m.expiry = now + RETENTION.toNanos(); }
              case RELEASE -> m.state = null;
              default -> {
                m.leaseEnd = now + LEASE.toNanos();
                m.expiry = m.leaseEnd + RETENTION.toNanos();
              }
            }
          }
        }
      }
    }
    for (int i = 1; i < tokens.size(); i++) {
      assertThat(tokens.get(i)).isGreaterThan(tokens.get(i - 1));
    }
  }

  private static void newClaim(Model m, Tracked t, List<Long> tokens, String fp, long now) {
    tokens.add(((Tracked.Claimed) t).fencingToken());
    m.state = "P";
    m.owner = tokens.size() - 1;
    m.fingerprint = fp;
    m.leaseEnd = now + LEASE.toNanos();
    m.expiry = m.leaseEnd + RETENTION.toNanos();
  }
}
