package dev.shepherd.watch;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiPredicate;
import java.util.function.DoubleSupplier;

/**
 * A {@link WatchSource} over an upstream that cannot block (a plain database row, a file, an HTTP
 * endpoint without blocking queries): it is read again once its maximum age has passed, plus a
 * small random stagger, and the index grows only when the value changed, so the watch loop
 * delivers only changes. This is how Consul's agent cache refreshes types that do not support
 * blocking.
 *
 * <pre>{@code
 * WatchSource<String> flags = PollingWatchSource.<String>builder(key -> readFlagFromDatabase(key))
 *     .maxAge(Duration.ofSeconds(10))
 *     .build();
 * Watcher<String> watcher = Watcher.builder(flags).build();
 * }</pre>
 *
 * <p>How it answers {@code fetch(key, minIndex, maxWait)}: with {@code minIndex} 0, or an index it
 * did not hand out last for this key, it reads at once. Otherwise it sleeps until the last read is
 * {@code maxAge + stagger} old (stagger uniform in {@code [0, maxStagger)}, default
 * {@code maxAge/16}) and reads again; if that point is further away than {@code maxWait}, it
 * sleeps {@code maxWait} and answers the unchanged value. Indexes come from one counter starting
 * at 1, so they are never zero and never go backwards, also across {@link #release(String)}.
 *
 * <p>Thread-safe. Per-key state is dropped by {@link #release(String)}, which the watcher calls
 * when a key is no longer watched.
 *
 * @param <V> the type of values
 */
public final class PollingWatchSource<V> implements WatchSource<V> {

  /**
   * Reads the current value of a key from an upstream that cannot block.
   *
   * @param <V> the value's type
   */
  @FunctionalInterface
  public interface Reader<V> {

    /**
     * Returns the current value of {@code key}.
     *
     * @param key the key
     * @return the value, never null (use {@code Optional} for absence)
     * @throws Exception any failure; the watch loop counts it and backs off
     */
    V read(String key) throws Exception;
  }

  private final Reader<V> reader;
  private final long maxAgeNanos;
  private final long maxStaggerNanos;
  private final BiPredicate<? super V, ? super V> sameValue;
  private final Ticker ticker;
  private final DoubleSupplier random;
  private final AtomicLong indexes = new AtomicLong();
  private final AtomicLong reads = new AtomicLong();
  private final ConcurrentHashMap<String, Polled<V>> polled = new ConcurrentHashMap<>();
  private final Config config;

  private PollingWatchSource(Builder<V> builder) {
    this.reader = builder.reader;
    this.maxAgeNanos = Durations.toNanosSaturated(builder.maxAge);
    this.maxStaggerNanos = Durations.toNanosSaturated(
        builder.maxStagger != null ? builder.maxStagger : builder.maxAge.dividedBy(16));
    this.sameValue = builder.sameValue;
    this.ticker = builder.ticker;
    this.random = builder.random;
    this.config = new Config(builder.maxAge, Duration.ofNanos(maxStaggerNanos), builder.ticker);
  }

  /**
   * Returns this source's settings, as built (the stagger resolved from the maximum age when it
   * was not set).
   *
   * @return the immutable configuration
   */
  public Config config() {
    return config;
  }

  /**
   * The immutable settings of a {@link PollingWatchSource}, read through
   * {@link PollingWatchSource#config()}; the builder explains each one. The builder checks each
   * setting when it is set, naming it in the error, so the record does not check them again.
   *
   * @param maxAge how old a polled value may get
   * @param maxStagger the most random time added to each poll
   * @param ticker the time source
   */
  public record Config(Duration maxAge, Duration maxStagger, Ticker ticker) {}

  /**
   * Returns a builder over a reader.
   *
   * @param reader reads a key's current value
   * @param <V> the type of values
   * @return a new builder
   * @throws NullPointerException if {@code reader} is null
   */
  public static <V> Builder<V> builder(Reader<V> reader) {
    return new Builder<>(Require.nonNull(reader, "reader"));
  }

  /**
   * {@inheritDoc}
   *
   * @throws NullPointerException if {@code key} or {@code maxWait} is null
   * @throws IllegalArgumentException if {@code key} is empty, {@code minIndex} or {@code maxWait}
   *     negative
   */
  @Override
  public Versioned<V> fetch(String key, long minIndex, Duration maxWait) throws Exception {
    Require.notEmpty(key, "key");
    Require.atLeast(minIndex, 0L, "minIndex");
    Require.nonNegative(maxWait, "maxWait");
    Polled<V> last = polled.get(key);
    if (minIndex != 0L && last != null && last.versioned().index() == minIndex) {
      long stagger = maxStaggerNanos == 0L ? 0L : (long) (maxStaggerNanos * random.getAsDouble());
      long age = Durations.saturatedAdd(maxAgeNanos, stagger);
      long now = ticker.read();
      long maxWaitNanos = Durations.toNanosSaturated(maxWait);
      if (age - (now - last.readAt()) > maxWaitNanos) {
        Sleeps.sleep(ticker, now, maxWaitNanos);
        return last.versioned();
      }
      Sleeps.sleep(ticker, last.readAt(), age); // from the read itself, see Sleeps
    }
    return read(key);
  }

