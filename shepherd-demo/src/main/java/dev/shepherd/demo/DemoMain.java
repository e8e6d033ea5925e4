package dev.shepherd.demo;

import java.util.concurrent.CountDownLatch;

/**
 * Runs the reference service ({@code ./shepherd demo}) or its load generator
 * ({@code ./shepherd demo --load}). See {@link DemoOptions} for the flags.
 */
public final class DemoMain {

  private DemoMain() {}

  /**
   * Starts the service and blocks until Ctrl-C, or runs the load generator.
   *
   * @param args the flags of {@link DemoOptions}
   * @throws Exception if the service cannot start; the message says why
   */
  public static void main(String[] args) throws Exception {
    if (args.length > 0 && (args[0].equals("--help") || args[0].equals("-h"))) {
      System.out.print(DemoOptions.USAGE);
      return;
    }
    if (System.getProperty("io.lettuce.core.jfr") == null) {
      // Lettuce's per-connection Flight Recorder events start JFR, which takes seconds here.
      System.setProperty("io.lettuce.core.jfr", "false");
    }
    DemoOptions options;
    try {
      options = DemoOptions.parse(args, System.getenv());
    } catch (IllegalArgumentException e) {
      System.err.println("shepherd demo: " + e.getMessage());
      System.err.print(DemoOptions.USAGE);
      System.exit(2);
      return;
    }
    if (options.scenario().isPresent()) {
      System.exit(ScenarioClient.run(options.scenarioTarget(), options.scenario().get(), options.scenarioParameters(),
          System.out));
      return;
    }
    if (options.loadTarget().isPresent()) {
      LoadGenerator.run(options.loadTarget().get(), options.loadDuration(), System.out);
      return;
    }
    DemoService service;
    try {
      service = DemoService.start(options, System.out);
    } catch (PortInUseException e) {
      System.err.println("shepherd demo: " + e.getMessage());
      System.exit(3);
      return;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      System.out.println("\nshepherd demo: stopping (servers started by the demo are stopped, temporary files removed)");
      System.out.flush();
      service.close();
      stopped.countDown();
    }, "demo-shutdown"));
    service.printWelcome(System.out);
    stopped.await();
  }
}
