package dev.shepherd.pool;

import dev.shepherd.core.internal.Require;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * The functions runners can run, by name: the only code a caller can reach on a runner. Calls send
 * the name and an argument, never code, so a remote runner runs only what its own registry holds.
 *
 * <p>Immutable and thread-safe once built.
 */
public final class FunctionRegistry {

  private final Map<String, RunnerFunction> functions;
  private final SortedSet<String> names;

  private FunctionRegistry(Map<String, RunnerFunction> functions) {
    this.functions = Collections.unmodifiableMap(new LinkedHashMap<>(functions));
    this.names = Collections.unmodifiableSortedSet(new TreeSet<>(functions.keySet()));
  }

  /**
   * Returns a builder of a registry.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Returns the registered names, sorted.
   *
   * @return the names
   */
  public SortedSet<String> names() {
    return names;
  }

  /**
   * Returns whether a function of this name is registered.
   *
   * @param name the name
   * @return true if registered
   */
  public boolean contains(String name) {
    return functions.containsKey(name);
  }

  /**
   * Returns the function of a name.
   *
   * @param name the name
   * @return the function
   * @throws NullPointerException if {@code name} is null
   * @throws IllegalArgumentException if no function has that name; the message lists the
   *     registered names
   */
  public RunnerFunction get(String name) {
    Require.nonNull(name, "function");
    RunnerFunction function = functions.get(name);
    if (function == null) {
      throw unknown(name);
    }
    return function;
  }

  /**
   * Returns the error for a name that is not registered, listing the names that are.
   *
   * @param name the unknown name
   * @return the exception, for the caller to throw
   */
  public IllegalArgumentException unknown(String name) {
    return unknown(name, names);
  }

  /**
   * Returns the error for a name that is not among a backend's function names.
   *
   * @param name the unknown name
   * @param names the registered names, sorted
   * @return the exception, for the caller to throw
   */
  static IllegalArgumentException unknown(String name, SortedSet<String> names) {
    return new IllegalArgumentException(
        "unknown function \"" + name + "\"; registered functions are " + names);
  }

  @Override
  public String toString() {
    return "FunctionRegistry" + names();
  }

  /** Builds a {@link FunctionRegistry}. Not thread-safe. */
  public static final class Builder {

    private final Map<String, RunnerFunction> functions = new LinkedHashMap<>();

    private Builder() {}

    /**
     * Registers a function.
     *
     * @param name the name callers use; not empty, unique in this registry
     * @param function the function
     * @return this builder
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if the name is empty or already registered
     */
    public Builder register(String name, RunnerFunction function) {
      Require.notEmpty(name, "name");
      Require.nonNull(function, "function");
      Require.argument(
          !functions.containsKey(name), "function \"" + name + "\" is already registered");
      functions.put(name, function);
      return this;
    }

    /**
     * Builds the registry.
     *
     * @return the immutable registry
     */
    public FunctionRegistry build() {
      return new FunctionRegistry(functions);
    }
  }
}
