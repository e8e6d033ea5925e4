package dev.shepherd.replica;

import dev.shepherd.core.internal.Require;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * The consistency token of the work the current thread is doing (an HTTP request under
 * {@link ConsistencyTokenFilter}, or an asynchronous job started with {@link #callWith}): what its
 * reads must see, and where its writes are recorded.
 *
 * <pre>{@code
 * // in a request, after a write commits:
 * ConsistencyContext.recordWrite(WritePosition.afterCommit(connection));
 * // before a read:
 * router.read(ConsistencyContext.requiredLsn(), c -> ...);
 * // handing work to another thread: capture, then run with it
 * ConsistencyToken token = ConsistencyContext.current().orElse(null);
 * executor.submit(() -> ConsistencyContext.callWith(token, () -> job()));
 * }</pre>
 *
 * <p>A scope is bound to the thread that entered it (like a {@link ThreadLocal}, which it uses), and
 * scopes nest: leaving one restores the outer one. Outside any scope, {@link #current()} is empty
 * and {@link #recordWrite} has nowhere to record (it throws). Thread-safe.
 */
public final class ConsistencyContext {

  private static final ThreadLocal<@Nullable Scope> CURRENT = new ThreadLocal<>();

  private ConsistencyContext() {}

  /** One unit of work's token; the filter listens to updates to write them to the response. */
  static final class Scope {
    private volatile @Nullable ConsistencyToken token;
    private final Function<Lsn, ConsistencyToken> stamp;
    private final Consumer<ConsistencyToken> onWrite;

    Scope(@Nullable ConsistencyToken token, Function<Lsn, ConsistencyToken> stamp, Consumer<ConsistencyToken> onWrite) {
      this.token = token;
      this.stamp = stamp;
      this.onWrite = onWrite;
    }

    static Scope detached(@Nullable ConsistencyToken token) {
      return new Scope(token, ConsistencyToken::of, t -> {});
    }

    @Nullable ConsistencyToken token() {
      return token;
    }

    synchronized ConsistencyToken record(Lsn lsn) {
      return record(stamp.apply(lsn));
    }

    synchronized ConsistencyToken record(ConsistencyToken written) {
      ConsistencyToken merged = written.merge(token);
      token = merged;
      onWrite.accept(merged);
      return merged;
    }
  }

  /**
   * Returns the current token: the greater of what arrived with the work and what it wrote.
   *
   * @return the token, empty outside a scope or when there is none yet
   */
  public static Optional<ConsistencyToken> current() {
    Scope scope = CURRENT.get();
    return scope == null ? Optional.empty() : Optional.ofNullable(scope.token());
  }

  /**
   * Returns the position the current work's reads must see, for {@link ReplicaRouter#route(Lsn)}.
   *
   * @return the LSN, or null when there is no token (any replica will do)
   */
  public static @Nullable Lsn requiredLsn() {
    return current().map(ConsistencyToken::lsn).orElse(null);
  }

  /**
   * Records a committed write: merges its position into the current token (stamped now, with the
   * current primary's history when the filter's {@link ConsistencyTokenPolicy} knows it) and, under
   * {@link ConsistencyTokenFilter}, sets the response header or cookie at once (so call it before
   * the response is committed, that is before writing the body).
   *
   * @param lsn the position from {@link WritePosition#afterCommit}
   * @return the merged token
   * @throws NullPointerException if {@code lsn} is null
   * @throws IllegalStateException outside a scope (no filter, no {@link #callWith})
   */
  public static ConsistencyToken recordWrite(Lsn lsn) {
    Require.nonNull(lsn, "lsn");
    return writeScope().record(lsn);
  }

  /**
   * Records a committed write whose token the caller made (with its own issue time and history),
   * as {@link #recordWrite(Lsn)} does for a bare position.
   *
   * @param written the write's token
   * @return the merged token
   * @throws NullPointerException if {@code written} is null
   * @throws IllegalStateException outside a scope (no filter, no {@link #callWith})
   */
  public static ConsistencyToken recordWrite(ConsistencyToken written) {
    Require.nonNull(written, "written");
    return writeScope().record(written);
  }

  /** Returns this thread's scope, where a write is recorded; fails outside one. */
  private static Scope writeScope() {
    Scope scope = CURRENT.get();
    Require.state(scope != null, "ConsistencyContext.recordWrite outside a scope: install "
        + "ConsistencyTokenFilter or run the work with ConsistencyContext.callWith");
    return scope;
  }

  /**
   * Runs {@code work} in a scope that starts with {@code token}: the way to carry a request's
   * position into an asynchronous job.
   *
   * @param token the token to start with, or null
   * @param work the work
   * @param <T> the result type
   * @return what {@code work} returned
   * @throws NullPointerException if {@code work} is null
   * @throws Exception whatever {@code work} throws
   */
  public static <T> T callWith(@Nullable ConsistencyToken token, Callable<T> work) throws Exception {
    Require.nonNull(work, "work");
    Scope previous = CURRENT.get();
    CURRENT.set(Scope.detached(token));
    try {
      return work.call();
    } finally {
      restore(previous);
    }
  }

  /**
   * Runs {@code work} in a scope that starts with {@code token}.
   *
   * @param token the token to start with, or null
   * @param work the work
   * @throws NullPointerException if {@code work} is null
   */
  public static void runWith(@Nullable ConsistencyToken token, Runnable work) {
    Require.nonNull(work, "work");
    Scope previous = CURRENT.get();
    CURRENT.set(Scope.detached(token));
    try {
      work.run();
    } finally {
      restore(previous);
    }
  }

  /**
   * Returns {@code work} wrapped to run with the token current now, for handing to an executor.
   *
   * @param work the work
   * @return the wrapped work
   * @throws NullPointerException if {@code work} is null
   */
  public static Runnable wrap(Runnable work) {
    Require.nonNull(work, "work");
    ConsistencyToken captured = current().orElse(null);
    return () -> runWith(captured, work);
  }

  static @Nullable Scope enter(Scope scope) {
    Scope previous = CURRENT.get();
    CURRENT.set(scope);
    return previous;
  }

  static void restore(@Nullable Scope previous) {
    if (previous == null) {
      CURRENT.remove();
    } else {
      CURRENT.set(previous);
    }
  }
}
