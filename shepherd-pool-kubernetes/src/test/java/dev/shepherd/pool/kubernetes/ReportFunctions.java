package dev.shepherd.pool.kubernetes;

import dev.shepherd.pool.FunctionRegistry;
import dev.shepherd.pool.FunctionRegistryFactory;

/** The functions of the README sample. */
public final class ReportFunctions implements FunctionRegistryFactory {

  /** Creates the factory (a runner instantiates it by name). */
  public ReportFunctions() {}

  @Override
  public FunctionRegistry create() {
    return FunctionRegistry.builder()
        .register("render", quarter -> "report for " + quarter)
        .build();
  }
}
