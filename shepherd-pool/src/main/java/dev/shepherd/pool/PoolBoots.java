package dev.shepherd.pool;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.shepherd.core.internal.Durations;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerSpec;
import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/** Booting runners for an {@link ElasticPool}: how many, when, and what a boot's end does. */
abstract class PoolBoots extends PoolEvents {

  /*
   * Runner, while booting (class BootAttempt, then class Runner):
   *   planned --planBoots: below min, or waiters not covered by boots, and below max--> BOOTING
   *                                          (one boot per maxConcurrency waiters; after a
   *                                          failure, one at a time until one succeeds)
   *   BOOTING --boot ok-------------------> READY   (added to `runners`; takes waiters at once;
   *                                                  retired at once instead if a resize() left
   *                                                  the pool at max meanwhile)
   *   BOOTING --boot failed / timed out---> gone    (bootFailures++, retry after 1 s while callers
   *                                                  wait or the pool is below min)
   *   BOOTING --died before taken---------> gone    (a failed boot)
   * BootAttempt.state (RUNNING -> DONE | TIMED_OUT) decides, without the lock, which of the boot
   * thread and the boot timer owns the outcome.
   */

  PoolBoots(ElasticPoolConfig config) {
    super(config);
  }


  /** Starts the boots the current demand needs. */
  @GuardedBy("lock")
  void planBoots(Effects effects) {
    if (closed) {
      return;
    }
    if (retryPending) {
      if (ticker.read() - retryAtNanos < 0) {
        return;
      }
      retryPending = false;
    }
    int perRunner = config.singleUse() ? 1 : config.maxConcurrency();
    while (runners.size() + boots.size() < max) {
      int ready = countReady();
      boolean belowMin = ready + boots.size() + idledOutMin < min;
      boolean demand = (long) boots.size() * perRunner < waiting;
      if (!belowMin && !demand) {
        break;
      }
      BootAttempt boot = new BootAttempt(config.name() + "-" + ++runnerSequence);
      boots.add(boot);
      int count = runners.size() + boots.size();
      // launch() calls the onGrowStart hook: off the timer thread when the sweep plans the boot
      effects.add(() -> offTimerThread(() -> launch(boot, count)));
      if (lastBootFailure != null) {
        break; // after a failure, one boot at a time until one succeeds
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Boots (outside the lock)

  void launch(BootAttempt boot, int count) {
    Thread thread = bootThreads.newThread(() -> runBoot(boot));
    boot.thread = thread;
    emit(new PoolEvent.BootStarted(config.name(), boot.runnerId, count), config.onGrowStart());
    long timeoutNanos = Durations.toNanosSaturated(config.bootTimeout());
    boot.timer =
        scheduler.schedule(
            () -> offTimerThread(() -> bootTimedOut(boot)), timeoutNanos, TimeUnit.NANOSECONDS);
    thread.start();
  }

  void runBoot(BootAttempt boot) {
    long started = ticker.read();
    Runner runner = new Runner(boot.runnerId);
    RunnerSpec spec =
        new RunnerSpec(
            config.name(),
            boot.runnerId,
            config.bootTimeout(),
            config.shutdownTimeout(),
            runnerIdleBackstop(),
            config.maxConcurrency());
    RunnerHandle handle;
    try {
      handle = backend.boot(spec, cause -> runnerDied(runner, cause));
    } catch (Throwable e) {
      if (boot.state.compareAndSet(BootAttempt.RUNNING, BootAttempt.DONE)) {
        bootFailed(
            boot,
            e instanceof RunnerBootException
                ? e
                : new RunnerBootException(
                    "pool " + config.name() + ": runner " + boot.runnerId + " failed to boot", e));
      }
      return;
    }
    if (!boot.state.compareAndSet(BootAttempt.RUNNING, BootAttempt.DONE)) {
      handle.kill(); // timed out or closed meanwhile
      return;
    }
    ScheduledFuture<?> timer = boot.timer;
    if (timer != null) {
      timer.cancel(false);
    }
    runner.handle = handle;
    booted(boot, runner, Duration.ofNanos(Math.max(0, ticker.read() - started)));
  }

  Duration runnerIdleBackstop() {
    // A remote runner exits by itself if the parent leaves it idle much longer than the pool
    // would: twice the longer idle limit plus a margin, or never if min runners never idle out.
    long idle = Durations.toNanosSaturated(config.idleShutdownAfter());
    long minIdle = Durations.toNanosSaturated(config.minIdleShutdownAfter());
    if (min > 0 || minIdle == Long.MAX_VALUE || idle == Long.MAX_VALUE) {
      return Durations.MAX_NANOS;
    }
    long longest = Math.max(idle, minIdle);
    return Duration.ofNanos(
        Durations.saturatedAdd(Durations.saturatedMultiply(longest, 2), 10_000_000_000L));
  }

  void bootTimedOut(BootAttempt boot) {
    if (boot.state.compareAndSet(BootAttempt.RUNNING, BootAttempt.TIMED_OUT)) {
      Thread thread = boot.thread;
      if (thread != null) {
        thread.interrupt();
      }
      bootFailed(
          boot,
          new RunnerBootException(
              "pool "
                  + config.name()
                  + ": runner "
                  + boot.runnerId
                  + " not ready within bootTimeout "
                  + config.bootTimeout(),
              null));
    }
  }

  void booted(BootAttempt boot, Runner runner, Duration took) {
    Effects effects = new Effects();
    boolean killNow = false;
    Throwable diedEarly;
    int count;
    lock.lock();
    try {
      diedEarly = runner.diedDuringBoot;
      if (diedEarly == null) {
        boots.remove(boot);
      }
      if (terminated || diedEarly != null) {
        killNow = true;
      } else {
        bootCount++;
        lastBootFailure = null;
        if (idledOutMin > 0) {
          idledOutMin--; // a runner booted for demand takes the place of an idled-out min runner
        }
        runner.state = RunnerState.READY;
        runner.idleSinceNanos = ticker.read();
        runners.add(runner);
        if (runners.size() > max) {
          // resize() lowered max while this boot ran: retire it before it takes any call, or the
          // waiters would pin it and the pool would stay above max.
          runner.retireReason = PoolEvent.RetireReason.RESIZE;
          retireNowLocked(runner, effects);
        } else {
          drainWaitersLocked(effects);
        }
        planBoots(effects);
      }
      count = runners.size() + boots.size();
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    if (killNow) {
      runner.handle.kill();
      if (diedEarly != null) {
        // It died between the backend's "ready" and the pool taking it: a failed boot.
        bootFailed(
            boot,
            new RunnerBootException(
                "pool " + config.name() + ": runner " + runner.id + " died right after booting",
                diedEarly));
      }
      return;
    }
    emit(new PoolEvent.BootSucceeded(config.name(), runner.id, count, took), config.onGrowEnd());
    effects.run();
  }

  void bootFailed(BootAttempt boot, Throwable cause) {
    Effects effects = new Effects();
    int count;
    boolean scheduleRetry = false;
    lock.lock();
    try {
      boots.remove(boot);
      bootFailureCount++;
      lastBootFailure = cause;
      count = runners.size() + boots.size();
      if (!closed && (waiting > 0 || countReady() + boots.size() < min)) {
        retryPending = true;
        retryAtNanos = ticker.read() + Durations.toNanosSaturated(BOOT_RETRY_DELAY);
        scheduleRetry = true;
      }
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    LOG.log(System.Logger.Level.WARNING, cause.getMessage(), cause);
    emit(new PoolEvent.BootFailed(config.name(), boot.runnerId, count, cause), config.onGrowEnd());
    if (scheduleRetry) {
      var unused7 = scheduler.schedule(
          this::housekeep, Durations.toNanosSaturated(BOOT_RETRY_DELAY), TimeUnit.NANOSECONDS);
    }
    effects.run();
  }
}
