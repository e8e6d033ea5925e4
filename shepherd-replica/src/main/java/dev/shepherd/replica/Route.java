package dev.shepherd.replica;

import java.time.Duration;
import java.util.List;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * Where {@link ReplicaRouter} sends one read, and why: to a replica that has replayed the required
 * position, or to the primary with the reason it fell back.
 */
public sealed interface Route {

  /**
   * Returns the data source to read from.
   *
   * @return the replica's or the primary's data source
   */
  DataSource dataSource();

  /**
   * Returns the position the read had to see, or null if none was required.
   *
   * @return the required LSN
   */
  @Nullable Lsn required();

  /**
   * Returns how long routing waited for a replica.
   *
   * @return the wait, zero when answered from caches
   */
  Duration waited();

  /**
   * The read goes to a replica that has replayed the required position.
   *
   * @param dataSource the replica's data source
   * @param replica the replica's tracker
   * @param required the required position, or null
   * @param replayed the replica's replay position when chosen, or null if unknown (no position required)
   * @param waited how long routing waited
   */
  record ToReplica(DataSource dataSource, ReplicaTracker replica, @Nullable Lsn required,
      @Nullable Lsn replayed, Duration waited) implements Route {}

  /**
   * The read goes to the primary.
   *
   * @param dataSource the primary's data source
   * @param reason why no replica served it
   * @param detail the reason in words, naming the replicas and what they answered
   * @param required the required position, or null
   * @param replicaResults what each replica's wait returned (empty when none was asked)
   * @param waited how long routing waited before falling back
   */
  record ToPrimary(DataSource dataSource, FallbackReason reason, String detail, @Nullable Lsn required,
      List<ReplayResult> replicaResults, Duration waited) implements Route {

    /**
     * Copies the results list.
     *
     * @param dataSource the primary's data source
     * @param reason why no replica served it
     * @param detail the reason in words
     * @param required the required position, or null
     * @param replicaResults what each replica's wait returned
     * @param waited how long routing waited
     */
    public ToPrimary {
      replicaResults = List.copyOf(replicaResults);
    }
  }

  /** Why a read went to the primary. */
  enum FallbackReason {
    /** The router has no replica. */
    NO_REPLICAS,
    /** No replica replayed the required position within the router's maximum wait. */
    TIMED_OUT,
    /** Every replica was unavailable (or failed to hand out a connection). */
    REPLICA_UNAVAILABLE,
    /** Every replica that answered was promoted. */
    PROMOTED,
    /** Every replica that answered is not replicating. */
    NOT_REPLICATING,
    /** Every replica that answered replays another cluster or timeline than the token's position. */
    OTHER_HISTORY
  }
}
