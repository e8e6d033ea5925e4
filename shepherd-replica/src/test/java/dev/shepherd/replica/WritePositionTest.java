package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.testing.PostgresCluster;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.postgresql.core.BaseConnection;
import org.postgresql.core.TransactionState;

/** The write-side position, and the WAL page-boundary trap it avoids. */
class WritePositionTest {

  private static final int PAGE = 8192;
  private static final int SHORT_PAGE_HEADER = 24;

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  static HikariDataSource primary;
  static HikariDataSource replica;

  @BeforeAll
  static void pools() throws Exception {
    primary = pg.primaryDataSource();
    replica = pg.replicaDataSource();
    Pools.execute(primary, "CREATE TABLE notes (id bigint PRIMARY KEY, v text)");
    pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));
  }

  @AfterAll
  static void close() {
    replica.close();
    primary.close();
  }

  private record Positions(Lsn written, Lsn insert) {}

  private static Positions positions(Connection c) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT pg_current_wal_lsn()::text, pg_current_wal_insert_lsn()::text")) {
      rs.next();
      return new Positions(Lsn.parse(rs.getString(1)), Lsn.parse(rs.getString(2)));
    }
  }

  private static boolean pastAPageHeader(Positions p) {
    long written = p.written().value();
    return written % PAGE == 0 && p.insert().bytesSince(p.written()) >= SHORT_PAGE_HEADER;
  }

  @Test
  void twoThousandAutocommitInsertsAreEachSeenOnTheReplicaWithoutAWaitHanging() throws Exception {
    int pastHeader = 0;
    int insertWaitsThatWouldHang = 0;
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).build(); Connection c = primary.getConnection()) {
      c.setAutoCommit(true);
      try (PreparedStatement insert = c.prepareStatement("INSERT INTO notes(id, v) VALUES (?, repeat('x', ?))")) {
        for (int i = 0; i < 2_000; i++) {
          insert.setLong(1, 100_000 + i);
          insert.setInt(2, 1 + (i * 37) % 300); // varied sizes spread record ends over the page
          insert.executeUpdate();
          Positions p = positions(c);
          Lsn lsn = WritePosition.afterCommit(c);
          assertThat(lsn).isEqualTo(p.written());
          ReplayResult result = tracker.awaitReplay(lsn, Duration.ofSeconds(10));
          assertThat(result).as("insert %d at %s", i, lsn).isInstanceOf(ReplayResult.Replayed.class);
          if (pastAPageHeader(p)) {
            pastHeader++;
            // What the insert LSN would have given: everything is replayed, yet the replica is short of it.
            if (tracker.awaitReplay(p.insert(), Duration.ofMillis(50)) instanceof ReplayResult.TimedOut) {
              insertWaitsThatWouldHang++;
            }
          }
        }
      }
    }
    System.out.printf("2,000 inserts: %d left pg_current_wal_insert_lsn() past a page header; "
        + "%d waits for it timed out while pg_current_wal_lsn() waits all returned%n", pastHeader, insertWaitsThatWouldHang);
  }

  @Test
  void aCommitEndingExactlyOnAPageBoundaryIsWaitedForWithoutHanging() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).build(); Connection c = primary.getConnection()) {
      c.setAutoCommit(true);
      // WAL the test does not write (a running-xacts record every 15 s, autovacuum) makes the insert
      // position exist and lets its wait return; only then is the trap set again, on a later page.
      for (int attempt = 1; ; attempt++) {
        Positions trap = forcePageBoundaryCommit(c);
        // The trap: the insert LSN is a page header past the boundary where the last record ended.
        assertThat(trap.insert().bytesSince(trap.written())).isEqualTo(SHORT_PAGE_HEADER);
        Lsn lsn = WritePosition.afterCommit(c);
        assertThat(lsn).isEqualTo(trap.written());
        ReplayResult result = tracker.awaitReplay(lsn, Duration.ofSeconds(10));
        assertThat(result).isInstanceOf(ReplayResult.Replayed.class);
        ReplayResult forInsertLsn = tracker.awaitReplay(trap.insert(), Duration.ofMillis(300));
        if (forInsertLsn instanceof ReplayResult.TimedOut timedOut) {
          // Everything written was replayed, yet the wait for the insert position could not return.
          assertThat(timedOut.lastReplayed()).isNotNull().isGreaterThanOrEqualTo(trap.written()).isLessThan(trap.insert());
          return;
        }
        assertThat(forInsertLsn).isInstanceOf(ReplayResult.Replayed.class);
        assertThat(positions(c).written())
            .as("the wait for pg_current_wal_insert_lsn() %s returned %s with no WAL written past it",
                trap.insert(), forInsertLsn)
            .isGreaterThanOrEqualTo(trap.insert());
        assertThat(attempt).as("unrelated WAL arrived during every wait for the insert position").isLessThan(5);
      }
    }
  }

  /**
   * Emits transactional logical messages sized so that the commit record ends exactly on a WAL page
   * boundary, and returns the positions right after that commit.
   */
  private static Positions forcePageBoundaryCommit(Connection c) throws SQLException {
    long deltaOf8 = -1; // WAL bytes one transaction with an 8-byte message adds, measured
    for (int attempt = 0; attempt < 200; attempt++) {
      Positions before = positions(c);
      long toBoundary = PAGE - before.insert().value() % PAGE;
      long size = deltaOf8 < 0 ? 8 : 8 + toBoundary - deltaOf8;
      if (deltaOf8 >= 0 && size < 8) {
        size = toBoundary + 64; // too close: move past this boundary and try the next page
      }
      emit(c, (int) size);
      Positions after = positions(c);
      if (pastAPageHeader(after) && after.insert().bytesSince(after.written()) == SHORT_PAGE_HEADER) {
        return after;
      }
      boolean samePage = before.insert().value() / PAGE == (after.insert().value() - 1) / PAGE;
      if (samePage && size % 8 == 0 && deltaOf8 < 0) {
        deltaOf8 = after.insert().bytesSince(before.insert()) - size + 8;
      }
    }
    throw new AssertionError("could not make a commit end on a page boundary in 200 attempts");
  }

  private static void emit(Connection c, int size) throws SQLException {
    try (PreparedStatement s = c.prepareStatement("SELECT pg_logical_emit_message(true, 'shepherd', repeat('x', ?))")) {
      s.setInt(1, size);
      s.executeQuery().close();
    }
  }

  @Test
  void refusesInsideAnOpenTransaction() throws Exception {
    try (Connection c = primary.getConnection()) {
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.executeUpdate("INSERT INTO notes(id, v) VALUES (-1, 'open')");
      }
      assertThatThrownBy(() -> WritePosition.afterCommit(c))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("after commit()");
      c.rollback();
    }
  }

  @Test
  void leavesNoTransactionOpenWhenAutocommitIsOff() throws Exception {
    try (Connection c = primary.getConnection()) {
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.executeUpdate("INSERT INTO notes(id, v) VALUES (-2, 'committed')");
      }
      c.commit();
      Lsn lsn = WritePosition.afterCommit(c);
      assertThat(lsn).isGreaterThan(Lsn.ZERO);
      assertThat(c.unwrap(BaseConnection.class).getTransactionState()).isEqualTo(TransactionState.IDLE);
      c.setAutoCommit(true);
    }
  }

  @Test
  void refusesWhenSynchronousCommitIsOff() throws Exception {
    try (Connection c = primary.getConnection()) {
      c.setAutoCommit(true);
      try (Statement s = c.createStatement()) {
        s.execute("SET synchronous_commit = off");
      }
      try {
        assertThatThrownBy(() -> WritePosition.afterCommit(c))
            .isInstanceOf(IllegalStateException.class).hasMessageContaining("synchronous_commit is off");
      } finally {
        try (Statement s = c.createStatement()) {
          s.execute("RESET synchronous_commit");
        }
      }
    }
  }

  @Test
  void refusesOnAStandby() throws Exception {
    try (Connection c = replica.getConnection()) {
      assertThatThrownBy(() -> WritePosition.afterCommit(c))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("standby");
    }
  }

  @Test
  void currentFromADataSourceCoversEarlierCommits() throws Exception {
    Lsn afterWrite = Pools.insert(primary, "notes", 42);
    assertThat(WritePosition.current(primary)).isGreaterThanOrEqualTo(afterWrite);
  }
}
