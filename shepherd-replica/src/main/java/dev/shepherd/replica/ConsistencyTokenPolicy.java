package dev.shepherd.replica;

import dev.shepherd.core.internal.Require;
import java.time.Clock;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * Decides whether a verified {@link ConsistencyToken} is still worth waiting for, and stamps new
 * ones: a token older than the {@linkplain Builder#maxAge(Duration) maximum age}, issued further in
 * the future than the {@linkplain Builder#maxClockSkew(Duration) maximum clock skew}, or from another
 * cluster or timeline than the current primary's, is to be ignored (read as if there were none)
 * rather than waited on.
 *
 * <pre>{@code
 * ConsistencyTokenPolicy policy = ConsistencyTokenPolicy.builder()
 *     .maxAge(Duration.ofMinutes(10))
 *     .database(PrimaryIdentity.builder(primary).build())
 *     .build();
 * switch (policy.check(token)) {
 *   case ConsistencyTokenPolicy.Verdict.Usable u -> router.readAfter(u.token(), work);
 *   case ConsistencyTokenPolicy.Verdict.Expired e -> router.read(null, work);
 *   case ConsistencyTokenPolicy.Verdict.OtherHistory o -> router.read(null, work);
 * }
 * }</pre>
 *
 * <p>Why: a position is replayed by healthy replicas within milliseconds, so a token old enough has
 * nothing left to wait for, and a client that kept one (a bookmarked header, a long-lived job) must
 * not make reads wait for it; a position from a cluster restored into a new one, or from before a
 * failover (an older timeline), may lie beyond anything the current replicas will replay, or name
 * WAL they replayed differently, so waiting for it is wrong either way. Tokens whose history is
 * unknown, or checked while the primary's identity is unknown, are judged by age alone.
 *
 * <p>Clock skew: a token issued by a server whose clock runs ahead of this one's carries an issue
 * time in the future. Within the maximum clock skew it counts as just issued, so no token stays
 * usable for longer than the maximum age plus the maximum skew; further ahead it is
 * {@link Verdict.Expired} (with a negative age), so a server whose clock is far off cannot mint
 * tokens that live for as long as its clock is wrong. {@link ConsistencyToken#merge} trusts issue
 * times (a later-issued token wins between two histories and lends the merged token its issue time),
 * so merge tokens a client brings with {@link #merge(ConsistencyToken, ConsistencyToken)}, which
 * keeps only the usable ones.
 *
 * <p>Defaults: maximum age 1 hour, maximum clock skew 5 minutes, {@link Clock#systemUTC()}, no
 * database check. Immutable and thread-safe.
 */
public final class ConsistencyTokenPolicy {

  private final Duration maxAge;
  private final Duration maxClockSkew;
  private final Clock clock;
  private final @Nullable PrimaryIdentity database;

  private ConsistencyTokenPolicy(Builder builder) {
    this.maxAge = builder.maxAge;
    this.maxClockSkew = builder.maxClockSkew;
    this.clock = builder.clock;
    this.database = builder.database;
  }

  /**
   * Returns a builder.
   *
   * @return the builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Returns the policy with the defaults: tokens older than an hour are ignored, histories are not
   * checked.
   *
   * @return the policy
   */
  public static ConsistencyTokenPolicy ofDefaults() {
    return builder().build();
  }

  /**
   * Returns the maximum age of a usable token.
   *
   * @return the maximum age
   */
  public Duration maxAge() {
    return maxAge;
  }

  /**
   * Returns how far in the future a usable token's issue time may lie.
   *
   * @return the maximum clock skew
   */
  public Duration maxClockSkew() {
    return maxClockSkew;
  }

  /**
   * The judgement on one token.
   */
  public sealed interface Verdict {

    /**
     * Returns the token judged.
     *
     * @return the token
     */
    ConsistencyToken token();

    /**
     * The token is young enough and of the current history (or of an unknown one): wait for it.
     *
     * @param token the token
     */
    record Usable(ConsistencyToken token) implements Verdict {}

    /**
     * The token is older than the maximum age, or was issued further in the future than the
     * maximum clock skew: ignore it.
     *
     * @param token the token
     * @param age how old it is; negative for a token issued in the future (by how much, negated)
     * @param maxAge the policy's maximum age
     */
    record Expired(ConsistencyToken token, Duration age, Duration maxAge) implements Verdict {}

    /**
     * The token's position belongs to another cluster or timeline than the current primary's:
     * ignore it.
     *
     * @param token the token
     * @param current the current primary's identity
     */
    record OtherHistory(ConsistencyToken token, DatabaseIdentity current) implements Verdict {}
  }

  /**
   * Judges a verified token. May read the primary's identity (see {@link PrimaryIdentity}).
   *
   * @param token the token
   * @return the verdict
   * @throws NullPointerException if {@code token} is null
   */
  public Verdict check(ConsistencyToken token) {
    Require.nonNull(token, "token");
    Duration age = Duration.between(token.issuedAt(), clock.instant());
    if (age.isNegative()) {
      if (age.negated().compareTo(maxClockSkew) > 0) {
        return new Verdict.Expired(token, age, maxAge); // issued by a clock far ahead: no telling its age
      }
      age = Duration.ZERO; // issued by a server whose clock runs a little ahead: as young as can be
    }
    if (age.compareTo(maxAge) > 0) {
      return new Verdict.Expired(token, age, maxAge);
    }
    DatabaseIdentity tokenHistory = token.database();
    DatabaseIdentity current = currentDatabase();
    if (tokenHistory != null && current != null && !tokenHistory.equals(current)) {
      return new Verdict.OtherHistory(token, current);
    }
    return new Verdict.Usable(token);
  }

  /**
   * Merges the tokens among {@code a} and {@code b} that this policy finds {@link Verdict.Usable}, as
   * {@link ConsistencyToken#merge(ConsistencyToken, ConsistencyToken)} does: a token issued further
   * in the future than the maximum clock skew (or expired, or of another history) neither wins over
   * a usable one nor lends it its issue time. May read the primary's identity, as {@link #check}.
   *
   * @param a a token, or null
   * @param b a token, or null
   * @return the merged usable tokens; null if neither is usable
   */
  public @Nullable ConsistencyToken merge(@Nullable ConsistencyToken a, @Nullable ConsistencyToken b) {
    return ConsistencyToken.merge(usableOrNull(a), usableOrNull(b));
  }

  private @Nullable ConsistencyToken usableOrNull(@Nullable ConsistencyToken token) {
    return token != null && check(token) instanceof Verdict.Usable ? token : null;
  }

  /**
   * Returns a token for a write at {@code lsn} recorded now, of the current primary's history if
   * it is known.
   *
   * @param lsn the position of the write
   * @return the token
   * @throws NullPointerException if {@code lsn} is null
   */
  public ConsistencyToken stamp(Lsn lsn) {
    Require.nonNull(lsn, "lsn");
    return new ConsistencyToken(lsn, clock.instant(), currentDatabase());
  }

  private @Nullable DatabaseIdentity currentDatabase() {
    PrimaryIdentity source = database;
    return source == null ? null : source.current().orElse(null);
  }

  @Override
  public String toString() {
    return "ConsistencyTokenPolicy[maxAge=" + maxAge + ", maxClockSkew=" + maxClockSkew + ", database=" + database + "]";
  }

  /** Builds a {@link ConsistencyTokenPolicy}. Not thread-safe. */
  public static final class Builder {
    private Duration maxAge = Duration.ofHours(1);
    private Duration maxClockSkew = Duration.ofMinutes(5);
    private Clock clock = Clock.systemUTC();
    private @Nullable PrimaryIdentity database;

    private Builder() {}

    /**
     * Sets the age beyond which a token is ignored. Default 1 hour.
     *
     * @param maxAge the maximum age
     * @return this builder
     * @throws NullPointerException if {@code maxAge} is null
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder maxAge(Duration maxAge) {
      this.maxAge = Require.positive(maxAge, "maxAge");
      return this;
    }

    /**
     * Sets how far in the future a token's issue time may lie, for servers whose clocks run ahead
     * of this one's: within it the token counts as just issued, beyond it as expired. Default 5
     * minutes; zero accepts no token from the future.
     *
     * @param maxClockSkew the maximum clock skew
     * @return this builder
     * @throws NullPointerException if {@code maxClockSkew} is null
     * @throws IllegalArgumentException if it is negative
     */
    public Builder maxClockSkew(Duration maxClockSkew) {
      this.maxClockSkew = Require.nonNegative(maxClockSkew, "maxClockSkew");
      return this;
    }

    /**
     * Sets where the current primary's identity comes from; tokens of another history are then
     * ignored, and new tokens carry it. Default: none (histories are not checked).
     *
     * @param primary the primary's identity
     * @return this builder
     * @throws NullPointerException if {@code primary} is null
     */
    public Builder database(PrimaryIdentity primary) {
      this.database = Require.nonNull(primary, "primary");
      return this;
    }

    /**
     * Sets the wall clock for issue times and ages. Default {@link Clock#systemUTC()}; the test seam.
     *
     * @param clock the clock
     * @return this builder
     * @throws NullPointerException if {@code clock} is null
     */
    public Builder clock(Clock clock) {
      this.clock = Require.nonNull(clock, "clock");
      return this;
    }

    /**
     * Builds the policy.
     *
     * @return the policy
     */
    public ConsistencyTokenPolicy build() {
      return new ConsistencyTokenPolicy(this);
    }
  }
}
