package dev.shepherd.idempotency.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.idempotency.IdempotencyTracker;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/** The store key built from principal and header key: unambiguous and valid for the tracker. */
class KeyScopeTest {

  @Property
  void differentPrincipalOrKeyGivesADifferentStoreKey(@ForAll String p1, @ForAll String k1,
      @ForAll String p2, @ForAll String k2) {
    boolean same = p1.equals(p2) && k1.equals(k2);
    assertThat(IdempotencyFilter.scope(p1, k1).equals(IdempotencyFilter.scope(p2, k2)))
        .isEqualTo(same);
  }

  @Test
  void shiftingCharactersBetweenPrincipalAndKeyChangesTheStoreKey() {
    assertThat(IdempotencyFilter.scope("ab", "c")).isNotEqualTo(IdempotencyFilter.scope("a", "bc"));
    assertThat(IdempotencyFilter.scope("1:a", "b")).isNotEqualTo(IdempotencyFilter.scope("1", "a:b"));
  }

  @Test
  void storeKeyIsAcceptedByTheTracker() {
    String key = IdempotencyFilter.scope("alice", "k".repeat(255));
    assertThat(IdempotencyTracker.checkKey(key)).isEqualTo(key);
    assertThat(key).startsWith("idem:").hasSize(5 + 64);
  }
}
