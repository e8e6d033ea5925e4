package dev.shepherd.pool;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/** Retiring and burying the runners of an {@link ElasticPool}: idle, resize, single use, death, close. */
abstract class PoolRetirement extends PoolBoots {

  /*
   * Runner, once ready:
   *   READY   --retire (idle past its limit and the IdleCheck agrees; resize above max; single
   *             use; close)---------------> DRAINING (no new calls; shutdown when active == 0)
   *   DRAINING --active reaches 0---------> DEAD    (removed; backend.shutdown)
   *   READY|DRAINING --backend death------> DEAD    (removed; its calls fail RunnerDiedException;
   *                                                  a replacement boots if callers wait or the
   *                                                  pool is below min)
   *     (reported by the listener, or by a call failing with RunnerDiedException, whichever comes
   *     first: the freed slots must not go to waiters)
   * Idle: beyond min, a runner idle past idleShutdownAfter retires; the last min ones only after
   * minIdleShutdownAfter, and are then not re-booted until demand (idledOutMin). Idle candidates
   * are collected under the lock, checked outside it (off the timer thread, one round at a time:
   * the IdleCheck and the onShrink hook are user code), and retired only if their idle generation
   * did not change meanwhile. Close: drain for shutdownTimeout, then fail waiters, kill busy
   * runners, shut idle ones down, close the backend.
   */

  PoolRetirement(ElasticPoolConfig config) {
    super(config);
  }


  /** Removes an idle runner being retired, shuts it down and reports it to onShrink. */
  @Override
  @GuardedBy("lock")
  void retireNowLocked(Runner runner, Effects effects) {
    runner.state = RunnerState.DEAD;
    runner.shutdownRequested = true;
    runners.remove(runner);
    Duration timeout = config.shutdownTimeout();
    PoolEvent.RetireReason reason =
        runner.retireReason == null ? PoolEvent.RetireReason.IDLE : runner.retireReason;
    PoolEvent.RunnerRetired event =
        new PoolEvent.RunnerRetired(config.name(), runner.id, runners.size() + boots.size(), reason);
    effects.add(() -> runner.handle.shutdown(timeout));
    effects.add(() -> emitShrink(event));
    planBoots(effects);
    changed.signalAll();
  }

  // ------------------------------------------------------------------------------------------
  // Death

  /**
   * Puts a call that could not be sent to its (dead) runner back at the head of the queue, so the
   * runner's death does not fail it: it never ran. Placed children are not re-queued (their
   * placement already named the runner), nor a call its caller cancelled or whose deadline passed
   * meanwhile (it would run for nobody), nor anything once the pool is closed; those fail with
   * the runner's death as before (a cancelled call's future has already failed).
   */
  void requeueUnsent(Call call, Runner runner) {
    if (call.kind == Kind.CHILD) {
      return;
    }
    lock.lock();
    try {
      if (closed || call.cancelRequested || call.state != CallState.RUNNING || call.runner != runner || !runner.calls.remove(call)) {
        return;
      }
      runner.active--;
      busy--;
      call.runner = null;
      call.state = CallState.WAITING;
      call.enqueuedAt = ticker.read();
      waiters.addFirst(call);
      waiting++;
    } finally {
      lock.unlock();
    }
  }

  /** The backend said, through a call, that a runner is gone: as if its listener had reported. */
  void runnerGone(Runner runner, RunnerDiedException cause) {
    runnerDied(runner, cause);
    try {
      runner.handle.kill(); // the listener will follow (and be ignored); make sure nothing lingers
    } catch (RuntimeException e) {
      LOG.log(System.Logger.Level.WARNING, "killing runner " + runner.id + " failed", e);
    }
  }

