package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Kill -9 of a parent JVM leaves no runner behind. */
class OrphanTest {

  @Test
  void killingTheParentWithSigkillLeavesNoChildRunnerAlive() throws Exception {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Process parent =
        new ProcessBuilder(
                java.toString(),
                "-cp",
                System.getProperty("java.class.path"),
                OrphanParentMain.class.getName())
            .redirectErrorStream(true)
            .start();
    CompletableFuture<String> children = new CompletableFuture<>();
    List<String> output = new java.util.concurrent.CopyOnWriteArrayList<>();
    Thread.ofVirtual()
        .start(
            () -> {
              try (BufferedReader reader =
                  new BufferedReader(
                      new InputStreamReader(parent.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = reader.readLine()) != null) {
                  output.add(line);
                  if (line.startsWith("CHILDREN ")) {
                    children.complete(line.substring("CHILDREN ".length()));
                  }
                }
              } catch (Exception e) {
                children.completeExceptionally(e);
              }
              children.completeExceptionally(new AssertionError("parent ended: " + output));
            });
    List<ProcessHandle> runners = new ArrayList<>();
    try {
      for (String pid : children.get(60, TimeUnit.SECONDS).trim().split(" ")) {
        runners.add(ProcessHandle.of(Long.parseLong(pid)).orElseThrow());
      }
      assertThat(runners).hasSize(2).allMatch(ProcessHandle::isAlive);

      parent.destroyForcibly(); // SIGKILL: no shutdown hook, no goodbye to the children
      parent.waitFor();

      await()
          .atMost(Duration.ofSeconds(2))
          .pollInterval(Duration.ofMillis(20))
          // A child that exited but that init has not reaped yet is a zombie: gone, not an orphan.
          .until(() -> runners.stream().noneMatch(RemoteRunner::isRunning));
    } finally {
      parent.destroyForcibly();
      runners.forEach(ProcessHandle::destroyForcibly);
    }
  }
}
