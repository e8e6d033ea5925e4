package dev.shepherd.watch;

import java.util.OptionalLong;

/**
 * Writes to the store behind a {@link BlockingQueryServlet}: what {@code PUT} and {@code DELETE}
 * call, with Consul's check-and-set.
 *
 * <p>Check-and-set ({@code cas}): empty means unconditional; for a put, {@code 0} means "only if the
 * key is absent" and {@code n > 0} "only if the key's modify index is {@code n}"; for a delete,
 * {@code 0} never deletes (Consul's rule) and {@code n} deletes only at modify index {@code n}.
 * Implementations must be thread-safe; they may block (each request has its own thread).
 *
 * @param <V> the type of values
 */
public interface KvWriter<V> {

  /**
   * Writes a value.
   *
   * @param key the key, not empty
   * @param value the decoded value
   * @param cas the check-and-set index, or empty for an unconditional write
   * @return the index of the write, or empty if the check-and-set did not match (nothing written)
   * @throws Exception if the store failed; the servlet answers 503
   */
  OptionalLong put(String key, V value, OptionalLong cas) throws Exception;

  /**
   * Deletes a key.
   *
   * @param key the key, not empty
   * @param cas the check-and-set index, or empty for an unconditional delete
   * @return the index of the delete (the store's index if the key was absent), or empty if the
   *     check-and-set did not match
   * @throws Exception if the store failed; the servlet answers 503
   */
  OptionalLong delete(String key, OptionalLong cas) throws Exception;

  /**
   * Deletes every key under a prefix ({@code DELETE ?recurse}). The default refuses: the servlet
   * answers 400 naming the missing capability.
   *
   * @param prefix the prefix, possibly empty
   * @return the index of the delete
   * @throws UnsupportedOperationException if this writer cannot delete by prefix
   * @throws Exception if the store failed
   */
  default long deletePrefix(String prefix) throws Exception {
    throw new UnsupportedOperationException("this store cannot delete by prefix");
  }

  /**
   * Returns a writer over an in-memory store.
   *
   * @param store the store
   * @param <V> the type of values
   * @return the writer
   */
  static <V> KvWriter<V> of(InMemoryVersionedStore<V> store) {
    return new KvWriter<>() {
      @Override
      public OptionalLong put(String key, V value, OptionalLong cas) {
        return cas.isPresent() ? store.putIf(key, value, cas.getAsLong())
            : OptionalLong.of(store.put(key, value));
      }

      @Override
      public OptionalLong delete(String key, OptionalLong cas) {
        return cas.isPresent() ? store.deleteIf(key, cas.getAsLong())
            : OptionalLong.of(store.delete(key));
      }

      @Override
      public long deletePrefix(String prefix) {
        return store.deletePrefix(prefix);
      }
    };
  }
}
