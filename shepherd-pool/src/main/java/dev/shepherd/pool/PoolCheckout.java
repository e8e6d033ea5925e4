package dev.shepherd.pool;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.shepherd.core.Deadline;
import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.pool.spi.RunningCall;
import java.time.Duration;
import java.util.List;
import java.util.SortedSet;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jspecify.annotations.Nullable;

/** Slots, waiters, deadlines and cancellation of the calls of an {@link ElasticPool}. */
abstract class PoolCheckout extends PoolRetirement {

  /*
   * Call (class Call), for call, callAsync, cast and placeChild alike:
   *   NEW --slot free-------------> RUNNING (runner.active++; started outside the lock)
   *   NEW --no slot---------------> WAITING (in `waiters`, FIFO; boots planned for the demand)
   *   NEW --no slot, `waiting` at maxWaiters--> DONE (refused in submit with
   *                                          TooManyWaitersException: not queued, no boot
   *                                          planned; the bound reads the count `waiting`, not
   *                                          the deque, which still holds skipped entries)
   *   WAITING --slot freed/booted-> RUNNING (head first; a freed slot is handed over directly)
   *   WAITING --deadline/cancel---> DONE    (counted out of `waiting`; the deque entry is skipped
   *                                          lazily, so no other waiter is touched)
   *   RUNNING --result from runner-> DONE   (runner.active--, slot to the head waiter)
   *   RUNNING --could not be sent--> WAITING (back at the head: it ran nowhere; unless cancelled
   *                                          or expired meanwhile: DONE with the runner's death;
   *                                          never refused by maxWaiters, it was accepted)
   *   RUNNING --deadline/cancel---> RUNNING (caller's future fails now, runner cancels the work;
   *                                          the slot is freed when the runner reports the end;
   *                                          a grace timer of cancelGrace starts, by whoever
   *                                          sees both the cancel and the started call: the
   *                                          canceller, or startOnRunner if start() was still
   *                                          running)
   *   RUNNING --grace passed, still running--> DONE, and either the runner is killed (its other
   *                                          calls fail with RunnerDiedException; a replacement
   *                                          boots if needed), or, if the backend wrote the call
   *                                          off (abandon(): local threads cannot be killed), the
   *                                          slot is freed and the call counts in `stuck` until
   *                                          its work ends
   *   RUNNING --runner died-------> DONE    (RunnerDiedException)
   *
   * Who wakes whom: a caller blocks only on its own future. Whoever frees a slot (a result, a
   * boot, a resize) pops the head waiter under the lock and starts its call after unlocking: on
   * a local runner itself, on a remote one from a virtual thread (the start writes a frame, and
   * the thread that freed the slot may hold another caller's result, still to be completed). A
   * remote runner's result is taken (finished) on a virtual thread of its own, not on the thread
   * that completed the backend's future (a connection's reader), because completing the caller's
   * future runs the caller's dependent stages there. Time
   * is noticed three ways, all funnelled into expire(call): a blocked caller's own timed wait, a
   * timer for async callers, and the housekeeping sweep, which reads the Ticker (so a FakeTicker
   * drives expiry in tests without real waits). An async call gets its timer only when its
   * deadline is within two sweeps: at once if its timeout is that short, else from the sweep that
   * finds it near (or passed: then the sweep expires it), so the many calls that end well before
   * their deadline never touch the scheduler. The timer thread (which also runs the sweep) only
   * notices: the expiry, a cancel grace's end and a boot timeout run on a virtual thread of their
   * own (offTimerThread), because failing a caller's future runs its dependent stages there, and
   * one caller's stage that blocked must not hold up every other deadline.
   */

  PoolCheckout(ElasticPoolConfig config) {
    super(config);
  }


  Runner awaitPlacement(Call call) throws InterruptedException {
    try {
      return call.placed.get();
    } catch (ExecutionException e) {
      throw rethrow(e.getCause());
    }
  }

