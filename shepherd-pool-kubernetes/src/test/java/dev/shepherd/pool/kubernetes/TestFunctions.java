package dev.shepherd.pool.kubernetes;

import dev.shepherd.pool.FunctionRegistry;
import dev.shepherd.pool.FunctionRegistryFactory;

/** The functions runner Pods of the tests can run; instantiated in the parent and in each runner. */
public final class TestFunctions implements FunctionRegistryFactory {

  /** Creates the factory (a runner instantiates it by name). */
  public TestFunctions() {}

  @Override
  public FunctionRegistry create() {
    return FunctionRegistry.builder()
        .register("echo", arg -> arg)
        .register("where", arg -> System.getenv("SHEPHERD_POOL_RUNNER_ID"))
        .register(
            "sleep",
            arg -> {
              Thread.sleep((Long) arg);
              return "slept";
            })
        .build();
  }
}
