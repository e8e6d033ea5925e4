package dev.shepherd.pool;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.pool.internal.FrameChannel;
import dev.shepherd.pool.internal.RemoteProtocol;
import dev.shepherd.pool.spi.LaunchedRunner;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerListener;
import dev.shepherd.pool.spi.RunnerSpec;
import dev.shepherd.pool.spi.RunningCall;
import org.jspecify.annotations.Nullable;
import java.io.DataInputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One authenticated runner connection, parent side: the {@link RunnerHandle} of a remote runner.
 *
 * <p>Writes are whole frames under a lock, each bounded by the backend's write timeout; a call's
 * frame is written by the thread that starts it, which waits for the lock at most until the
 * call's deadline (then the call fails with a {@link CallTimeoutException}, not started, and the
 * runner is kept), cancels and shutdowns by a virtual thread of their own (so the pool's housekeeping never waits on a runner's socket); one platform thread
 * reads frames and completes calls.
 * The runner is dead when the connection ends, when what was launched ends, or when a write fails;
 * whichever comes first fails every open call with {@link RunnerDiedException}, kills what was
 * launched, and reports to the pool once.
 */
final class RemoteConnection implements RunnerHandle {

  private static final System.Logger LOG = System.getLogger(RemoteBackend.class.getName());

  private final String id;
  private final FrameChannel channel;
  private final @Nullable LaunchedRunner launched;
  private final RunnerListener listener;
  private volatile CodecLimits codecLimits = CodecLimits.defaults();
  private final Map<Long, RemoteCall> calls = new ConcurrentHashMap<>();
  private final AtomicLong callIds = new AtomicLong();
  private final AtomicBoolean dead = new AtomicBoolean();
  private volatile boolean shutdownRequested;

  RemoteConnection(
      String id, FrameChannel channel, @Nullable LaunchedRunner launched, RunnerListener listener) {
    this.id = id;
    this.channel = channel;
    this.launched = launched;
    this.listener = listener;
  }

  /** Sends the first sealed frame, which proves the parent to the runner, with the limits. */
  void welcome(RunnerSpec spec, int maxFrameBytes, CodecLimits limits) throws IOException {
    this.codecLimits = limits;
    FrameChannel.FrameWriter frame = new FrameChannel.FrameWriter(RemoteProtocol.WELCOME);
    long idle = Durations.toNanosSaturated(spec.idleShutdownAfter());
    frame.out.writeLong(idle == Long.MAX_VALUE ? -1 : TimeUnit.NANOSECONDS.toMillis(idle));
    frame.out.writeInt(spec.maxConcurrency());
    RemoteProtocol.writeString(frame.out, spec.poolName());
    frame.out.writeInt(maxFrameBytes);
    frame.out.writeInt(limits.maxDepth());
    frame.out.writeInt(limits.maxCollectionSize());
    frame.out.writeInt(limits.maxStringBytes());
    channel.send(frame);
  }

  void startReading() {
    Thread.ofPlatform().daemon().name("shepherd-pool-remote-" + id).start(this::readLoop);
    LaunchedRunner l = launched;
    if (l != null) {
      var unusedExitHook = l.exited()
          .whenComplete(
              (v, t) ->
                  died(
                      new IllegalStateException(
                          "runner " + id + " ended" + (t == null ? "" : ": " + t), t)));
    }
  }

  @Override
  public String id() {
    return id;
  }

  @Override
  public RunningCall start(String function, @Nullable Object preparedArgument, Duration timeout) {
    if (dead.get()) {
      throw new RunnerDiedException(id, "runner " + id + " is gone", null);
    }
    byte[] payload = (byte[]) preparedArgument;
    long callId = callIds.incrementAndGet();
    RemoteCall call = new RemoteCall(callId);
    calls.put(callId, call);
    try {
      FrameChannel.FrameWriter frame = new FrameChannel.FrameWriter(RemoteProtocol.CALL);
      frame.out.writeLong(callId);
      RemoteProtocol.writeString(frame.out, function);
      RemoteProtocol.writeBytes(frame.out, payload == null ? PayloadCodec.encode(null) : payload);
      // Bounded by the call's own deadline: behind a write to a runner that stopped reading, the
      // caller would otherwise wait for the write timeout whatever its own timeout.
      if (!channel.send(frame, Durations.toNanosSaturated(timeout))) {
        calls.remove(callId);
        call.result.completeExceptionally(
            new CallTimeoutException(
                "\"" + function + "\" was not sent to runner " + id + " within its timeout "
                    + timeout + ": the connection was writing another frame all that time (a"
                    + " large one, or to a runner that stopped reading: past writeTimeout the"
                    + " runner is declared dead)",
                false,
                null));
        return call;
      }
    } catch (IOException e) {
      calls.remove(callId);
      died(e);
      throw new RunnerDiedException(id, "could not send \"" + function + "\" to runner " + id, e);
    }
    if (dead.get() && calls.remove(callId) != null) {
      // died() ran between put and its sweep; fail it here so it is never left open
      call.result.completeExceptionally(
          new RunnerDiedException(id, "runner " + id + " died", null));
    }
    return call;
  }

