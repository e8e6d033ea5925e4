package dev.shepherd.pool;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Starts runners as child JVMs; see {@link ProcessBackend}. */
final class ProcessLauncher implements RunnerLauncher {

  private final Path java;
  private final List<String> jvmOptions;
  private final String classpath;

  ProcessLauncher(Path java, List<String> jvmOptions, String classpath) {
    this.java = java;
    this.jvmOptions = List.copyOf(jvmOptions);
    this.classpath = classpath;
  }

  static List<String> defaultJvmOptions() {
    return List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto");
  }

  @Override
  public LaunchedRunner launch(RunnerSpec spec, Map<String, String> environment) {
    throw new UnsupportedOperationException("not yet " + java + jvmOptions + classpath);
  }
}