  Call submit(String function, @Nullable Object argument, Duration timeout, Kind kind) {
    Require.nonNull(function, "function");
    Require.positive(timeout, "timeout");
    if (closedVolatile) {
      throw closedError();
    }
    SortedSet<String> names = backend.functionNames();
    if (!names.contains(function)) {
      throw FunctionRegistry.unknown(function, names);
    }
    Object prepared = backend.prepare(function, argument);
    Call call =
        new Call(
            function,
            prepared,
            Deadline.after(timeout, ticker),
            kind,
            Durations.toNanosSaturated(timeout));
    Effects effects = new Effects();
    Runner runner;
    TooManyWaitersException refused = null;
    lock.lock();
    try {
      if (closed) {
        throw closedError();
      }
      runner = leastLoaded();
      if (runner != null) {
        assign(call, runner);
      } else if (waiting >= config.maxWaiters()) {
        // `waiting`, not the deque's size: cancelled and expired entries stay there until skipped.
        call.state = CallState.DONE;
        refused = tooManyWaitersLocked(call);
      } else {
        call.state = CallState.WAITING;
        call.enqueuedAt = ticker.read();
        waiters.addLast(call);
        waiting++;
        planBoots(effects);
      }
    } finally {
      lock.unlock();
    }
    if (runner != null) {
      startOnRunner(call, runner); // the fast path: no effect list
    } else if (refused != null) {
      call.fail(refused); // before the caller holds the future: no dependent stage runs here
    } else {
      effects.run();
    }
    return call;
  }

  @GuardedBy("lock")
  private TooManyWaitersException tooManyWaitersLocked(Call call) {
    return new TooManyWaitersException(
        "pool "
            + config.name()
            + ": \""
            + call.function
            + "\" refused without queueing: "
            + waiting
            + " calls already wait for a runner slot, maxWaiters is "
            + config.maxWaiters()
            + " ("
            + describeLocked()
            + ")",
        config.maxWaiters(),
        waiting);
  }

