package dev.shepherd.pool.spi;

import java.util.SortedSet;
import org.jspecify.annotations.Nullable;

/**
 * A {@link Backend} that hands every call to another one: the base of a backend that is a
 * configuration of a more general one (the process and Kubernetes backends are each a remote
 * backend with their own launcher), adding only its own accessors and, where it owns more, its own
 * {@link #close()}. Thread-safe if the delegate is.
 */
public abstract class ForwardingBackend implements Backend {

  private final Backend delegate;

  /**
   * Creates a backend that forwards to {@code delegate}.
   *
   * @param delegate the backend doing the work; closed by {@link #close()}
   */
  protected ForwardingBackend(Backend delegate) {
    this.delegate = delegate;
  }

  @Override
  public SortedSet<String> functionNames() {
    return delegate.functionNames();
  }

  @Override
  public @Nullable Object prepare(String function, @Nullable Object argument) {
    return delegate.prepare(function, argument);
  }

  @Override
  public RunnerHandle boot(RunnerSpec spec, RunnerListener listener) throws Exception {
    return delegate.boot(spec, listener);
  }

  @Override
  public void close() {
    delegate.close();
  }
}