  @Override
  public void shutdown(Duration timeout) {
    shutdownRequested = true;
    // Off the caller's thread (the pool's housekeeping, or the thread that retired the runner): a
    // runner that stopped reading blocks this write until the write timeout.
    Thread.ofVirtual().name("shepherd-pool-remote-shutdown-" + id).start(() -> sendShutdown(timeout));
  }

  private void sendShutdown(Duration timeout) {
    try {
      FrameChannel.FrameWriter frame = new FrameChannel.FrameWriter(RemoteProtocol.SHUTDOWN);
      frame.out.writeLong(TimeUnit.NANOSECONDS.toMillis(Durations.toNanosSaturated(timeout)));
      channel.send(frame);
    } catch (IOException e) {
      kill();
      return;
    }
    // If it does not exit in time (plus a margin for the JVM to stop), kill it.
    long killAfter = Durations.saturatedAdd(Durations.toNanosSaturated(timeout), 5_000_000_000L);
    try {
      LaunchedRunner l = launched;
      if (l != null) {
        l.exited().get(killAfter, TimeUnit.NANOSECONDS);
      }
    } catch (Exception e) {
      kill();
    }
  }

  @Override
  public void kill() {
    LaunchedRunner l = launched;
    if (l != null) {
      try {
        l.kill();
      } catch (RuntimeException e) {
        LOG.log(System.Logger.Level.WARNING, "killing runner " + id + " failed", e);
      }
    }
    channel.close();
    died(new IllegalStateException("runner " + id + " killed"));
  }

  private void readLoop() {
    Throwable cause;
    try {
      while (true) {
        FrameChannel.Frame frame = channel.receive();
        DataInputStream body = frame.body();
        switch (frame.type()) {
          case RemoteProtocol.RESULT -> {
            long callId = body.readLong();
            byte[] payload = RemoteProtocol.readBytes(body);
            RemoteCall call = calls.remove(callId);
            if (call != null) {
              try {
                call.result.complete(PayloadCodec.decode(payload, codecLimits));
              } catch (IllegalArgumentException e) {
                call.result.completeExceptionally(
                    new CallFailedException("runner " + id + " sent a malformed result", e));
              }
            }
          }
          case RemoteProtocol.FAILURE -> {
            long callId = body.readLong();
            byte kind = body.readByte();
            RemoteException remote = RemoteException.read(body, 0);
            RemoteCall call = calls.remove(callId);
            if (call != null) {
              if (kind == RemoteProtocol.FAILURE_CANCELLED) {
                call.result.completeExceptionally(new CancellationException("cancelled on " + id));
              } else {
                call.result.completeExceptionally(
                    new CallFailedException(
                        "function threw on runner " + id + ": " + remote, remote));
              }
            }
          }
          default -> throw new IOException("unexpected frame type " + frame.type());
        }
      }
    } catch (IOException e) {
      cause = e;
    } catch (RuntimeException e) {
      cause = e;
    }
    died(
        shutdownRequested
            ? new IllegalStateException("runner " + id + " shut down")
            : new IllegalStateException("connection to runner " + id + " lost: " + cause, cause));
  }

  private void died(Throwable cause) {
    if (!dead.compareAndSet(false, true)) {
      return;
    }
    channel.close();
    LaunchedRunner l = launched;
    if (l != null && !shutdownRequested) {
      try {
        l.kill();
      } catch (RuntimeException e) {
        LOG.log(System.Logger.Level.WARNING, "killing runner " + id + " failed", e);
      }
    }
    // Drain the map entry by entry: a call registered meanwhile is failed too or sees 'dead'.
    for (Iterator<Long> ids = calls.keySet().iterator(); ids.hasNext(); ) {
      Long callId = ids.next();
      RemoteCall call = calls.remove(callId);
      if (call != null) {
        call.result.completeExceptionally(
            new RunnerDiedException(id, "runner " + id + " died", cause));
      }
    }
    listener.runnerDied(cause);
  }

  @Override
  public String toString() {
    return "RemoteRunner[" + id + "]";
  }

  private final class RemoteCall implements RunningCall {
    private final long callId;
    final CompletableFuture<@Nullable Object> result = new CompletableFuture<>();
    private final AtomicBoolean cancelSent = new AtomicBoolean();

    RemoteCall(long callId) {
      this.callId = callId;
    }

    @Override
    public CompletableFuture<@Nullable Object> result() {
      return result;
    }

    @Override
    public void cancel() {
      if (result.isDone() || !cancelSent.compareAndSet(false, true)) {
        return;
      }
      // Off the caller's thread, which is often the pool's housekeeping thread: a runner that
      // stopped reading blocks this write until the write timeout, and the housekeeping thread
      // times out every other call of the pool.
      Thread.ofVirtual().name("shepherd-pool-remote-cancel-" + id).start(this::sendCancel);
    }

    private void sendCancel() {
      try {
        FrameChannel.FrameWriter frame = new FrameChannel.FrameWriter(RemoteProtocol.CANCEL);
        frame.out.writeLong(callId);
        channel.send(frame);
      } catch (IOException e) {
        died(e);
      }
    }
  }
}
