package dev.shepherd.testing;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.IntFunction;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;

/**
 * A real PostgreSQL primary and, unless made with {@link #primaryOnly()}, one streaming replica, on
 * free ports of 127.0.0.1 in a temporary directory.
 *
 * <p>The binaries come from the newest {@code /usr/lib/postgresql/<version>/bin} (Debian package
 * {@code postgresql}). The primary is made with {@code initdb} (trust authentication, user
 * {@code postgres}); the replica with {@code pg_basebackup -R -X stream}, so it streams WAL from the
 * primary and is a hot standby. When the JVM runs as root, every PostgreSQL command runs as the
 * {@code postgres} OS user through {@code runuser}, since PostgreSQL refuses to run as root.
 * {@code fsync} is off: the fixture is for tests, and a crash of the machine loses nothing worth
 * keeping.
 *
 * <pre>{@code
 * @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();
 * try (Connection c = DriverManager.getConnection(pg.primaryJdbcUrl())) { ... }
 * }</pre>
 *
 * <p>Pooled data sources with test defaults: {@link #primaryDataSource()},
 * {@link #replicaDataSource()} (HikariCP; the caller closes them).
 *
 * <p>Fault controls for tests: {@link #stopReplica()}, {@link #startReplica()},
 * {@link #pauseReplay()}, {@link #resumeReplay()}, {@link #promoteReplica()},
 * {@link #rebuildReplica()}, {@link #stopPrimary()}, {@link #startPrimary()}. Thread-safe.
 */
public final class PostgresCluster extends ServerFixture {

  private static final String USER = "postgres";
  private static final Duration DEFAULT_CONNECTION_TIMEOUT = Duration.ofSeconds(10);

  private final Path binDirectory;
  private final boolean withReplica;
  private final Optional<String> osUser;
  private @Nullable Path base;
  private int primaryPort;
  private int replicaPort;
  private final List<Path> standbys = new ArrayList<>();

  private PostgresCluster(Path binDirectory, boolean withReplica) {
    this.binDirectory = binDirectory;
    this.withReplica = withReplica;
    this.osUser = ServerSupport.isRoot() ? Optional.of(USER) : Optional.empty();
  }

  /**
   * Returns a fixture for a primary and one streaming replica, not yet started.
   *
   * @return the fixture
   * @throws IllegalStateException if PostgreSQL is not installed; the message says how to install it
   */
  public static PostgresCluster create() {
    return new PostgresCluster(findBinaries(), true);
  }

  /**
   * Returns a fixture for a primary alone (faster to start), not yet started.
   *
   * @return the fixture
   * @throws IllegalStateException if PostgreSQL is not installed; the message says how to install it
   */
  public static PostgresCluster primaryOnly() {
    return new PostgresCluster(findBinaries(), false);
  }

