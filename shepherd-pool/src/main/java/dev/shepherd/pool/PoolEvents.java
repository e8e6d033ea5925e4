package dev.shepherd.pool;

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
