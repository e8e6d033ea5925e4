package dev.shepherd.spring.boot.autoconfigure.replica;

import dev.shepherd.replica.ReplicaTracker;
import java.util.ArrayList;
import java.util.List;
import org.springframework.beans.factory.DisposableBean;

/**
 * The replicas the application reads from: a {@link ReplicaTracker} per replica configured under
 * {@code shepherd.replica.replicas}, plus any {@code ReplicaTracker} bean of the application. On
 * shutdown it closes the trackers and the connection pools it created (not the application's).
 */
public final class ShepherdReplicas implements DisposableBean {

  private final List<ReplicaTracker> trackers;
  private final List<AutoCloseable> owned;

  /**
   * Creates the holder.
   *
   * @param trackers every replica's tracker
   * @param owned what this holder closes on shutdown, in order (trackers before their pools)
   */
  public ShepherdReplicas(List<ReplicaTracker> trackers, List<? extends AutoCloseable> owned) {
    this.trackers = List.copyOf(trackers);
    this.owned = List.copyOf(owned);
  }

  /**
   * Returns every replica's tracker.
   *
   * @return the trackers, in configuration order
   */
  public List<ReplicaTracker> trackers() {
    return trackers;
  }

  /**
   * Closes the trackers and pools this holder created.
   *
   * @throws Exception the first failure, with the others suppressed, after closing everything
   */
  @Override
  public void destroy() throws Exception {
    List<Exception> failures = new ArrayList<>();
    for (AutoCloseable closeable : owned) {
      try {
        closeable.close();
      } catch (Exception e) {
        failures.add(e);
      }
    }
    if (!failures.isEmpty()) {
      Exception first = failures.get(0);
      failures.subList(1, failures.size()).forEach(first::addSuppressed);
      throw first;
    }
  }
}