  /** Blocks for a call's outcome, expiring it when its deadline passes. */
  @Nullable Object await(Call call) throws InterruptedException {
    if (call.local && LocalBackend.SPIN_NANOS > 0 && !Thread.currentThread().isVirtual()) {
      spinForLocalResult(call);
    }
    try {
      long remaining = call.deadline.remainingNanos();
      return call.future.get(remaining, TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      expire(call);
      return awaitDone(call);
    } catch (InterruptedException e) {
      cancel(call);
      throw e;
    } catch (ExecutionException e) {
      throw rethrow(e.getCause());
    }
  }

  /**
   * Waits briefly, without parking, for the result of a call on an in-process runner: a short
   * function's result usually arrives sooner than a park and unpark would take, and the worker
   * that completes it then has no thread to wake. Bounded by {@link LocalBackend#SPIN_NANOS}, about
   * the cost of the park it may save, so a long call wastes at most that much. Not on virtual
   * threads, which would hold their carrier.
   */
  private static void spinForLocalResult(Call call) {
    long until = System.nanoTime() + LocalBackend.SPIN_NANOS;
    for (int i = 0; !call.future.isDone(); i++) {
      if ((i & 63) == 63 && System.nanoTime() - until >= 0) {
        return;
      }
      Thread.onSpinWait();
    }
  }

  /** Waits for a future that expire() has already completed (or a result that won the race). */
  @Nullable Object awaitDone(Call call) throws InterruptedException {
    try {
      return call.future.get();
    } catch (ExecutionException e) {
      throw rethrow(e.getCause());
    }
  }

  static RuntimeException rethrow(@Nullable Throwable cause) {
    if (cause instanceof RuntimeException runtime) {
      return runtime;
    }
    if (cause instanceof Error error) {
      throw error;
    }
    return new CallFailedException("call failed", cause == null ? new IllegalStateException() : cause);
  }

  /**
   * Arms the deadline and cancellation of an async call. A timer is scheduled now only if the
   * deadline is within {@link #timerHorizonNanos()}; a call further from it gets none, and most
   * end long before it: the housekeeping sweep arms the timer once the deadline comes near
   * (collectNearDeadlinesLocked, armNearTimers), so the scheduler's queue is touched only by
   * calls that may time out.
   */
  void armAsync(Call call) {
    long remaining = call.deadline.remainingNanos();
    if (remaining != Long.MAX_VALUE && !call.future.isDone()) {
      if (remaining <= timerHorizonNanos()) {
        armTimer(call, remaining);
      } else {
        call.timerDeferred = true;
      }
    }
    var unused3 = call.future.whenComplete(
        (r, t) -> {
          if (t instanceof CancellationException) {
            cancel(call);
          }
        });
  }

  /** Two sweeps: a deferred timer is armed at least one sweep before its deadline. */
  long timerHorizonNanos() {
    return Durations.saturatedMultiply(Durations.toNanosSaturated(config.housekeepingInterval()), 2);
  }

  private void armTimer(Call call, long remainingNanos) {
    try {
      ScheduledFuture<?> timer =
          scheduler.schedule(
              () -> offTimerThread(() -> expire(call)), remainingNanos, TimeUnit.NANOSECONDS);
      var unused2 = call.future.whenComplete((r, t) -> timer.cancel(false));
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // closed: close() fails or finishes every call within its shutdown timeout
    }
  }

  /**
   * Collects the async calls whose deferred timer is due (deadline within the horizon), and the
   * running calls whose deadline has passed by the Ticker; the sweep arms or expires them after
   * unlocking.
   */
  @Override
  @GuardedBy("lock")
  void collectNearDeadlinesLocked(List<Call> due) {
    long horizon = timerHorizonNanos();
    for (Call call : waiters) {
      collectIfNear(call, horizon, due);
    }
    for (int i = 0, n = runners.size(); i < n; i++) {
      for (Call call : runners.get(i).calls) {
        collectIfNear(call, horizon, due);
      }
    }
  }

  /** Called under the pool's lock (collectNearDeadlinesLocked). */
  private static void collectIfNear(Call call, long horizon, List<Call> due) {
    if (call.state == CallState.DONE || call.future.isDone()) {
      return;
    }
    long remaining = call.deadline.remainingNanos();
    if (call.timerDeferred && remaining <= horizon) {
      call.timerDeferred = false;
      due.add(call);
    } else if (remaining == 0 && call.state == CallState.RUNNING && call.kind != Kind.CHILD) {
      due.add(call); // passed by the Ticker before its timer (real time) fired: expire it now
    }
  }

  /** Arms the timers collectNearDeadlinesLocked found; a deadline already passed expires now. */
  @Override
  void armNearTimers(List<Call> due) {
    for (int i = 0; i < due.size(); i++) {
      Call call = due.get(i);
      long remaining = call.deadline.remainingNanos();
      if (remaining <= 0) {
        offTimerThread(() -> expire(call)); // called by the sweep, on the timer thread
      } else if (!call.future.isDone()) {
        armTimer(call, remaining);
      }
    }
  }

  /** The deadline of a call passed: fail its future, leave the queue or cancel on the runner. */
  void expire(Call call) {
    Effects effects = new Effects();
    RunningCall toCancel = null;
    Throwable failure = null;
    lock.lock();
    try {
      if (call.state == CallState.WAITING) {
        timeOutWaiterLocked(call, effects);
      } else if (call.state == CallState.RUNNING && call.kind != Kind.CHILD) {
        call.cancelRequested = true;
        toCancel = call.remote;
        failure =
            new CallTimeoutException(
                "pool "
                    + config.name()
                    + ": \""
                    + call.function
                    + "\" did not finish on runner "
                    + (call.runner == null ? "?" : call.runner.id)
                    + " within "
                    + Duration.ofNanos(call.timeoutNanos)
                    + "; cancelled on the runner",
                true,
                null);
      } else {
        return;
      }
    } finally {
      lock.unlock();
    }
    effects.run();
    // The caller's outcome first: the cancel may complete the runner's result at once.
    if (failure != null) {
      call.fail(failure);
      armGrace(call);
    }
    if (toCancel != null) {
      toCancel.cancel();
    }
  }

  /** Starts the cancel grace of a running call, once. */
  void armGrace(Call call) {
    if (Call.GRACE_ARMED.compareAndSet(call, 0, 1)) {
      try {
        var unused4 = scheduler.schedule(
            () -> offTimerThread(() -> graceExpired(call)),
            Durations.toNanosSaturated(config.cancelGrace()),
            TimeUnit.NANOSECONDS);
      } catch (java.util.concurrent.RejectedExecutionException e) {
        // closed: close() kills busy runners anyway
      }
    }
  }

  /**
   * A cancelled call is still running past its grace: write it off if the backend can, or stop the
   * runner that holds it, which frees the slot and fails the runner's other calls.
   */
  void graceExpired(Call call) {
    Runner runner;
    RunningCall remote;
    lock.lock();
    try {
      if (call.state != CallState.RUNNING || call.runner == null) {
        return;
      }
      runner = call.runner;
      remote = call.remote;
    } finally {
      lock.unlock();
    }
    if (remote != null && remote.abandon()) {
      Effects effects = new Effects();
      lock.lock();
      try {
        if (call.state != CallState.RUNNING) {
          return;
        }
        call.stuck = true;
        stuck++;
        releaseLocked(call, runner, effects);
      } finally {
        lock.unlock();
      }
      LOG.log(
          System.Logger.Level.WARNING,
          "pool " + config.name() + ": \"" + call.function + "\" on runner " + runner.id
              + " ignored its cancel for " + config.cancelGrace()
              + "; its slot is freed, its thread still runs");
      effects.run();
      call.fail(new CancellationException("call of \"" + call.function + "\" cancelled"));
      return;
    }
    RunnerDiedException cause =
        new RunnerDiedException(
            runner.id,
            "runner "
                + runner.id
                + " of pool "
                + config.name()
                + " stopped: \""
                + call.function
                + "\" ignored its cancel for "
                + config.cancelGrace(),
            null);
    runnerGone(runner, cause);
  }

  /** The caller gave up (interrupt or cancelled future). */
  void cancel(Call call) {
    RunningCall toCancel = null;
    lock.lock();
    try {
      switch (call.state) {
        case WAITING -> {
          call.state = CallState.DONE;
          waiting--;
          if (closed) {
            changed.signalAll();
          }
        }
        case RUNNING -> {
          call.cancelRequested = true;
          toCancel = call.remote;
        }
        default -> {
          return;
        }
      }
    } finally {
      lock.unlock();
    }
    call.fail(new CancellationException("call of \"" + call.function + "\" cancelled"));
    if (toCancel != null) {
      armGrace(call);
      toCancel.cancel();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Slots (all *Locked / assign / planBoots run under the lock)

  @GuardedBy("lock")
  @Nullable Runner leastLoaded() {
    Runner best = null;
    int limit = config.maxConcurrency();
    for (int i = 0, n = runners.size(); i < n; i++) {
      Runner r = runners.get(i);
      if (r.state == RunnerState.READY && r.active < limit && (best == null || r.active < best.active)) {
        best = r;
        if (r.active == 0) {
          break;
        }
      }
    }
    return best;
  }

  @GuardedBy("lock")
  void assign(Call call, Runner runner) {
    call.state = CallState.RUNNING;
    call.runner = runner;
    runner.active++;
    busy++;
    runner.calls.add(call);
    if (config.singleUse()) {
      runner.state = RunnerState.DRAINING;
      runner.retireReason = PoolEvent.RetireReason.SINGLE_USE;
    }
  }

  /** Hands free slots of ready runners to waiters, head first. */
  @Override
  @GuardedBy("lock")
  void drainWaitersLocked(Effects effects) {
    while (waiting > 0) {
      Call head = waiters.peekFirst();
      if (head == null) {
        break;
      }
      if (head.state != CallState.WAITING) {
        waiters.pollFirst();
        continue;
      }
      if (head.deadline.isExpired()) {
        // Noticed here (a fake ticker, or a caller not yet woken): it leaves, the slot moves on.
        waiters.pollFirst();
        timeOutWaiterLocked(head, effects);
        continue;
      }
      Runner runner = leastLoaded();
      if (runner == null) {
        break;
      }
      waiters.pollFirst();
      waiting--;
      assign(head, runner);
      if (runner.handle instanceof LocalBackend.LocalRunner) {
        effects.add(() -> startOnRunner(head, runner)); // hands the call to a thread: no wait
      } else {
        effects.addHandover(() -> startOnRunner(head, runner)); // writes a frame: off this thread
      }
    }
  }

  /** A waiter's deadline passed: it leaves (its deque entry is skipped later) with a timeout. */
  @Override
  @GuardedBy("lock")
  void timeOutWaiterLocked(Call call, Effects effects) {
    call.state = CallState.DONE;
    waiting--;
    CallTimeoutException failure =
        new CallTimeoutException(
            "pool "
                + config.name()
                + ": no runner slot for \""
                + call.function
                + "\" within "
                + Duration.ofNanos(call.timeoutNanos)
                + " ("
                + describeLocked()
                + ")",
            false,
            lastBootFailure);
    effects.add(() -> offTimerThread(() -> call.fail(failure))); // the sweep runs on the timer
    if (closed) {
      changed.signalAll();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Running a call on a runner (outside the lock)

  void startOnRunner(Call call, Runner runner) {
    if (call.kind == Kind.CHILD) {
      call.placed.complete(runner);
    }
    RunningCall remote;
    LocalBackend.@Nullable LocalRunner local =
        runner.handle instanceof LocalBackend.LocalRunner l ? l : null;
    try {
      if (local != null) {
        // In-process: the runner's thread calls finished() itself, with no future in between.
        call.local = true;
        remote = local.startForPool(this, call, runner);
      } else {
        Duration runFor =
            call.kind == Kind.CHILD ? Durations.MAX_NANOS : call.deadline.remaining();
        remote = runner.handle.start(call.function, call.prepared, runFor);
      }
    } catch (RunnerDiedException e) {
      // The runner is gone though its listener may not have said so yet. The call was never sent,
      // so it ran nowhere: it goes back to the head of the queue for the replacement instead of
      // failing. Then the runner is taken out of service now, or its freed slot would go to the
      // next waiter, fail the same way, and so on down the whole queue.
      requeueUnsent(call, runner);
      runnerGone(runner, e);
      return;
    } catch (RuntimeException e) {
      RunnerDiedException failure =
          new RunnerDiedException(
              runner.id, "could not send \"" + call.function + "\" to runner " + runner.id, e);
      finished(call, runner, null, failure);
      return;
    }
    call.remote = remote;
    if (call.cancelRequested) {
      // Cancelled or expired while start() ran: cancel() saw no running call to stop and armed no
      // grace, so arm it here, or a function that ignores the cancel would hold the slot for good.
      armGrace(call);
      remote.cancel();
    }
    if (local == null) {
      CompletableFuture<@Nullable Object> outcome = remote.result();
      if (outcome.isDone()) {
        // Ended in start() (not sent, say): taken here, before the caller waits on its future.
        var unused5 = outcome.whenComplete((result, failure) -> finished(call, runner, result, failure));
      } else {
        // Off the thread that completes the backend's future (a connection's one reader thread):
        // finished() completes the caller's future, whose dependent stages run where it
        // completes, and one that blocked there would keep every other result of the runner from
        // being read.
        var unused6 =
            outcome.whenCompleteAsync(
                (result, failure) -> finished(call, runner, result, failure), results);
      }
    }
  }

  /** A call ended on its runner (or could not be sent): free the slot, complete the caller. */
  void finished(
      Call call, Runner runner, @Nullable Object result, @Nullable Throwable failure) {
    if (call.stuck) {
      lock.lock();
      try {
        if (call.stuck) {
          call.stuck = false; // written off after its grace; its work has ended now
          stuck--;
        }
      } finally {
        lock.unlock();
      }
      return;
    }
    if (failure != null && unwrap(failure) instanceof RunnerDiedException died) {
      // A backend may fail a dead runner's calls before its listener reports the death (the
      // remote connection does): the runner leaves the pool first, so no waiter is handed a slot
      // on it.
      runnerGone(runner, died);
      return;
    }
    Effects effects = new Effects();
    lock.lock();
    try {
      if (call.state != CallState.RUNNING) {
        return; // the runner died first and already failed it
      }
      releaseLocked(call, runner, effects);
    } finally {
      lock.unlock();
    }
    effects.run();
    if (failure == null) {
      call.succeed(result);
    } else {
      Throwable cause = unwrap(failure);
      if (cause instanceof CancellationException) {
        call.fail(new CancellationException("call of \"" + call.function + "\" cancelled"));
      } else {
        call.fail(cause);
      }
    }
  }

  /** A running call is done with its slot: free it, hand it on or retire the runner. */
  @GuardedBy("lock")
  void releaseLocked(Call call, Runner runner, Effects effects) {
    call.state = CallState.DONE;
    runner.calls.remove(call);
    runner.active--;
    busy--;
    if (runner.active == 0) {
      runner.idleSinceNanos = ticker.read();
      runner.idleGeneration++;
    }
    if (runner.state == RunnerState.DRAINING && runner.active == 0) {
      retireNowLocked(runner, effects);
    } else if (runner.state == RunnerState.READY) {
      drainWaitersLocked(effects);
    }
    if (closed) {
      changed.signalAll();
    }
  }

  static Throwable unwrap(Throwable failure) {
    Throwable t = failure;
    while ((t instanceof java.util.concurrent.CompletionException
            || t instanceof ExecutionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }
}
