package dev.shepherd.pool;

import dev.shepherd.core.Deadline;
import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import dev.shepherd.pool.spi.Backend;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerSpec;
import dev.shepherd.pool.spi.RunningCall;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/** Hooks and the event listener of an {@link ElasticPool}. */
abstract class PoolEvents extends PoolState {

  /*
   * Events: BootStarted when a boot begins, GrowResult (BootSucceeded | BootFailed) when it ends,
   * Shrink (RunnerRetired | RunnerDied) when a runner leaves. They are emitted only from the
   * effects run after the lock is released, on the thread that caused them; a hook or listener
   * that throws is logged and ignored, never seen by the pool's state.
   */

  PoolEvents(ElasticPoolConfig config) {
    super(config);
  }


  // ------------------------------------------------------------------------------------------
  // Events

  <E extends PoolEvent> void emit(E event, @Nullable Consumer<? super E> hook) {
    deliver(event, hook, "hook");
    deliver(event, config.eventListener(), "event listener");
  }

  void emitShrink(PoolEvent.@Nullable Shrink event) {
    if (event == null) {
      return;
    }
    deliver(event, config.onShrink(), "onShrink hook");
    deliver(event, config.eventListener(), "event listener");
  }

  /** Hands {@code event} to {@code consumer}, if any; logs what it throws and carries on. */
  private <E extends PoolEvent> void deliver(E event, @Nullable Consumer<? super E> consumer, String what) {
    if (consumer != null) {
      try {
        consumer.accept(event);
      } catch (RuntimeException e) {
        LOG.log(System.Logger.Level.WARNING, "pool " + config.name() + " " + what + " threw", e);
      }
    }
  }
}
