package dev.shepherd.replica;

import dev.shepherd.core.internal.Require;
import org.jspecify.annotations.Nullable;

/**
 * A PostgreSQL log sequence number: a byte position in the write-ahead log, printed by the server
 * as two hexadecimal halves {@code X/Y} (for example {@code 16/B374D848}).
 *
 * <p>LSNs are unsigned 64-bit values; they compare and subtract as such, exactly like the server's
 * {@code pg_lsn} type: {@code Lsn.parse("0/20").bytesSince(Lsn.parse("0/10")) == 16}.
 * {@link #toString()} prints the server's form (upper-case hexadecimal, no leading zeros), so the
 * text can be passed back in SQL as {@code '...'::pg_lsn}.
 *
 * <p>Instances are immutable and thread-safe; equal positions are {@link #equals equal}.
 */
public final class Lsn implements Comparable<Lsn> {

  /** The position {@code 0/0}, before any WAL; the server's "invalid" LSN. */
  public static final Lsn ZERO = new Lsn(0L);

  private final long value;

  private Lsn(long value) {
    this.value = value;
  }

  /**
   * Returns the LSN with the given 64-bit value (read as unsigned).
   *
   * @param value the position, as the server's {@code pg_lsn - '0/0'} would give it
   * @return the LSN
   */
  public static Lsn of(long value) {
    return value == 0L ? ZERO : new Lsn(value);
  }

  /**
   * Parses the server's {@code X/Y} text, each half 1 to 8 hexadecimal digits (either case).
   *
   * @param text the text, for example {@code "16/B374D848"}
   * @return the LSN
   * @throws NullPointerException if {@code text} is null
   * @throws IllegalArgumentException if the text is not of that form; the message quotes it
   */
  public static Lsn parse(String text) {
    Require.nonNull(text, "text");
    int slash = text.indexOf('/');
    if (slash < 1 || slash > 8 || text.length() - slash - 1 < 1 || text.length() - slash - 1 > 8) {
      throw malformed(text);
    }
    long high = parseHex(text, 0, slash);
    long low = parseHex(text, slash + 1, text.length());
    return of((high << 32) | low);
  }

  private static long parseHex(String text, int from, int to) {
    long result = 0L;
    for (int i = from; i < to; i++) {
      int digit = Character.digit(text.charAt(i), 16);
      if (digit < 0 || text.charAt(i) > 'f') { // Character.digit also accepts non-ASCII digits
        throw malformed(text);
      }
      result = (result << 4) | digit;
    }
    return result;
  }

  private static IllegalArgumentException malformed(String text) {
    String shown = text.length() > 64 ? text.substring(0, 64) + "..." : text;
    return new IllegalArgumentException(
        "not a PostgreSQL LSN: \"" + shown + "\" (expected two hexadecimal halves X/Y such as 16/B374D848)");
  }

  /**
   * Returns the position as a 64-bit value; compare with {@link Long#compareUnsigned}.
   *
   * @return the value
   */
  public long value() {
    return value;
  }

  /**
   * Returns the number of WAL bytes from {@code earlier} to this position, like the server's
   * {@code pg_lsn - pg_lsn}; negative when {@code earlier} is in fact later.
   *
   * @param earlier the other position
   * @return this minus {@code earlier}, in bytes
   * @throws NullPointerException if {@code earlier} is null
   * @throws ArithmeticException if the distance does not fit a signed long (more than 8 EiB)
   */
  public long bytesSince(Lsn earlier) {
    Require.nonNull(earlier, "earlier");
    long difference = value - earlier.value;
    boolean forward = Long.compareUnsigned(value, earlier.value) >= 0;
    if (forward != (difference >= 0) && difference != 0) {
      throw new ArithmeticException("distance from " + earlier + " to " + this + " overflows a long");
    }
    return difference;
  }

  /**
   * Returns whether this position is at or after {@code other}: a replica whose replay LSN is this
   * has applied everything up to {@code other}.
   *
   * @param other the position to compare with
   * @return {@code this >= other}
   */
  public boolean isAtLeast(Lsn other) {
    return compareTo(other) >= 0;
  }

  /**
   * Returns the later of two positions.
   *
   * @param a one position, or null
   * @param b the other, or null
   * @return the greater one; the non-null one if only one is null; null if both are
   */
  public static @Nullable Lsn max(@Nullable Lsn a, @Nullable Lsn b) {
    if (a == null) {
      return b;
    }
    if (b == null) {
      return a;
    }
    return a.compareTo(b) >= 0 ? a : b;
  }

  /** Compares as unsigned 64-bit positions. */
  @Override
  public int compareTo(Lsn other) {
    return Long.compareUnsigned(value, other.value);
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof Lsn other && other.value == value;
  }

  @Override
  public int hashCode() {
    return Long.hashCode(value);
  }

  /** Returns the server's text form {@code X/Y}, upper-case hexadecimal without leading zeros. */
  @Override
  public String toString() {
    return Long.toHexString(value >>> 32).toUpperCase(java.util.Locale.ROOT) + "/"
        + Long.toHexString(value & 0xFFFF_FFFFL).toUpperCase(java.util.Locale.ROOT);
  }
}