  private Versioned<V> read(String key) throws Exception {
    long readAt = ticker.read();
    reads.incrementAndGet();
    V value = Objects.requireNonNull(reader.read(key), "reader returned null");
    Polled<V> next = polled.compute(key, (k, previous) -> {
      if (previous != null && sameValue.test(previous.versioned().value(), value)) {
        return new Polled<>(previous.versioned(), readAt);
      }
      return new Polled<>(new Versioned<>(value, indexes.incrementAndGet()), readAt);
    });
    return next.versioned();
  }

  /**
   * Returns how many times the reader was called; lets tests and benchmarks count upstream reads.
   *
   * @return the number of reads
   */
  public long readCount() {
    return reads.get();
  }

  /** Returns how many keys this source remembers a polled value of (for tests). */
  int polledKeys() {
    return polled.size();
  }

  /** Forgets the polled value of {@code key}. */
  @Override
  public void release(String key) {
    polled.remove(key);
  }

  @Override
  public String toString() {
    return "PollingWatchSource[maxAge=" + Duration.ofNanos(maxAgeNanos)
        + ", maxStagger=" + Duration.ofNanos(maxStaggerNanos) + "]";
  }

  private record Polled<V>(Versioned<V> versioned, long readAt) {}

  /**
   * Builder of {@link PollingWatchSource}; not thread-safe.
   *
   * @param <V> the type of values
   */
  public static final class Builder<V> {
    private final Reader<V> reader;
    private Duration maxAge = Duration.ofSeconds(30);
    private @org.jspecify.annotations.Nullable Duration maxStagger;
    private BiPredicate<? super V, ? super V> sameValue = Objects::equals;
    private Ticker ticker = Ticker.system();
    private DoubleSupplier random = () -> ThreadLocalRandom.current().nextDouble();

    private Builder(Reader<V> reader) {
      this.reader = reader;
    }

    /**
     * Sets how old a read value may get before it is read again (default 30 seconds).
     *
     * @param maxAge a positive duration
     * @return this builder
     * @throws NullPointerException if {@code maxAge} is null
     * @throws IllegalArgumentException if it is zero or negative
     */
    public Builder<V> maxAge(Duration maxAge) {
      this.maxAge = Require.positive(maxAge, "maxAge");
      return this;
    }

    /**
     * Sets the largest random delay added to each poll, so many keys or processes polling one
     * upstream spread out (default {@code maxAge/16}).
     *
     * @param maxStagger zero or more
     * @return this builder
     * @throws NullPointerException if {@code maxStagger} is null
     * @throws IllegalArgumentException if it is negative
     */
    public Builder<V> maxStagger(Duration maxStagger) {
      this.maxStagger = Require.nonNegative(maxStagger, "maxStagger");
      return this;
    }

    /**
     * Sets how two reads are compared to decide whether the value changed (default
     * {@link Objects#equals(Object, Object)}).
     *
     * @param sameValue true when two values are the same
     * @return this builder
     * @throws NullPointerException if {@code sameValue} is null
     */
    public Builder<V> sameValue(BiPredicate<? super V, ? super V> sameValue) {
      this.sameValue = Require.nonNull(sameValue, "sameValue");
      return this;
    }

    /**
     * Sets the time source of poll intervals (default {@link Ticker#system()}); a test seam.
     *
     * @param ticker the ticker
     * @return this builder
     * @throws NullPointerException if {@code ticker} is null
     */
    public Builder<V> ticker(Ticker ticker) {
      this.ticker = Require.nonNull(ticker, "ticker");
      return this;
    }

    /**
     * Sets the source of uniform randoms in {@code [0, 1)} for the stagger; a test seam.
     *
     * @param random the source
     * @return this builder
     * @throws NullPointerException if {@code random} is null
     */
    public Builder<V> random(DoubleSupplier random) {
      this.random = Require.nonNull(random, "random");
      return this;
    }

    /**
     * Builds the source.
     *
     * @return a new source
     */
    public PollingWatchSource<V> build() {
      return new PollingWatchSource<>(this);
    }
  }
}
