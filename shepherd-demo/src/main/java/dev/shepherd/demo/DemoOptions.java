package dev.shepherd.demo;

import dev.shepherd.core.internal.GoDuration;
import java.net.URI;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * The reference service's settings, from command-line flags first, then environment variables,
 * then embedded defaults.
 *
 * <table>
 *   <caption>Flags and environment variables</caption>
 *   <tr><th>flag</th><th>environment</th><th>default</th></tr>
 *   <tr><td>{@code --port N}</td><td>{@code SHEPHERD_DEMO_PORT}</td><td>8080 on 127.0.0.1</td></tr>
 *   <tr><td>{@code --primary-url JDBC}</td><td>{@code SHEPHERD_PRIMARY_URL}</td><td>an embedded primary</td></tr>
 *   <tr><td>{@code --replica-url JDBC}</td><td>{@code SHEPHERD_REPLICA_URL}</td><td>an embedded streaming replica</td></tr>
 *   <tr><td>{@code --redis URI}</td><td>{@code SHEPHERD_REDIS_URI}</td><td>none: idempotency on PostgreSQL (JDBC store)</td></tr>
 *   <tr><td>{@code --etcd URL}</td><td>{@code SHEPHERD_ETCD_ENDPOINT}</td><td>none: in-memory config store</td></tr>
 *   <tr><td>{@code --pool local|process}</td><td>{@code SHEPHERD_POOL_BACKEND}</td><td>process (child JVMs)</td></tr>
 *   <tr><td>{@code --load [URL]}</td><td></td><td>drive traffic at a running service instead of serving</td></tr>
 *   <tr><td>{@code --duration D}</td><td></td><td>how long {@code --load} runs, e.g. 60s, 5m (default 60s)</td></tr>
 *   <tr><td>{@code --scenario NAME [URL]}</td><td></td><td>run one playground scenario on a running service and print its figures</td></tr>
 *   <tr><td>{@code --param KEY=VALUE}</td><td></td><td>a parameter of the scenario (repeatable), e.g. {@code callers=10000}</td></tr>
 * </table>
 *
 * @param port the HTTP port on 127.0.0.1 (0 picks a free one)
 * @param primaryUrl the JDBC URL of an external primary, or empty for the embedded cluster
 * @param replicaUrl the JDBC URL of an external replica, or empty
 * @param redisUri a Redis URI for the idempotency store, or empty
 * @param etcdEndpoint an etcd endpoint for the config store, or empty
 * @param poolBackend {@code process} or {@code local}
 * @param loadTarget when present, run the load generator against this base URL instead of serving
 * @param loadDuration how long the load generator runs
 * @param scenario when present, run this playground scenario on the service at {@code scenarioTarget}
 * @param scenarioTarget the base URL of the running service the scenario runs on
 * @param scenarioParameters the scenario's parameters from {@code --param}, as given
 */
