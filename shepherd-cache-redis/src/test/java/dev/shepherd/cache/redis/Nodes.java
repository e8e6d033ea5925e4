package dev.shepherd.cache.redis;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** Child JVMs running {@link ClusterNode}, and their line protocol. */
final class Nodes implements AutoCloseable {

  /** One child JVM. */
  static final class Node {
    final Process process;
    final Path log;
    private final PrintWriter in;
    private final Map<String, BlockingQueue<String>> lines = new ConcurrentHashMap<>();

    Node(Process process, Path log) {
      this.process = process;
      this.log = log;
      this.in = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
      BufferedReader out =
          new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
      Thread.ofVirtual().start(() -> {
        try {
          for (String line = out.readLine(); line != null; line = out.readLine()) {
            String kind = line.split(" ", 2)[0];
            queue(kind).add(line);
          }
        } catch (IOException ignored) {
          // the child died
        }
        queue("EOF").add("EOF");
      });
    }

    private BlockingQueue<String> queue(String kind) {
      return lines.computeIfAbsent(kind, k -> new LinkedBlockingQueue<>());
    }

    void send(String line) {
      in.println(line);
    }

    /** The next line of a kind, waiting at most {@code timeout}. */
    String next(String kind, Duration timeout) throws Exception {
      String line = queue(kind).poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
      if (line == null) {
        throw new AssertionError("no " + kind + " line from child within " + timeout
            + " (alive=" + process.isAlive() + "); its stderr:\n" + Files.readString(log));
      }
      return line;
    }

    String ask(String command, String kind) throws Exception {
      send(command);
      return next(kind, Duration.ofSeconds(120));
    }

    /** Whether this exact line has come (it stays queued). */
    boolean said(String line) {
      return queue(line.split(" ", 2)[0]).contains(line);
    }

    /** The {@code name=value} fields of a line. */
    static Map<String, String> fields(String line) {
      Map<String, String> out = new HashMap<>();
      for (String word : line.split(" ")) {
        int eq = word.indexOf('=');
        if (eq > 0) {
          out.put(word.substring(0, eq), word.substring(eq + 1));
        }
      }
      return out;
    }

    long pid() {
      return process.pid();
    }
  }

  final List<Node> nodes = new ArrayList<>();

  /** Starts {@code count} nodes and waits until each is in cluster mode. */
  static Nodes start(int count, String redisUri, String name, Duration lease,
      Duration commandTimeout, Duration cacheFailures) throws Exception {
    Nodes all = new Nodes();
    for (int i = 0; i < count; i++) {
      all.nodes.add(launch(redisUri, name, lease, commandTimeout, cacheFailures));
    }
    for (Node node : all.nodes) {
      node.next("READY", Duration.ofSeconds(120));
      assertThat(node.ask("AWAIT_CLUSTERED", "CLUSTERED")).isEqualTo("CLUSTERED true");
    }
    return all;
  }

  static Node launch(String redisUri, String name, Duration lease, Duration commandTimeout,
      Duration cacheFailures) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    // in the module's target directory, not the shared /tmp: kept for a failure's diagnosis
    Path log = Files.createTempFile(
        Files.createDirectories(Path.of("target", "child-logs")), "cache-node-", ".log");
    Process process = new ProcessBuilder(
        java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-Dio.lettuce.core.jfr=false",
        "-cp", System.getProperty("java.class.path"),
        ClusterNode.class.getName(), redisUri, name,
        Long.toString(lease.toMillis()), Long.toString(commandTimeout.toMillis()),
        Long.toString(cacheFailures.toMillis()))
        .redirectError(log.toFile())
        .start();
    return new Node(process, log);
  }

  Node get(int i) {
    return nodes.get(i);
  }

  /** Sends one command to every node and returns each one's answer line, in node order. */
  List<String> askAll(String command, String kind) throws Exception {
    for (Node node : nodes) {
      node.send(command);
    }
    List<String> answers = new ArrayList<>();
    for (Node node : nodes) {
      answers.add(node.next(kind, Duration.ofSeconds(120)));
    }
    return answers;
  }

  @Override
  public void close() {
    for (Node node : nodes) {
      node.process.destroyForcibly();
    }
    for (Node node : nodes) {
      try {
        node.process.waitFor(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }
}
