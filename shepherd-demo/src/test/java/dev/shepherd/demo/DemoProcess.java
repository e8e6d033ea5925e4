package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * The reference service started as {@code ./shepherd demo} starts it, for the integration tests:
 * {@code java -jar target/shepherd-demo.jar --port N ...} as a real child process, its output (both
 * streams) read line by line as it comes.
 *
 * <pre>{@code
 * DemoProcess service = DemoProcess.startOnFreePort("--pool", "local"); // waits until it is up
 * ... service.base() + "/orders" ...
 * service.stop(); // SIGTERM, as Ctrl-C
 * }</pre>
 */
final class DemoProcess implements AutoCloseable {

  /** The shaded jar that {@code package} builds. */
  static final Path JAR = Path.of("target", "shepherd-demo.jar");

  /** The line the service prints once it serves. */
  static final String UP = "Shepherd reference service is up.";

  private final Process process;
  /** The port asked for, or (after {@link #startOnFreePort}) the one the service printed. */
  private volatile int port;
  private final List<String> output = new CopyOnWriteArrayList<>();
  private final Thread reader;

  private DemoProcess(Process process, int port) {
    this.process = process;
    this.port = port;
    this.reader = Thread.ofVirtual().start(() -> {
      try (BufferedReader lines = new BufferedReader(
          new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line = lines.readLine(); line != null; line = lines.readLine()) {
          output.add(line.strip());
        }
      } catch (IOException ignored) {
        // the process ended
      }
    });
  }

  /**
   * Starts the jar with {@code --port 0} and {@code args}, waits until it is up, and takes its port
   * from the dashboard line it prints; kills it if it does not come up. Port 0 lets the kernel
   * choose at Jetty's bind: a port chosen here and handed over could be taken meanwhile (the
   * demo's embedded PostgreSQL picks free ports too, before Jetty binds).
   */
  static DemoProcess startOnFreePort(String... args) throws IOException {
    DemoProcess service = launch(0, args);
    try {
      service.awaitUp();
      await().atMost(Duration.ofSeconds(10)).until(() -> service.printedPort() > 0);
      service.port = service.printedPort();
      return service;
    } catch (RuntimeException | Error e) {
      service.close();
      throw e;
    }
  }

  /** The port of the {@code dashboard http://127.0.0.1:<port>/} line, or 0 before it is printed. */
  private int printedPort() {
    for (String line : output) {
      java.util.regex.Matcher m =
          java.util.regex.Pattern.compile("^dashboard\\s+http://127\\.0\\.0\\.1:(\\d+)/$").matcher(line);
      if (m.matches()) {
        return Integer.parseInt(m.group(1));
      }
    }
    return 0;
  }

  /** Starts the jar on {@code port} with {@code args} after {@code --port}, without waiting. */
  static DemoProcess launch(int port, String... args) throws IOException {
    assertThat(JAR).as("the shaded jar built by package").exists();
    List<String> command = new ArrayList<>(List.of("-jar", JAR.toString(), "--port", Integer.toString(port)));
    command.addAll(List.of(args));
    return new DemoProcess(java(command.toArray(String[]::new)).redirectErrorStream(true).start(), port);
  }

  /** A {@code java} of the JDK running the tests with {@code args}, such as {@code -cp} and the jar. */
  static ProcessBuilder java(String... args) {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(List.of(args));
    return new ProcessBuilder(command);
  }

  /** Waits up to two minutes for {@link #UP}, and fails with the output if the process ended first. */
  DemoProcess awaitUp() {
    await().atMost(Duration.ofMinutes(2)).until(() -> output.contains(UP) || !process.isAlive());
    assertThat(process.isAlive()).as("service alive; its output:\n%s", outputText()).isTrue();
    return this;
  }

  /**
   * Sends SIGTERM (what Ctrl-C does), fails unless the process ends within 60 s, then waits up to
   * 10 s for the rest of its output (the pipe drains only after the process ends).
   */
  void stop() throws InterruptedException {
    process.destroy();
    assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("service stopped within 60 s").isTrue();
    reader.join(10_000);
  }

  /** Kills the process if it still runs: for {@code finally} blocks after a failed test. */
  @Override
  public void close() {
    process.destroyForcibly();
  }

  Process process() {
    return process;
  }

  int port() {
    return port;
  }

  /** {@code http://127.0.0.1:<port>}. */
  String base() {
    return "http://127.0.0.1:" + port;
  }

  /** The lines printed so far, stripped; grows while the process runs. */
  List<String> output() {
    return output;
  }

  String outputText() {
    return String.join("\n", output);
  }

}
