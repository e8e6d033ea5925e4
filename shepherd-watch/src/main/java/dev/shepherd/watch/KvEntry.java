package dev.shepherd.watch;

import dev.shepherd.core.internal.Require;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * One entry of Consul's KV store as {@code GET /v1/kv/<key>} returns it (the value decoded from
 * base64).
 *
 * @param key the full key
 * @param value the raw value, or null when the key holds no value
 * @param flags the opaque flags a client stored with the value
 * @param createIndex the index at which the key was created
 * @param modifyIndex the index of the key's last write
 * @param lockIndex how many times a lock on the key was acquired
 * @param session the session holding a lock on the key, or null
 */
@SuppressWarnings("ArrayRecordComponent") // the value is copied in and out; equals compares contents
public record KvEntry(
    String key, byte @Nullable [] value, long flags, long createIndex, long modifyIndex,
    long lockIndex, @Nullable String session) {

  /**
   * Creates an entry; the value array is copied.
   *
   * @throws NullPointerException if {@code key} is null
   */
  public KvEntry {
    Require.nonNull(key, "key");
    value = value == null ? null : value.clone();
  }

  /**
   * Returns a copy of the raw value, or null when the key holds no value.
   *
   * @return the value bytes
   */
  @Override
  public byte @Nullable [] value() {
    return value == null ? null : value.clone();
  }

  /**
   * Returns the value decoded as UTF-8; empty when the key holds no value.
   *
   * @return the value as text
   */
  public Optional<String> valueAsString() {
    return value == null ? Optional.empty() : Optional.of(new String(value, StandardCharsets.UTF_8));
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof KvEntry e && e.key.equals(key) && Arrays.equals(e.value, value)
        && e.flags == flags && e.createIndex == createIndex && e.modifyIndex == modifyIndex
        && e.lockIndex == lockIndex && java.util.Objects.equals(e.session, session);
  }

  @Override
  public int hashCode() {
    return java.util.Objects.hash(key, Arrays.hashCode(value), flags, createIndex, modifyIndex,
        lockIndex, session);
  }

  @Override
  public String toString() {
    return "KvEntry[key=" + key + ", value=" + valueAsString().orElse("null") + ", flags=" + flags
        + ", createIndex=" + createIndex + ", modifyIndex=" + modifyIndex + ", lockIndex="
        + lockIndex + (session == null ? "" : ", session=" + session) + "]";
  }
}
