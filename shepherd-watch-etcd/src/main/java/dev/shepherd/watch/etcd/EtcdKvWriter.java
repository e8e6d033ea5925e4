package dev.shepherd.watch.etcd;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.watch.KvWriter;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.PutOption;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/**
 * Writes etcd keys for a {@code BlockingQueryServlet} serving an {@link EtcdWatchSource}, so
 * {@code PUT} and {@code DELETE} on the Consul-style endpoint reach etcd, with Consul's
 * check-and-set mapped onto etcd transactions: {@code cas=0} is "the key's version is 0" (absent),
 * {@code cas=n} is "the key's mod revision is n"; the index answered is etcd's revision.
 *
 * <p>Every call is bounded by the request timeout (default 10 s) and fails with
 * {@link TimeoutException} after it. Thread-safe; does not own the {@link Client}.
 *
 * @param <V> the type of values
 */
public final class EtcdKvWriter<V> implements KvWriter<V> {

  private final KV kv;
  private final Function<? super V, ByteSequence> encoder;
  private final long timeoutNanos;

  private EtcdKvWriter(Client client, Function<? super V, ByteSequence> encoder, Duration timeout) {
    this.kv = Require.nonNull(client, "client").getKVClient();
    this.encoder = Require.nonNull(encoder, "encoder");
    this.timeoutNanos = Durations.toNanosSaturated(Require.positive(timeout, "timeout"));
  }

  /**
   * Returns a writer of UTF-8 text with a 10-second request timeout.
   *
   * @param client the jetcd client
   * @return the writer
   * @throws NullPointerException if {@code client} is null
   */
  public static EtcdKvWriter<String> utf8(Client client) {
    return new EtcdKvWriter<>(client, s -> ByteSequence.from(s, StandardCharsets.UTF_8),
        Duration.ofSeconds(10));
  }

  /**
   * Returns a writer with its own encoding and request timeout.
   *
   * @param client the jetcd client
   * @param encoder turns a value into the key's bytes
   * @param timeout the bound on each etcd request, positive
   * @param <V> the type of values
   * @return the writer
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code timeout} is not positive
   */
  public static <V> EtcdKvWriter<V> of(Client client, Function<? super V, ByteSequence> encoder,
      Duration timeout) {
    return new EtcdKvWriter<>(client, encoder, timeout);
  }

  @Override
  public OptionalLong put(String key, V value, OptionalLong cas) throws Exception {
    ByteSequence k = bytes(key);
    ByteSequence v = Require.nonNull(encoder.apply(value), "the encoded value");
    if (cas.isEmpty()) {
      return OptionalLong.of(await(kv.put(k, v)).getHeader().getRevision());
    }
    Cmp condition = cas.getAsLong() == 0L
        ? new Cmp(k, Cmp.Op.EQUAL, CmpTarget.version(0))
        : new Cmp(k, Cmp.Op.EQUAL, CmpTarget.modRevision(cas.getAsLong()));
    return committed(await(kv.txn().If(condition).Then(Op.put(k, v, PutOption.DEFAULT)).commit()));
  }

  @Override
  public OptionalLong delete(String key, OptionalLong cas) throws Exception {
    ByteSequence k = bytes(key);
    if (cas.isEmpty()) {
      return OptionalLong.of(await(kv.delete(k)).getHeader().getRevision());
    }
    if (cas.getAsLong() == 0L) {
      return OptionalLong.empty(); // Consul's rule: cas=0 never deletes
    }
    Cmp condition = new Cmp(k, Cmp.Op.EQUAL, CmpTarget.modRevision(cas.getAsLong()));
    return committed(await(kv.txn().If(condition).Then(Op.delete(k, DeleteOption.DEFAULT)).commit()));
  }

  @Override
  public long deletePrefix(String prefix) throws Exception {
    Require.nonNull(prefix, "prefix");
    if (prefix.isEmpty()) { // every key: from "\0" to the end of the key space
      ByteSequence zero = ByteSequence.from(new byte[] {0});
      return await(kv.delete(zero, DeleteOption.builder().withRange(zero).build()))
          .getHeader().getRevision();
    }
    return await(kv.delete(bytes(prefix), DeleteOption.builder().isPrefix(true).build()))
        .getHeader().getRevision();
  }

  private static OptionalLong committed(TxnResponse response) {
    return response.isSucceeded()
        ? OptionalLong.of(response.getHeader().getRevision()) : OptionalLong.empty();
  }

  private static ByteSequence bytes(String key) {
    return ByteSequence.from(Require.notEmpty(key, "key"), StandardCharsets.UTF_8);
  }

  private <T> T await(CompletableFuture<T> call)
      throws InterruptedException, ExecutionException, TimeoutException {
    try {
      return call.get(timeoutNanos, TimeUnit.NANOSECONDS);
    } catch (TimeoutException | InterruptedException e) {
      call.cancel(true);
      throw e;
    }
  }

  @Override
  public String toString() {
    return "EtcdKvWriter[timeout=" + Duration.ofNanos(timeoutNanos) + "]";
  }
}
