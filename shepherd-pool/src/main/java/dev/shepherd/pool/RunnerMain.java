package dev.shepherd.pool;

import dev.shepherd.pool.spi.RunnerLauncher;


/**
 * The main class of a remote runner: run it with the variables of {@link RunnerEnvironment} set
 * (as a {@link RunnerLauncher} does) and it connects back to the parent, proves its secret, runs
 * the calls the parent sends, and exits when the parent is gone, when told to shut down, or when
 * idle past its limit.
 *
 * <pre>{@code
 * SHEPHERD_POOL_PARENT=10.0.0.7:41234 SHEPHERD_POOL_RUNNER_ID=reports-3 SHEPHERD_POOL_SECRET=... \
 * SHEPHERD_POOL_FUNCTIONS=com.example.ReportFunctions \
 *   java -cp app.jar dev.shepherd.pool.RunnerMain
 * }</pre>
 *
 * <p>Exit status: 0 after a normal end (parent gone, shutdown, idle), 2 for a bad environment, 3
 * if the connection or the handshake failed.
 */
public final class RunnerMain {

  private RunnerMain() {}

  /**
   * Runs the runner until it ends, then exits the JVM.
   *
   * @param args ignored; everything comes from the environment
   */
  public static void main(String[] args) {
    int status = RemoteRunner.run(System.getenv(), true);
    System.exit(status);
  }
}
