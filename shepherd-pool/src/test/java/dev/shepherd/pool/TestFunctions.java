package dev.shepherd.pool;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/** The functions every pool test registers; public so child JVMs can instantiate it. */
public final class TestFunctions implements FunctionRegistryFactory {

  /** In-process state for local-backend tests (unused in child JVMs). */
  static final AtomicInteger RUNNING = new AtomicInteger();

  static final AtomicInteger MAX_RUNNING = new AtomicInteger();
  static final Map<String, CountDownLatch> GATES = new ConcurrentHashMap<>();
  static final List<Object> ORDER = new java.util.concurrent.CopyOnWriteArrayList<>();
  static final Map<String, CountDownLatch> INTERRUPTED = new ConcurrentHashMap<>();
  static final Map<String, CountDownLatch> STARTED = new ConcurrentHashMap<>();
  /** Ends every "spin" call in this JVM (child JVMs never set it: their spins end with the JVM). */
  static volatile boolean spinRelease;
  static final AtomicInteger SPINNING = new AtomicInteger();

  /** Creates the factory. */
  public TestFunctions() {}

  /** Throws from {@code depth} frames down, with a chain of causes as deep as the runner sends. */
  private static Object throwDeep(int depth) {
    if (depth > 0) {
      return throwDeep(depth - 1);
    }
    IllegalStateException failure = new IllegalStateException("deep failure");
    Throwable last = failure;
    for (int i = 0; i < 20; i++) {
      IllegalArgumentException cause = new IllegalArgumentException("cause " + i);
      last.initCause(cause);
      last = cause;
    }
    throw failure;
  }

  static CountDownLatch gate(String name) {
    return GATES.computeIfAbsent(name, k -> new CountDownLatch(1));
  }

  static CountDownLatch interrupted(String name) {
    return INTERRUPTED.computeIfAbsent(name, k -> new CountDownLatch(1));
  }

  /** Counted down when a "gate" call enters the function (a call cancelled earlier never does). */
  static CountDownLatch started(String name) {
    return STARTED.computeIfAbsent(name, k -> new CountDownLatch(1));
  }

  @Override
  public FunctionRegistry create() {
    return FunctionRegistry.builder()
        .register("echo", arg -> arg)
        .register("square", arg -> (Long) arg * (Long) arg)
        .register("pid", arg -> ProcessHandle.current().pid())
        .register(
            "fail",
            arg -> {
              throw new IllegalStateException("no such report: " + arg);
            })
        .register(
            "sleep",
            arg -> {
              Thread.sleep((Long) arg);
              return "slept";
            })
        .register(
            "print",
            arg -> {
              System.out.println(arg);
              return null;
            })
        .register(
            "record",
            arg -> {
              ORDER.add(arg);
              return arg;
            })
        .register(
            "gate",
            arg -> {
              // Blocks until the named gate opens; reports an interrupt to the test.
              String name = (String) arg;
              started(name).countDown();
              try {
                gate(name).await();
              } catch (InterruptedException e) {
                interrupted(name).countDown();
                throw e;
              }
              return name;
            })
        .register(
            "count",
            arg -> {
              int now = RUNNING.incrementAndGet();
              MAX_RUNNING.accumulateAndGet(now, Math::max);
              try {
                Thread.sleep((Long) arg);
              } finally {
                RUNNING.decrementAndGet();
              }
              return now;
            })
        .register(
            "touch",
            arg -> {
              // Creates the file the argument names: proof, visible from outside, that it ran.
              java.nio.file.Files.createFile(java.nio.file.Path.of((String) arg));
              return arg;
            })
        .register("bytes", arg -> new byte[(Integer) arg])
        .register(
            "spin",
            arg -> {
              // Busy-loops, ignoring interrupts, until spinRelease (never, in a child JVM).
              SPINNING.incrementAndGet();
              try {
                while (!spinRelease) {
                  Thread.onSpinWait();
                }
              } finally {
                SPINNING.decrementAndGet();
              }
              return "released";
            })
        .register(
            "badResult",
            arg -> new Object())
        .register(
            "resultThatThrowsWhenEncoded",
            // A collection that changes while it is encoded, as a list shared with another thread
            // would: the codec's read of its first element throws.
            arg ->
                new java.util.AbstractList<Object>() {
                  @Override
                  public Object get(int index) {
                    throw new java.util.ConcurrentModificationException("changed while encoded");
                  }

                  @Override
                  public int size() {
                    return 3;
                  }
                })
        .register(
            "bigResultEncodedUntilCancelled",
            // (Integer) megabytes whose encoding waits, up to 60 s, until the call's thread is
            // interrupted (the parent's cancel arrived), then finishes: the cancel lands after the
            // function returned, while its result is being encoded and the flag stays set.
            arg ->
                new java.util.AbstractList<Object>() {
                  @Override
                  public Object get(int index) {
                    if (index == 0) {
                      long end = System.nanoTime() + 60_000_000_000L;
                      while (!Thread.currentThread().isInterrupted() && System.nanoTime() < end) {
                        Thread.onSpinWait();
                      }
                    }
                    return new byte[1024 * 1024];
                  }

                  @Override
                  public int size() {
                    return (Integer) arg;
                  }
                })
        .register("throwDeep", arg -> throwDeep((Integer) arg))
        .build();
  }

  static void reset() {
    RUNNING.set(0);
    MAX_RUNNING.set(0);
    GATES.clear();
    ORDER.clear();
    INTERRUPTED.clear();
  }
}
