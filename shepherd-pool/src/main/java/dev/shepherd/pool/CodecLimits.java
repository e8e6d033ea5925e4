package dev.shepherd.pool;

import dev.shepherd.core.internal.Require;

/**
 * How large a value the pool's codec carries between a pool and its remote runners, checked in
 * both directions: when an argument or result is encoded, and when bytes from the peer are decoded.
 * A value beyond a limit is refused with an {@link IllegalArgumentException} naming the limit.
 *
 * @param maxDepth the deepest nesting of lists and maps
 * @param maxCollectionSize the most elements in one list, or entries in one map
 * @param maxStringBytes the most bytes in one string (UTF-8) or byte array
 */
public record CodecLimits(int maxDepth, int maxCollectionSize, int maxStringBytes) {

  /** Default of {@link #maxDepth()}. */
  public static final int DEFAULT_MAX_DEPTH = 64;

  /** Default of {@link #maxCollectionSize()}. */
  public static final int DEFAULT_MAX_COLLECTION_SIZE = 1_000_000;

  /** Default of {@link #maxStringBytes()}: 16 MiB. */
  public static final int DEFAULT_MAX_STRING_BYTES = 16 * 1024 * 1024;

  private static final CodecLimits DEFAULTS =
      new CodecLimits(DEFAULT_MAX_DEPTH, DEFAULT_MAX_COLLECTION_SIZE, DEFAULT_MAX_STRING_BYTES);

  /**
   * Checks the limits.
   *
   * @throws IllegalArgumentException if a limit is below 1 (or maxDepth above 1,000)
   */
  public CodecLimits {
    Require.inRange(maxDepth, 1, 1000, "maxDepth");
    Require.atLeast(maxCollectionSize, 1, "maxCollectionSize");
    Require.atLeast(maxStringBytes, 1, "maxStringBytes");
  }

  /**
   * Returns the default limits.
   *
   * @return {@value #DEFAULT_MAX_DEPTH} levels, {@value #DEFAULT_MAX_COLLECTION_SIZE}
   *     elements, {@value #DEFAULT_MAX_STRING_BYTES} bytes
   */
  public static CodecLimits defaults() {
    return DEFAULTS;
  }
}
