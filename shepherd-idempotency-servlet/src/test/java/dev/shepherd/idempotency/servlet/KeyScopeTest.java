package dev.shepherd.idempotency.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.idempotency.IdempotencyTracker;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.Chars;
import net.jqwik.api.constraints.StringLength;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
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

  /** Strings of lone surrogates, their neighbours and {@code ?}, which getBytes(UTF_8) conflates. */
  @Property
  void principalsDifferingOnlyInUnpairedSurrogatesHaveDifferentScopes(
      @ForAll @Chars({'x', '?', '\uD800', '\uD801', '\uDC00', '\uDFFF'}) @StringLength(max = 4)
          String p1,
      @ForAll @Chars({'x', '?', '\uD800', '\uD801', '\uDC00', '\uDFFF'}) @StringLength(max = 4)
          String p2) {
    assertThat(IdempotencyFilter.scope(p1, "k").equals(IdempotencyFilter.scope(p2, "k")))
        .isEqualTo(p1.equals(p2));
  }

  @Test
  void loneSurrogatePrincipalsDoNotShareAScopeWhileWellFormedOnesKeepTheirs() throws Exception {
    assertThat(new java.util.HashSet<>(java.util.List.of(IdempotencyFilter.scope("x\uD800", "k"),
        IdempotencyFilter.scope("x\uD801", "k"), IdempotencyFilter.scope("x?", "k"))))
        .hasSize(3);
    // A well-formed principal hashes as before (plain UTF-8), so stored keys stay reachable.
    String principal = "ünï😀";
    byte[] p = principal.getBytes(StandardCharsets.UTF_8);
    MessageDigest sha = MessageDigest.getInstance("SHA-256");
    sha.update((p.length + ":").getBytes(StandardCharsets.US_ASCII));
    sha.update(p);
    sha.update("k".getBytes(StandardCharsets.UTF_8));
    assertThat(IdempotencyFilter.scope(principal, "k"))
        .isEqualTo("idem:" + HexFormat.of().formatHex(sha.digest()));
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
