package dev.shepherd.pool;

/**
 * Makes the {@link FunctionRegistry} of a remote runner. A remote runner is a fresh JVM: it cannot
 * receive code, only the name of this factory's class, which it instantiates with its public
 * no-argument constructor to build the same registry as the parent.
 *
 * <pre>{@code
 * public final class ReportFunctions implements FunctionRegistryFactory {
 *   public FunctionRegistry create() {
 *     return FunctionRegistry.builder()
 *         .register("render", arg -> Reports.render((String) arg))
 *         .build();
 *   }
 * }
 * }</pre>
 */
@FunctionalInterface
public interface FunctionRegistryFactory {

  /**
   * Builds the registry. Called once in the parent and once in every runner.
   *
   * @return the registry
   */
  FunctionRegistry create();
}
