package dev.shepherd.watch;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * A subscription: a bounded buffer filled by its key's loop and drained into the sink by a task.
 *
 * <h2>State machine</h2>
 *
 * <pre>
 *   IDLE ──offer──▶ SCHEDULED (drain task submitted) ──buffer empty──▶ IDLE
 *     │                 │
 *     └──close()────────┴──▶ CLOSED (buffer dropped; no sink call starts any more)
 * </pre>
 *
 * <ul>
 *   <li>The buffer ({@code pending*} fields, {@code scheduled}, {@code closed}) is guarded by this
 *       object's monitor and only held for a few field writes: offers come from the loop while it
 *       holds its key's lock, so they must never block.
 *   <li>{@code deliveryLock} is held by the drain task while it calls the sink. {@code close()}
 *       sets CLOSED, then takes and releases {@code deliveryLock}: when it returns, any sink call
 *       that had started has finished and none will start (the drain re-checks CLOSED under the
 *       monitor before each call). From inside the sink, the lock is re-entrant and close returns
 *       at once.
 *   <li>Ordering: offers arrive in publication order (the loop publishes under its lock); values
 *       and status changes carry a sequence and the drain delivers the older first.
 *   <li>Replaced count: when the buffer is full the oldest pending update is dropped and its count
 *       (plus one) is added to the next one, so the delivered update says how many it stands for.
 * </ul>
 */
final class WatchSubscription<V> implements Subscription<V> {

  private static final System.Logger LOG = System.getLogger(Watcher.class.getName());

  private static final byte STATUS_NONE = 0;
  private static final byte STATUS_FAILING = 1;
  private static final byte STATUS_RECOVERED = 2;

  private final String correlationId;
  private final WatchSink<V> sink;
  private final int capacity;
  private final Watcher.Config config;
  private final ReentrantLock deliveryLock = new ReentrantLock();
  private @Nullable KeyLoop<V> loop;

  @GuardedBy("this") private @Nullable Versioned<V> pendingValue; // capacity 1
  @GuardedBy("this") private long pendingReplaced;
  @GuardedBy("this") private long pendingSequence;
  @GuardedBy("this") private @Nullable ArrayDeque<Pending<V>> pendingQueue; // capacity > 1, on demand
  @GuardedBy("this") private byte pendingStatus = STATUS_NONE;
  @GuardedBy("this") private long statusSequence;
  @GuardedBy("this") private @Nullable Throwable statusError;
  @GuardedBy("this") private int statusFailures;
  @GuardedBy("this") private boolean sinkToldFailing;
  @GuardedBy("this") private boolean scheduled;
  private volatile boolean closed;

  WatchSubscription(String correlationId, WatchSink<V> sink, int capacity, Watcher.Config config) {
    this.correlationId = correlationId;
    this.sink = sink;
    this.capacity = capacity;
    this.config = config;
  }

  /** Called once by the loop, under its lock, before any offer. */
  void attach(KeyLoop<V> keyLoop) {
    this.loop = keyLoop;
  }

  private KeyLoop<V> loop() {
    KeyLoop<V> l = loop;
    if (l == null) {
      throw new IllegalStateException("subscription not attached");
    }
    return l;
  }

  // ------------------------------------------------------------------ offers (loop, under its lock)

  void offerValue(Versioned<V> value, long sequence) {
    boolean submit;
    synchronized (this) {
      if (closed) {
        return;
      }
      if (capacity == 1) {
        if (pendingValue != null) {
          pendingReplaced += 1;
        }
        pendingValue = value;
        pendingSequence = sequence;
      } else {
        ArrayDeque<Pending<V>> queue = pendingQueue;
        if (queue == null) {
          queue = new ArrayDeque<>(Math.min(capacity, 16));
          pendingQueue = queue;
        }
        long carried = 0L;
        if (queue.size() == capacity) {
          carried = queue.pollFirst().replaced() + 1L;
          Pending<V> next = queue.pollFirst();
          if (next != null) {
            queue.addFirst(new Pending<>(next.value(), next.sequence(), next.replaced() + carried));
            carried = 0L;
          }
        }
        queue.addLast(new Pending<>(value, sequence, carried));
      }
      submit = schedule();
    }
    if (submit) {
      submitDrain();
    }
  }

  void offerStatus(boolean failing, @Nullable Throwable error, int failures) {
    boolean submit;
    synchronized (this) {
      if (closed) {
        return;
      }
      statusSequence = pendingSequenceNow() + 1L;
      if (failing == sinkToldFailing) {
        pendingStatus = STATUS_NONE; // flipped back before the sink heard of it
      } else {
        pendingStatus = failing ? STATUS_FAILING : STATUS_RECOVERED;
        statusError = error;
        statusFailures = failures;
      }
      submit = pendingStatus != STATUS_NONE && schedule();
    }
    if (submit) {
      submitDrain();
    }
  }

