package dev.shepherd.benchmarks.pool;

import dev.shepherd.pool.FunctionRegistry;
import dev.shepherd.pool.FunctionRegistryFactory;

/** The functions of the pool benchmarks; public so child runners can build the same registry. */
public final class BenchFunctions implements FunctionRegistryFactory {

  /** Creates the factory. */
  public BenchFunctions() {}

  @Override
  public FunctionRegistry create() {
    return FunctionRegistry.builder()
        .register("echo", arg -> arg)
        .register("noop", arg -> null)
        .build();
  }
}
