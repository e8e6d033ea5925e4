package dev.shepherd.pool;

import dev.shepherd.pool.internal.RemoteProtocol;
import dev.shepherd.pool.spi.LaunchedRunner;
import dev.shepherd.pool.spi.RunnerLauncher;
import dev.shepherd.pool.spi.RunnerSpec;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * Starts runners as child JVMs; see {@link ProcessBackend}.
 *
 * <p>The child's stdin stays an open pipe it never reads; stdout and stderr are pumped, line by
 * line, to this JVM's logger, tagged with the runner id. The child gets {@link
 * RunnerEnvironment#PARENT_PID} so it exits when this process is gone, however it died.
 */
final class ProcessLauncher implements RunnerLauncher {

  private static final System.Logger LOG = System.getLogger(ProcessBackend.class.getName());

  private final Path java;
  private final List<String> jvmOptions;
  private final String classpath;

  ProcessLauncher(Path java, List<String> jvmOptions, String classpath) {
    this.java = java;
    this.jvmOptions = List.copyOf(jvmOptions);
    this.classpath = classpath;
  }

  static List<String> defaultJvmOptions() {
    return defaultJvmOptions(System.getProperty("java.class.path", ""));
  }

  /**
   * The default options for children on a classpath. A dynamic class-data sharing archive can only
   * be made for a classpath of jar files; with a directory on it (as in a build's test run), the
   * JVM would try, fail and spend a second at every exit, so then only the JDK's own archive is
   * used.
   */
  static List<String> defaultJvmOptions(String classpath) {
    List<String> options = new ArrayList<>();
    options.add("-XX:TieredStopAtLevel=1");
    options.add("-XX:+UseSerialGC");
    options.add("-XX:-UsePerfData");
    options.add("-Xshare:auto");
    if (Runtime.version().feature() >= 19 && onlyJars(classpath)) {
      String key = System.getProperty("java.vm.version", "") + "|" + classpath;
      String hash = HexFormat.of().toHexDigits(key.hashCode());
      Path archive =
          Path.of(System.getProperty("java.io.tmpdir"), "shepherd-pool-" + hash + ".jsa");
      options.add("-XX:+AutoCreateSharedArchive");
      options.add("-XX:SharedArchiveFile=" + archive);
      options.add("-Xlog:cds=off");
      options.add("-Xlog:cds+dynamic=off");
    }
    return List.copyOf(options);
  }

  private static boolean onlyJars(String classpath) {
    if (classpath.isEmpty()) {
      return false;
    }
    for (String entry : classpath.split(File.pathSeparator, -1)) {
      if (!entry.endsWith(".jar") || !Files.isRegularFile(Path.of(entry))) {
        return false;
      }
      if (entry.contains("surefire")) {
        return false; // a manifest-only jar pointing at directories
      }
    }
    return true;
  }

  @Override
  public LaunchedRunner launch(RunnerSpec spec, Map<String, String> environment)
      throws IOException {
    List<String> command = new ArrayList<>();
    command.add(java.toString());
    command.addAll(jvmOptions);
    command.add("-cp");
    command.add(classpath);
    command.add(RunnerMain.class.getName());
    ProcessBuilder builder = new ProcessBuilder(command);
    builder.environment().putAll(environment);
    builder.environment().put(
        RunnerEnvironment.PARENT_PID, Long.toString(ProcessHandle.current().pid()));
    builder.redirectInput(ProcessBuilder.Redirect.PIPE);
    Process process = builder.start();
    String id = spec.runnerId();
    pump(process.getInputStream(), id, "stdout", System.Logger.Level.INFO);
    pump(process.getErrorStream(), id, "stderr", System.Logger.Level.INFO);
    return new ChildProcess(id, process);
  }

  private static void pump(InputStream stream, String id, String name, System.Logger.Level level) {
    Thread.ofVirtual()
        .name("shepherd-pool-" + id + "-" + name)
        .start(
            () -> {
              try (BufferedReader reader =
                  new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8))) {
                String line;
                while ((line = reader.readLine()) != null) {
                  LOG.log(level, "[" + id + "] " + RemoteProtocol.printable(line, 8192));
                }
              } catch (IOException e) {
                // the child is gone
              }
            });
  }

  @Override
  public String toString() {
    return "ProcessLauncher[" + java + "]";
  }

  /** A child JVM. */
  static final class ChildProcess implements LaunchedRunner {
    private final String id;
    private final Process process;
    private final CompletableFuture<Void> exited;

    ChildProcess(String id, Process process) {
      this.id = id;
      this.process = process;
      this.exited =
          process
              .onExit()
              .thenApply(
                  p -> {
                    int status = p.exitValue();
                    if (status != 0) {
                      throw new IllegalStateException(
                          "runner " + id + " (pid " + p.pid() + ") exited with status " + status);
                    }
                    return null;
                  });
    }

    @Override
    public CompletableFuture<Void> exited() {
      return exited;
    }

    @Override
    public void kill() {
      process.destroyForcibly();
    }

    long pid() {
      return process.pid();
    }

    @Override
    public String toString() {
      return "ChildProcess[" + id + ", pid " + process.pid() + "]";
    }
  }
}
