package dev.shepherd.demo;

import dev.shepherd.pool.FunctionRegistry;
import dev.shepherd.pool.FunctionRegistryFactory;
import java.util.LinkedHashMap;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The functions the reference service runs on its elastic pool. Runners (child JVMs) build the
 * same registry from this class, so a call names a function and ships only data.
 */
public final class DemoFunctions implements FunctionRegistryFactory {

  /** Creates the factory; runners instantiate it by class name. */
  public DemoFunctions() {}

  @Override
  public FunctionRegistry create() {
    return FunctionRegistry.builder()
        .register("primes", DemoFunctions::primes)
        .register("report", DemoFunctions::report)
        .build();
  }

  /**
   * A report that counts primes, then holds its runner for a while (as if writing the result out):
   * the playground's pool scenario uses it so a burst keeps runners busy long enough to watch.
   *
   * @param argument a map with a Long {@code upTo} (as for {@link #primes}) and a Long {@code holdMs}
   *     (0 to 5,000)
   * @return what {@link #primes} returns
   */
  static Object report(@Nullable Object argument) {
    if (!(argument instanceof Map<?, ?> map) || !(map.get("holdMs") instanceof Long holdMs)) {
      throw new IllegalArgumentException("report expects {upTo: Long, holdMs: Long}, got " + argument);
    }
    if (holdMs < 0 || holdMs > 5_000) {
      throw new IllegalArgumentException("holdMs must be between 0 and 5000, was " + holdMs);
    }
    Object result = primes(argument);
    try {
      Thread.sleep(holdMs);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("report interrupted", e);
    }
    return result;
  }

  /**
   * A deliberately CPU-heavy report: counts the primes up to {@code upTo} with a sieve.
   *
   * @param argument a map with a Long {@code upTo} (at most 50,000,000)
   * @return a map with {@code upTo}, {@code primes}, {@code largest} and {@code pid}
   */
  static Object primes(@Nullable Object argument) {
    if (!(argument instanceof Map<?, ?> map) || !(map.get("upTo") instanceof Long upTo)) {
      throw new IllegalArgumentException("primes expects {upTo: Long}, got " + argument);
    }
    if (upTo < 2 || upTo > 50_000_000L) {
      throw new IllegalArgumentException("upTo must be between 2 and 50000000, was " + upTo);
    }
    int n = (int) (long) upTo;
    boolean[] composite = new boolean[n + 1];
    long count = 0;
    long largest = 0;
    for (int i = 2; i <= n; i++) {
      if (!composite[i]) {
        count++;
        largest = i;
        for (long j = (long) i * i; j <= n; j += i) {
          composite[(int) j] = true;
        }
      }
    }
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("upTo", upTo);
    result.put("primes", count);
    result.put("largest", largest);
    result.put("pid", ProcessHandle.current().pid());
    return result;
  }
}
