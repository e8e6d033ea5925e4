package dev.shepherd.benchmarks.pool;

/** The main class of the bare-JVM floor in {@link ProcessRunnerBenchmark}: does nothing. */
public final class EmptyMain {

  private EmptyMain() {}

  /**
   * Does nothing.
   *
   * @param args ignored
   */
  public static void main(String[] args) {}
}