  private static Path findBinaries() {
    Path root = Path.of("/usr/lib/postgresql");
    if (Files.isDirectory(root)) {
      try (Stream<Path> versions = Files.list(root)) {
        Optional<Path> newest = versions
            .filter(v -> v.getFileName().toString().matches("\\d+(\\.\\d+)?"))
            .filter(v -> Files.isExecutable(v.resolve("bin/initdb")))
            .max(Comparator.comparingDouble(v -> Double.parseDouble(v.getFileName().toString())));
        if (newest.isPresent()) {
          return newest.get().resolve("bin");
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot list " + root, e);
      }
    }
    throw new IllegalStateException(ServerSupport.missing("PostgreSQL (initdb under /usr/lib/postgresql/*/bin)", "postgresql"));
  }

  /**
   * Returns the PostgreSQL major version of the binaries, for example 15.
   *
   * @return the major version
   */
  public int majorVersion() {
    Path version = binDirectory.getParent();
    if (version == null || version.getFileName() == null) {
      throw new IllegalStateException("cannot read the major version from " + binDirectory);
    }
    return (int) Double.parseDouble(version.getFileName().toString());
  }

  /**
   * Returns the database user, {@code postgres} (trust authentication, no password).
   *
   * @return the user name
   */
  public String user() {
    return USER;
  }

  /**
   * Returns the primary's port on 127.0.0.1.
   *
   * @return the port
   */
  public synchronized int primaryPort() {
    return primaryPort;
  }

  /**
   * Returns the replica's port on 127.0.0.1.
   *
   * @return the port
   * @throws IllegalStateException if the fixture has no replica
   */
  public synchronized int replicaPort() {
    requireReplica();
    return replicaPort;
  }

  /**
   * Returns the JDBC URL of the primary's {@code postgres} database.
   *
   * @return {@code jdbc:postgresql://127.0.0.1:<port>/postgres?user=postgres}
   */
  public String primaryJdbcUrl() {
    return jdbcUrl(primaryPort());
  }

  /**
   * Returns the JDBC URL of the replica's {@code postgres} database.
   *
   * @return {@code jdbc:postgresql://127.0.0.1:<port>/postgres?user=postgres}
   * @throws IllegalStateException if the fixture has no replica
   */
  public String replicaJdbcUrl() {
    return jdbcUrl(replicaPort());
  }

  private static String jdbcUrl(int port) {
    return "jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=" + USER + "&connectTimeout=5";
  }

  /**
   * Opens a new connection to the primary.
   *
   * @return a connection the caller closes
   * @throws SQLException if the primary does not answer
   */
  public Connection primaryConnection() throws SQLException {
    return DriverManager.getConnection(primaryJdbcUrl());
  }

  /**
   * Opens a new connection to the replica.
   *
   * @return a connection the caller closes
   * @throws SQLException if the replica does not answer
   */
  public Connection replicaConnection() throws SQLException {
    return DriverManager.getConnection(replicaJdbcUrl());
  }

  /**
   * Returns a new HikariCP pool of connections to the primary, with defaults fit for tests on a
   * loaded machine: at most 8 connections, 1 kept idle, a 10 s connection timeout, and up to 30 s
   * for the first connection. The caller closes it.
   *
   * @return the pool, named {@code primary}
   * @throws IllegalStateException if the fixture is not started
   */
  public HikariDataSource primaryDataSource() {
    return primaryDataSource(DEFAULT_CONNECTION_TIMEOUT);
  }

  /**
   * Returns a new HikariCP pool of connections to the primary, as {@link #primaryDataSource()} but
   * with its own connection timeout.
   *
   * @param connectionTimeout how long {@code getConnection()} waits at most (HikariCP's minimum is
   *     250 ms); it decides how fast a server that refuses connections is noticed
   * @return the pool, named {@code primary}
   * @throws IllegalStateException if the fixture is not started
   * @throws IllegalArgumentException if {@code connectionTimeout} is below 250 ms
   */
  public HikariDataSource primaryDataSource(Duration connectionTimeout) {
    return pool(primaryJdbcUrl(), "primary", connectionTimeout);
  }

  /**
   * Returns a new HikariCP pool whose connections go through {@code proxy} (made with {@code
   * FaultProxy.to(cluster.primaryPort())}), so a test can make the primary's network fail under a
   * pool that is already in use. Defaults as {@link #primaryDataSource()}; the caller closes it.
   *
   * @param proxy a proxy in front of the primary
   * @param connectionTimeout how long {@code getConnection()} waits at most (at least 250 ms)
   * @return the pool, named {@code primary-via-proxy}
   * @throws IllegalStateException if the fixture is not started
   * @throws IllegalArgumentException if {@code connectionTimeout} is below 250 ms
   */
  public HikariDataSource primaryDataSource(FaultProxy proxy, Duration connectionTimeout) {
    return pool(jdbcUrl(proxy.port()), "primary-via-proxy", connectionTimeout);
  }

  /**
   * Returns a new HikariCP pool of connections to the replica, with the defaults of
   * {@link #primaryDataSource()}. The caller closes it.
   *
   * @return the pool, named {@code replica}
   * @throws IllegalStateException if the fixture is not started or has no replica
   */
  public HikariDataSource replicaDataSource() {
    return replicaDataSource(DEFAULT_CONNECTION_TIMEOUT);
  }

  /**
   * Returns a new HikariCP pool whose connections go through {@code proxy} (made with {@code
   * FaultProxy.to(cluster.replicaPort())}), so a test can make the replica's network fail under a
   * pool that is already in use. Defaults as {@link #primaryDataSource()}; the caller closes it.
   *
   * @param proxy a proxy in front of the replica
   * @param connectionTimeout how long {@code getConnection()} waits at most (at least 250 ms)
   * @return the pool, named {@code replica-via-proxy}
   * @throws IllegalStateException if the fixture is not started
   * @throws IllegalArgumentException if {@code connectionTimeout} is below 250 ms
   */
  public HikariDataSource replicaDataSource(FaultProxy proxy, Duration connectionTimeout) {
    return pool(jdbcUrl(proxy.port()), "replica-via-proxy", connectionTimeout);
  }

  /**
   * Returns a new HikariCP pool of connections to the replica with its own connection timeout; a
   * short one (250 ms) makes a stopped replica show up fast in tests of its failure.
   *
   * @param connectionTimeout how long {@code getConnection()} waits at most (at least 250 ms)
   * @return the pool, named {@code replica}
   * @throws IllegalStateException if the fixture is not started or has no replica
   * @throws IllegalArgumentException if {@code connectionTimeout} is below 250 ms
   */
  public HikariDataSource replicaDataSource(Duration connectionTimeout) {
    return pool(replicaJdbcUrl(), "replica", connectionTimeout);
  }

  private static HikariDataSource pool(String jdbcUrl, String name, Duration connectionTimeout) {
    if (connectionTimeout.compareTo(Duration.ofMillis(250)) < 0) {
      throw new IllegalArgumentException("connectionTimeout must be at least 250 ms (HikariCP's minimum), was "
          + connectionTimeout);
    }
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(jdbcUrl);
    config.setPoolName(name);
    config.setMaximumPoolSize(8);
    config.setMinimumIdle(1);
    config.setConnectionTimeout(connectionTimeout.toMillis());
    config.setInitializationFailTimeout(Duration.ofSeconds(30).toMillis());
    return new HikariDataSource(config);
  }

  /**
   * Returns the temporary directory that holds both data directories and their logs.
   *
   * @return the directory, deleted on close
   * @throws IllegalStateException if not started
   */
  public synchronized Path baseDirectory() {
    if (base == null) {
      throw new IllegalStateException("PostgresCluster is not started");
    }
    return base;
  }

  /** Stops the replica (fast shutdown); connections to it fail until {@link #startReplica()}. */
  public synchronized void stopReplica() {
    requireReplica();
    pgCtlStop(replicaDirectory());
  }

  /** Starts the replica again after {@link #stopReplica()} and waits until it streams. */
  public synchronized void startReplica() {
    requireReplica();
    pgCtlStart(replicaDirectory(), "replica");
    awaitStreaming();
  }

  /** Stops the primary (fast shutdown), for tests of a database going down mid-request. */
  public synchronized void stopPrimary() {
    pgCtlStop(primaryDirectory());
  }

  /** Starts the primary again after {@link #stopPrimary()}. */
  public synchronized void startPrimary() {
    pgCtlStart(primaryDirectory(), "primary");
  }

  /** Pauses WAL replay on the replica ({@code pg_wal_replay_pause()}): writes stop showing up there. */
  public void pauseReplay() {
    requireReplica();
    executeOnReplica("SELECT pg_wal_replay_pause()");
  }

  /** Resumes WAL replay on the replica ({@code pg_wal_replay_resume()}). */
  public void resumeReplay() {
    requireReplica();
    executeOnReplica("SELECT pg_wal_replay_resume()");
  }

  /**
   * Promotes the replica to a primary ({@code pg_promote(true, 60)}); it leaves recovery and stops
   * streaming. Use {@link #rebuildReplica()} to get a streaming replica back.
   */
  public void promoteReplica() {
    requireReplica();
    executeOnReplica("SELECT pg_promote(true, 60)");
  }

  /** Throws the replica away and makes a new one from the primary with {@code pg_basebackup}. */
  public synchronized void rebuildReplica() {
    requireReplica();
    pgCtlStop(replicaDirectory());
    ServerSupport.deleteRecursively(replicaDirectory());
    makeReplica(replicaPort); // the same port: callers keep the replica's URL
  }

  /**
   * Makes one more streaming standby with {@code pg_basebackup -R} from the server on
   * {@code upstreamPort} (the primary, the replica, or the replica after {@link #promoteReplica()}:
   * a standby of the new timeline), starts it on a free port and waits until it streams. It is
   * stopped and deleted with the fixture. For tests of several standbys on different histories.
   *
   * @param upstreamPort the port of the server to copy and stream from
   * @return the new standby's port on 127.0.0.1 (user {@code postgres}, database {@code postgres})
   * @throws IllegalStateException if it cannot be made or does not stream within 60 s
   */
  public synchronized int addStandby(int upstreamPort) {
    Path standby = baseDirectory().resolve("standby-" + (standbys.size() + 1));
    asPostgres(List.of(bin("pg_basebackup"), "-h", "127.0.0.1", "-p", Integer.toString(upstreamPort),
        "-U", USER, "-D", standby.toString(), "-R", "-X", "stream", "-c", "fast", "--no-sync"),
        Duration.ofMinutes(2));
    standbys.add(standby);
    int port = startOnFreePort(standby, standby.getFileName().toString(), free -> "port = %d%n".formatted(free));
    ServerSupport.await("standby on port " + port + " to stream from port " + upstreamPort, Duration.ofSeconds(60), () -> {
      try (Connection c = DriverManager.getConnection(jdbcUrl(port)); Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")) {
        return rs.next() && rs.getInt(1) > 0;
      } catch (SQLException e) {
        return false;
      }
    });
    return port;
  }

  /**
   * Returns the JDBC URL of the {@code postgres} database of a server of this fixture on {@code port}
   * (one made by {@link #addStandby(int)}).
   *
   * @param port the server's port
   * @return {@code jdbc:postgresql://127.0.0.1:<port>/postgres?user=postgres}
   */
  public String jdbcUrlOf(int port) {
    return jdbcUrl(port);
  }

  /**
   * Waits until the replica has replayed everything the primary had written when called.
   *
   * @param timeout how long to wait at most
   * @throws IllegalStateException if it has not caught up in time
   */
  public void awaitReplicaCaughtUp(Duration timeout) {
    requireReplica();
    String target = queryPrimary("SELECT pg_current_wal_lsn()::text");
    ServerSupport.await("replica replay of " + target, timeout, () -> {
      try (Connection c = replicaConnection(); Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("SELECT pg_last_wal_replay_lsn() >= '" + target + "'::pg_lsn")) {
        return rs.next() && rs.getBoolean(1);
      } catch (SQLException e) {
        return false;
      }
    });
  }

  @Override
  protected synchronized void doStart() {
    base = ServerSupport.tempDirectory("shepherd-pg-", osUser);
    Path primary = primaryDirectory();
    asPostgres(List.of(bin("initdb"), "-D", primary.toString(), "-U", USER, "-A", "trust",
        "-E", "UTF8", "--locale=C", "--no-sync"), Duration.ofMinutes(2));
    primaryPort = startOnFreePort(primary, "primary", port -> """
        listen_addresses = '127.0.0.1'
        port = %d
        unix_socket_directories = '%s'
        fsync = off
        wal_level = replica
        max_wal_senders = 10
        max_replication_slots = 10
        wal_keep_size = '512MB'
        hot_standby = on
        max_connections = 300
        shared_buffers = '64MB'
        wal_receiver_status_interval = '1s'
        """.formatted(port, baseDirectory()));
    if (withReplica) {
      makeReplica(0);
    }
  }

  /** Makes the replica from the primary, on {@code port}, or on a free port if it is 0. */
  private void makeReplica(int port) {
    Path replica = replicaDirectory();
    asPostgres(List.of(bin("pg_basebackup"), "-h", "127.0.0.1", "-p", Integer.toString(primaryPort),
        "-U", USER, "-D", replica.toString(), "-R", "-X", "stream", "-c", "fast", "--no-sync"),
        Duration.ofMinutes(2));
    if (port == 0) {
      replicaPort = startOnFreePort(replica, "replica", free -> "port = %d%n".formatted(free));
    } else {
      appendConfig(replica, "port = %d%n".formatted(port));
      pgCtlStart(replica, "replica");
    }
    awaitStreaming();
  }

  private void awaitStreaming() {
    ServerSupport.await("the replica to stream from the primary", Duration.ofSeconds(60), () -> {
      try {
        return Integer.parseInt(queryPrimary(
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")) > 0;
      } catch (IllegalStateException e) {
        return false;
      }
    });
  }

  @Override
  protected synchronized void doClose() {
    if (base == null) {
      return;
    }
    RuntimeException failure = null;
    List<Path> directories = new ArrayList<>(standbys);
    standbys.clear();
    directories.addAll(List.of(replicaDirectory(), primaryDirectory()));
    for (Path directory : directories) {
      try {
        pgCtlStop(directory);
      } catch (RuntimeException e) {
        failure = e;
      }
    }
    ServerSupport.deleteRecursively(base);
    base = null;
    if (failure != null) {
      throw failure;
    }
  }

  private Path primaryDirectory() {
    return baseDirectory().resolve("primary");
  }

  private Path replicaDirectory() {
    return baseDirectory().resolve("replica");
  }

  private void requireReplica() {
    if (!withReplica) {
      throw new IllegalStateException("this PostgresCluster was made with primaryOnly() and has no replica");
    }
  }

  private String bin(String name) {
    return binDirectory.resolve(name).toString();
  }

  /**
   * Starts the server of {@code dataDirectory} on a free port, with the configuration lines
   * {@code config} makes for that port, and returns the port. A port is only free when chosen: any
   * process, or an outgoing connection's ephemeral port, may take it before the server binds it, so
   * a failed start tries a new port, three times in all (the later {@code port =} line wins).
   */
  private int startOnFreePort(Path dataDirectory, String role, IntFunction<String> config) {
    IllegalStateException last = null;
    for (int attempt = 0; attempt < 3; attempt++) {
      int port = ServerSupport.freePort();
      appendConfig(dataDirectory, config.apply(port));
      try {
        pgCtlStart(dataDirectory, role);
        return port;
      } catch (IllegalStateException e) {
        last = e;
      }
    }
    throw Objects.requireNonNull(last);
  }

  private void pgCtlStart(Path dataDirectory, String role) {
    Path log = baseDirectory().resolve(role + ".log");
    try {
      asPostgres(List.of(bin("pg_ctl"), "-D", dataDirectory.toString(), "-l", log.toString(),
          "-w", "-t", "60", "start"), Duration.ofSeconds(90));
    } catch (IllegalStateException e) {
      throw new IllegalStateException("PostgreSQL " + role + " did not start: " + e.getMessage()
          + "\nserver log:\n" + ServerSupport.tail(log), e);
    }
  }

  private void pgCtlStop(Path dataDirectory) {
    if (!Files.exists(dataDirectory.resolve("postmaster.pid"))) {
      return; // not running (or never made)
    }
    asPostgres(List.of(bin("pg_ctl"), "-D", dataDirectory.toString(), "-m", "fast", "-w", "-t", "60", "stop"),
        Duration.ofSeconds(90));
  }

  private void appendConfig(Path dataDirectory, String lines) {
    try {
      Files.writeString(dataDirectory.resolve("postgresql.conf"), "\n" + lines,
          StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the configuration of " + dataDirectory, e);
    }
  }

  private void asPostgres(List<String> command, Duration timeout) {
    List<String> full = new ArrayList<>();
    if (osUser.isPresent()) {
      full.addAll(List.of("runuser", "-u", osUser.get(), "--"));
    }
    full.addAll(command);
    ServerSupport.run(full, timeout);
  }

  private void executeOnReplica(String sql) {
    try (Connection c = replicaConnection(); Statement s = c.createStatement()) {
      s.execute(sql);
    } catch (SQLException e) {
      throw new IllegalStateException("replica on port " + replicaPort() + " failed `" + sql + "`: " + e.getMessage(), e);
    }
  }

  private String queryPrimary(String sql) {
    try (Connection c = primaryConnection(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getString(1);
    } catch (SQLException e) {
      throw new IllegalStateException("primary on port " + primaryPort() + " failed `" + sql + "`: " + e.getMessage(), e);
    }
  }
}