  @Override
  void runnerDied(Runner runner, Throwable cause) {
    Effects effects = new Effects();
    List<Call> victims;
    boolean unexpected;
    int count;
    lock.lock();
    try {
      if (runner.state == RunnerState.BOOTING) {
        runner.diedDuringBoot = cause;
        return;
      }
      if (runner.state == RunnerState.DEAD && !runners.contains(runner)) {
        return;
      }
      unexpected = !runner.shutdownRequested;
      runner.state = RunnerState.DEAD;
      runners.remove(runner);
      victims = new ArrayList<>(runner.calls);
      runner.calls.clear();
      for (Call call : victims) {
        call.state = CallState.DONE;
        busy--;
      }
      runner.active = 0;
      if (unexpected) {
        deathCount++;
      }
      planBoots(effects);
      count = runners.size() + boots.size();
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    for (Call call : victims) {
      String message = "runner " + runner.id + " of pool " + config.name() + " died while running \"" + call.function + "\"";
      call.fail(new RunnerDiedException(runner.id, message, cause));
    }
    if (unexpected) {
      LOG.log(
          System.Logger.Level.WARNING,
          "pool " + config.name() + ": runner " + runner.id + " died: " + cause);
      emitShrink(new PoolEvent.RunnerDied(config.name(), runner.id, count, cause));
    }
    effects.run();
  }

  // ------------------------------------------------------------------------------------------
  // Housekeeping: expiry by ticker, boot retries, idle retirement

  @Override
  void housekeep() {
    try {
      Effects effects = new Effects();
      List<Runner> idleCandidates = new ArrayList<>();
      List<Long> generations = new ArrayList<>();
      List<Call> nearDeadline = new ArrayList<>();
      lock.lock();
      try {
        collectNearDeadlinesLocked(nearDeadline);
        for (Iterator<Call> it = waiters.iterator(); it.hasNext(); ) {
          Call call = it.next();
          if (call.state != CallState.WAITING) {
            it.remove();
          } else if (call.deadline.isExpired()) {
            it.remove();
            timeOutWaiterLocked(call, effects);
          }
        }
        planBoots(effects);
        if (!closed) {
          collectIdleLocked(idleCandidates, generations);
        }
      } finally {
        lock.unlock();
      }
      effects.run();
      armNearTimers(nearDeadline);
      if (!idleCandidates.isEmpty() && idleRetiring.compareAndSet(false, true)) {
        // The IdleCheck and the retirement's hooks are user code: off the timer thread, one round
        // at a time (a round still running skips this sweep's; the next sweep collects again).
        offTimerThread(
            () -> {
              try {
                retireIdleCandidates(idleCandidates, generations);
              } finally {
                idleRetiring.set(false);
              }
            });
      }
    } catch (RuntimeException | Error e) {
      LOG.log(System.Logger.Level.ERROR, "pool " + config.name() + " housekeeping failed", e);
    }
  }

  /** Whether a round of idle checks and retirements runs now (see housekeep). */
  private final AtomicBoolean idleRetiring = new AtomicBoolean();

  private void retireIdleCandidates(List<Runner> idleCandidates, List<Long> generations) {
    for (int i = 0; i < idleCandidates.size(); i++) {
      Runner runner = idleCandidates.get(i);
      IdleCheck check = config.idleCheck();
      boolean idle = true;
      if (check != null) {
        try {
          idle = check.isIdle(runner.id);
        } catch (RuntimeException e) {
          LOG.log(System.Logger.Level.WARNING, "idle check of " + runner.id + " threw", e);
          idle = false;
        }
      }
      if (idle) {
        retireIdle(runner, generations.get(i));
      }
    }
  }

  @GuardedBy("lock")
  void collectIdleLocked(List<Runner> candidates, List<Long> generations) {
    long now = ticker.read();
    long idleNanos = Durations.toNanosSaturated(config.idleShutdownAfter());
    long minIdleNanos = Durations.toNanosSaturated(config.minIdleShutdownAfter());
    int ready = countReady();
    // Oldest idle first, so the runners idle longest retire first.
    List<Runner> idle = new ArrayList<>();
    for (Runner r : runners) {
      if (r.state == RunnerState.READY && r.active == 0) {
        idle.add(r);
      }
    }
    idle.sort((a, b) -> Long.compare(a.idleSinceNanos - now, b.idleSinceNanos - now));
    int remaining = ready;
    for (Runner r : idle) {
      long limit = remaining > min ? idleNanos : minIdleNanos;
      if (limit != Long.MAX_VALUE && now - r.idleSinceNanos >= limit) {
        candidates.add(r);
        generations.add(r.idleGeneration);
        remaining--;
      }
    }
  }

  void retireIdle(Runner runner, long generation) {
    Effects effects = new Effects();
    lock.lock();
    try {
      if (runner.state != RunnerState.READY
          || runner.active != 0
          || runner.idleGeneration != generation
          || closed) {
        return;
      }
      // Re-check the bound under the lock: another runner may have retired meanwhile.
      long minIdleNanos = Durations.toNanosSaturated(config.minIdleShutdownAfter());
      if (countReady() <= min) {
        if (minIdleNanos == Long.MAX_VALUE || ticker.read() - runner.idleSinceNanos < minIdleNanos) {
          return;
        }
        idledOutMin++;
      }
      runner.retireReason = PoolEvent.RetireReason.IDLE;
      retireNowLocked(runner, effects);
    } finally {
      lock.unlock();
    }
    effects.run();
  }
  /** Sets new bounds; retires what is above max, boots what is below min. */
  void resizeTo(int min, int max) {
    checkBounds(min, max);
    Effects effects = new Effects();
    lock.lock();
    try {
      Require.state(!closed, "pool " + config.name() + " is closed");
      this.min = config.isRunner() ? 0 : min;
      this.max = max;
      idledOutMin = 0;
      int excess = countReady() + boots.size() - max;
      if (excess > 0) {
        // Idle runners first (longest idle first), then the least busy.
        List<Runner> ready = new ArrayList<>();
        for (Runner r : runners) {
          if (r.state == RunnerState.READY) {
            ready.add(r);
          }
        }
        ready.sort(
            (a, b) ->
                a.active != b.active
                    ? Integer.compare(a.active, b.active)
                    : Long.compare(a.idleSinceNanos - b.idleSinceNanos, 0));
        for (int i = 0; i < ready.size() && excess > 0; i++, excess--) {
          Runner r = ready.get(i);
          r.retireReason = PoolEvent.RetireReason.RESIZE;
          if (r.active == 0) {
            retireNowLocked(r, effects);
          } else {
            r.state = RunnerState.DRAINING;
          }
        }
      }
      planBoots(effects);
      drainWaitersLocked(effects);
    } finally {
      lock.unlock();
    }
    effects.run();
  }
  /** Closes the pool; see {@link ElasticPool#close()}. */
  void shutdownPool() {
    Effects effects = new Effects();
    List<Call> abandoned = new ArrayList<>();
    List<Runner> toKill = new ArrayList<>();
    List<BootAttempt> toStop;
    lock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      closedVolatile = true;
      long deadlineNanos = Durations.toNanosSaturated(config.shutdownTimeout());
      long start = System.nanoTime();
      // Drain: calls in flight and waiters that can still get a slot.
      while (busy > 0 || (waiting > 0 && (!runners.isEmpty() || !boots.isEmpty()))) {
        long left = deadlineNanos - (System.nanoTime() - start);
        if (left <= 0) {
          break;
        }
        try {
          changed.awaitNanos(left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
      }
      for (Call call : waiters) {
        if (call.state == CallState.WAITING) {
          call.state = CallState.DONE;
          abandoned.add(call);
        }
      }
      waiters.clear();
      waiting = 0;
      terminated = true;
      for (Runner r : new ArrayList<>(runners)) {
        r.retireReason = PoolEvent.RetireReason.CLOSE;
        if (r.active == 0) {
          retireNowLocked(r, effects);
        } else {
          r.shutdownRequested = true;
          toKill.add(r);
        }
      }
      toStop = new ArrayList<>(boots);
      boots.clear();
    } finally {
      lock.unlock();
    }
    for (Call call : abandoned) {
      call.fail(new PoolClosedException("pool " + config.name() + " closed before a slot was free"));
    }
    effects.run();
    for (BootAttempt boot : toStop) {
      if (boot.state.compareAndSet(BootAttempt.RUNNING, BootAttempt.TIMED_OUT)) {
        Thread thread = boot.thread;
        if (thread != null) {
          thread.interrupt();
        }
      }
    }
    for (Runner r : toKill) {
      r.handle.kill();
      runnerDied(r, new PoolClosedException("pool " + config.name() + " closed; runner killed"));
    }
    scheduler.shutdownNow();
    try {
      backend.close();
    } catch (Exception e) {
      LOG.log(System.Logger.Level.WARNING, "closing backend of pool " + config.name() + " failed", e);
    }
  }
}