public record DemoOptions(
    int port,
    Optional<String> primaryUrl,
    Optional<String> replicaUrl,
    Optional<String> redisUri,
    Optional<String> etcdEndpoint,
    String poolBackend,
    Optional<URI> loadTarget,
    Duration loadDuration,
    Optional<String> scenario,
    URI scenarioTarget,
    Map<String, String> scenarioParameters) {

  /** The usage text printed by {@code --help} and on a bad flag. */
  public static final String USAGE = """
      Usage: ./shepherd demo [--port N] [--primary-url JDBC --replica-url JDBC] [--redis URI]
                             [--etcd URL] [--pool process|local]
             ./shepherd demo --load [http://127.0.0.1:8080] [--duration 60s]
             ./shepherd demo --scenario cache|idempotency|replica|watch|pool [http://127.0.0.1:8080]
                             [--param KEY=VALUE]...
      Without flags the service starts its own PostgreSQL primary and streaming replica in a
      temporary directory and listens on http://127.0.0.1:8080/; the playground is at /playground/.
      --scenario runs one playground scenario on a running service and prints Shepherd's figures
      beside the naive baseline's, e.g. --scenario cache --param callers=10000 --param catalog=healthy.
      """;

  /**
   * Parses flags, falling back to the given environment.
   *
   * @param args the command-line arguments
   * @param env the environment (System.getenv() in production)
   * @return the options
   * @throws IllegalArgumentException on an unknown flag or a bad value, naming it
   */
  public static DemoOptions parse(String[] args, Map<String, String> env) {
    int port = parsePort(env.getOrDefault("SHEPHERD_DEMO_PORT", "8080"), "SHEPHERD_DEMO_PORT");
    String primary = env.get("SHEPHERD_PRIMARY_URL");
    String replica = env.get("SHEPHERD_REPLICA_URL");
    String redis = env.get("SHEPHERD_REDIS_URI");
    String etcd = env.get("SHEPHERD_ETCD_ENDPOINT");
    String pool = env.getOrDefault("SHEPHERD_POOL_BACKEND", "process");
    URI load = null;
    Duration duration = Duration.ofSeconds(60);
    String scenario = null;
    URI scenarioTarget = null;
    Map<String, String> scenarioParameters = new java.util.LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String flag = args[i];
      switch (flag) {
        case "--port" -> port = parsePort(value(args, ++i, flag), flag);
        case "--primary-url" -> primary = value(args, ++i, flag);
        case "--replica-url" -> replica = value(args, ++i, flag);
        case "--redis" -> redis = value(args, ++i, flag);
        case "--etcd" -> etcd = value(args, ++i, flag);
        case "--pool" -> pool = value(args, ++i, flag);
        case "--duration" -> duration = parseDuration(value(args, ++i, flag), flag);
        case "--load" -> {
          if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
            load = parseUri(args[++i], flag);
          } else {
            load = URI.create("http://127.0.0.1:" + port + "/");
          }
        }
        case "--scenario" -> {
          scenario = value(args, ++i, flag);
          if (!scenario.matches("[a-z]{1,20}")) {
            throw new IllegalArgumentException("--scenario needs a scenario name (cache, idempotency, replica, watch, pool), was '"
                + scenario + "'");
          }
          if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
            scenarioTarget = parseUri(args[++i], flag);
          }
        }
        case "--param" -> {
          String pair = value(args, ++i, flag);
          int eq = pair.indexOf('=');
          if (eq < 1 || !pair.substring(0, eq).matches("[A-Za-z]{1,30}")) {
            throw new IllegalArgumentException("--param needs KEY=VALUE, e.g. callers=1000, was '" + pair + "'");
          }
          scenarioParameters.put(pair.substring(0, eq), pair.substring(eq + 1));
        }
        default -> throw new IllegalArgumentException("unknown flag '" + flag + "'");
      }
    }
    if (!pool.equals("process") && !pool.equals("local")) {
      throw new IllegalArgumentException("--pool must be 'process' or 'local', was '" + pool + "'");
    }
    if ((primary == null) != (replica == null)) {
      throw new IllegalArgumentException(
          "--primary-url and --replica-url go together (an external primary needs its replica), got only "
              + (primary == null ? "--replica-url" : "--primary-url"));
    }
    if (!scenarioParameters.isEmpty() && scenario == null) {
      throw new IllegalArgumentException("--param goes with --scenario NAME");
    }
    return new DemoOptions(port, Optional.ofNullable(primary), Optional.ofNullable(replica),
        Optional.ofNullable(redis), Optional.ofNullable(etcd), pool, Optional.ofNullable(load), duration,
        Optional.ofNullable(scenario),
        scenarioTarget != null ? scenarioTarget : URI.create("http://127.0.0.1:" + port + "/"),
        Map.copyOf(scenarioParameters));
  }

  private static String value(String[] args, int index, String flag) {
    if (index >= args.length || args[index].startsWith("--")) {
      throw new IllegalArgumentException(flag + " needs a value");
    }
    return args[index];
  }

  private static int parsePort(@Nullable String text, String name) {
    try {
      int port = Integer.parseInt(String.valueOf(text));
      if (port < 0 || port > 65_535) {
        throw new IllegalArgumentException(name + " must be between 0 and 65535, was " + port);
      }
      return port;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be a port number, was '" + text + "'", e);
    }
  }

  /**
   * Parses a Go-style duration ({@code 500ms}, {@code 60s}, {@code 5m}, {@code 1h30m}) with the one
   * parser the watch servlet and the Consul client use for a blocking query's {@code wait}.
   *
   * @throws IllegalArgumentException naming {@code name} when the text is not of that form or negative
   */
  static Duration parseDuration(String text, String name) {
    try {
      return GoDuration.parseNonNegative(text, name);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          name + " must look like 500ms, 60s, 5m or 1h, was '" + text + "'", e);
    }
  }

  private static URI parseUri(String text, String flag) {
    URI uri;
    try {
      uri = URI.create(text.endsWith("/") ? text : text + "/");
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(flag + " needs an http://host:port URL, was '" + text + "'", e);
    }
    if (!"http".equals(uri.getScheme()) || uri.getHost() == null) {
      throw new IllegalArgumentException(flag + " needs an http://host:port URL, was '" + text + "'");
    }
    return uri;
  }
}
