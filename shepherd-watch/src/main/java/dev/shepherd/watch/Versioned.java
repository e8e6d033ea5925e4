package dev.shepherd.watch;

import dev.shepherd.core.internal.Require;

/**
 * A value together with the index (version) at which a source observed it, as answered by
 * {@link WatchSource#fetch(String, long, java.time.Duration)}.
 *
 * <p>The index is the source's own monotonic version: Consul's {@code X-Consul-Index}, an etcd
 * revision, the in-memory store's write counter. A larger index means a later state. Zero means
 * "no usable index" and is treated as a failure by the watch loop (a source that always answers
 * zero would otherwise make it spin). An index lower than the previous one means the source was
 * reset; the loop then starts again from zero and delivers the value.
 *
 * <p>The value is never null: a source that can answer "absent" uses a type that says so, such as
 * {@code Optional<V>} ({@link InMemoryVersionedStore}) or a list ({@code ConsulClient}'s health
 * source). Immutable if {@code V} is.
 *
 * @param value the value, never null
 * @param index the index of the value, zero or more
 * @param <V> the value's type
 */
public record Versioned<V>(V value, long index) {

  /**
   * Creates a versioned value.
   *
   * @throws NullPointerException if {@code value} is null
   * @throws IllegalArgumentException if {@code index} is negative
   */
  public Versioned {
    Require.nonNull(value, "value");
    Require.atLeast(index, 0L, "index");
  }

  /**
   * Returns a versioned value.
   *
   * @param value the value
   * @param index the index, zero or more
   * @param <V> the value's type
   * @return the versioned value
   * @throws NullPointerException if {@code value} is null
   * @throws IllegalArgumentException if {@code index} is negative
   */
  public static <V> Versioned<V> of(V value, long index) {
    return new Versioned<>(value, index);
  }
}
