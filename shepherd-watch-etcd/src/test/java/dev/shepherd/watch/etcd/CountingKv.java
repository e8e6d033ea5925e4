package dev.shepherd.watch.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.Txn;
import io.etcd.jetcd.kv.CompactResponse;
import io.etcd.jetcd.kv.DeleteResponse;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.kv.PutResponse;
import io.etcd.jetcd.options.CompactOption;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.etcd.jetcd.options.TxnOption;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/** A jetcd KV that counts the reads (Gets) sent and those whose jetcd call has not ended yet. */
final class CountingKv implements KV {

  private final KV delegate;
  final AtomicInteger sent = new AtomicInteger();
  final AtomicInteger inFlight = new AtomicInteger();

  CountingKv(KV delegate) {
    this.delegate = delegate;
  }

  @Override
  public CompletableFuture<GetResponse> get(ByteSequence key) {
    sent.incrementAndGet();
    inFlight.incrementAndGet();
    CompletableFuture<GetResponse> call = delegate.get(key);
    var unusedCount = call.whenComplete((response, error) -> inFlight.decrementAndGet());
    return call;
  }

  @Override
  public CompletableFuture<GetResponse> get(ByteSequence key, GetOption option) {
    return delegate.get(key, option);
  }

  @Override
  public CompletableFuture<PutResponse> put(ByteSequence key, ByteSequence value) {
    return delegate.put(key, value);
  }

  @Override
  public CompletableFuture<PutResponse> put(ByteSequence key, ByteSequence value, PutOption option) {
    return delegate.put(key, value, option);
  }

  @Override
  public CompletableFuture<DeleteResponse> delete(ByteSequence key) {
    return delegate.delete(key);
  }

  @Override
  public CompletableFuture<DeleteResponse> delete(ByteSequence key, DeleteOption option) {
    return delegate.delete(key, option);
  }

  @Override
  public CompletableFuture<CompactResponse> compact(long revision) {
    return delegate.compact(revision);
  }

  @Override
  public CompletableFuture<CompactResponse> compact(long revision, CompactOption option) {
    return delegate.compact(revision, option);
  }

  @Override
  public Txn txn() {
    return delegate.txn();
  }

  @Override
  public Txn txn(TxnOption option) {
    return delegate.txn(option);
  }

  @Override
  public void close() {
    delegate.close();
  }
}