  /** Under this: a sequence strictly after every pending value, so the status comes after them. */
  @GuardedBy("this")
  private long pendingSequenceNow() {
    long max = pendingSequence;
    ArrayDeque<Pending<V>> queue = pendingQueue;
    if (queue != null && !queue.isEmpty()) {
      max = Math.max(max, queue.peekLast().sequence());
    }
    return max;
  }

  /** Under this: returns true if the caller must submit a drain task. */
  @GuardedBy("this")
  private boolean schedule() {
    if (scheduled) {
      return false;
    }
    scheduled = true;
    return true;
  }

  private void submitDrain() {
    try {
      config.executor().execute(this::drain);
    } catch (RuntimeException e) {
      synchronized (this) {
        scheduled = false;
      }
      LOG.log(Level.ERROR, "watch executor refused a delivery for correlation id '"
          + correlationId + "'; the update stays buffered until the next one", e);
    }
  }

  // --------------------------------------------------------------------------- drain (its task)

  private void drain() {
    deliveryLock.lock();
    try {
      while (true) {
        WatchEvent<V> event;
        synchronized (this) {
          event = closed ? null : takeNext();
          if (event == null) {
            scheduled = false;
            return;
          }
        }
        try {
          sink.accept(event);
        } catch (VirtualMachineError e) {
          throw e;
        } catch (Throwable e) {
          LOG.log(Level.WARNING, "watch sink threw for key '" + key() + "', correlation id '"
              + correlationId + "'; the event is dropped and the subscription goes on", e);
        }
      }
    } finally {
      deliveryLock.unlock();
    }
  }

  /** Under this: the next event in order, or null if nothing is pending. */
  @GuardedBy("this")
  private @Nullable WatchEvent<V> takeNext() {
    long valueSequence;
    Versioned<V> value;
    long replaced;
    ArrayDeque<Pending<V>> queue = pendingQueue;
    if (capacity == 1) {
      value = pendingValue;
      valueSequence = pendingSequence;
      replaced = pendingReplaced;
    } else if (queue != null && !queue.isEmpty()) {
      Pending<V> head = queue.peekFirst();
      value = head.value();
      valueSequence = head.sequence();
      replaced = head.replaced();
    } else {
      value = null;
      valueSequence = 0L;
      replaced = 0L;
    }
    boolean statusFirst = pendingStatus != STATUS_NONE
        && (value == null || statusSequence <= valueSequence);
    if (statusFirst) {
      byte status = pendingStatus;
      pendingStatus = STATUS_NONE;
      Duration staleness = sinceLastSuccess();
      if (status == STATUS_FAILING) {
        sinkToldFailing = true;
        Throwable error = statusError;
        statusError = null;
        return new WatchEvent.Failing<>(key(), correlationId,
            error != null ? error : new IllegalStateException("unknown failure"),
            statusFailures, staleness);
      }
      sinkToldFailing = false;
      return new WatchEvent.Recovered<>(key(), correlationId, staleness);
    }
    if (value == null) {
      return null;
    }
    if (capacity == 1) {
      pendingValue = null;
      pendingReplaced = 0L;
    } else if (queue != null) {
      queue.pollFirst();
    }
    return new WatchEvent.Update<>(key(), correlationId, value.value(), value.index(), replaced,
        sinceLastSuccess());
  }

  // ------------------------------------------------------------------------------------ API

  @Override
  public String key() {
    return loop().key();
  }

  @Override
  public String correlationId() {
    return correlationId;
  }

  @Override
  public Optional<Versioned<V>> latest() {
    return Optional.ofNullable(loop().latest());
  }

  @Override
  public Optional<Throwable> lastError() {
    return Optional.ofNullable(loop().lastError());
  }

  @Override
  public int consecutiveFailures() {
    return loop().failures();
  }

  @Override
  public Duration sinceLastSuccess() {
    return Duration.ofNanos(Math.max(0L, config.ticker().read() - loop().lastSuccessNanos()));
  }

  @Override
  public boolean isFailing() {
    return loop().failing();
  }

  @Override
  public boolean isClosed() {
    return closed;
  }

  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      pendingValue = null;
      pendingQueue = null;
      pendingStatus = STATUS_NONE;
    }
    loop().unsubscribe(this);
    deliveryLock.lock(); // wait for a sink call in progress on another thread
    try {
      // nothing: taking the lock was the point
    } finally {
      deliveryLock.unlock();
    }
  }

  @Override
  public String toString() {
    return "Subscription[key=" + key() + ", correlationId=" + correlationId + ", closed=" + closed
        + "]";
  }

  private record Pending<V>(Versioned<V> value, long sequence, long replaced) {}
}
