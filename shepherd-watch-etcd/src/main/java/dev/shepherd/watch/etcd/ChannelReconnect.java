package dev.shepherd.watch.etcd;

import io.etcd.jetcd.Client;
import io.grpc.ManagedChannel;
import java.lang.reflect.Field;

/**
 * Asks jetcd's gRPC channel to reconnect now instead of at the end of gRPC's own reconnect
 * backoff.
 *
 * <p>Why: after a connection failure, grpc-java retries the connection 1 s later, then 1.6 times
 * longer each time with jitter, up to 2 minutes, and jetcd offers no option to change that nor
 * access to the channel. After a 30-second outage the next attempt is typically 10 to 20 s after
 * etcd is back, and every watch waits for it. {@link ManagedChannel#resetConnectBackoff()} is
 * gRPC's public way to cut that wait short; the channel itself sits in a private field of jetcd's
 * {@code ClientConnectionManager}, reached here by reflection (jetcd's packages are open: it is
 * an automatic module or on the class path). When it cannot be reached (another jetcd version, a
 * {@link Client} that is not jetcd's own), {@link #of(Client)} returns a no-op and logs once, and
 * recovery falls back to gRPC's schedule.
 */
final class ChannelReconnect implements Runnable {

  private static final System.Logger LOG = System.getLogger(ChannelReconnect.class.getName());

  private final Object connectionManager;
  private final Field channelField;

  private ChannelReconnect(Object connectionManager, Field channelField) {
    this.connectionManager = connectionManager;
    this.channelField = channelField;
  }

  /** Returns a task that resets the client's connect backoff, or a no-op if it cannot. */
  static Runnable of(Client client) {
    try {
      Field managerField = client.getClass().getDeclaredField("connectionManager");
      managerField.setAccessible(true);
      Object manager = managerField.get(client);
      Field channelField = manager.getClass().getDeclaredField("managedChannel");
      channelField.setAccessible(true);
      if (!ManagedChannel.class.isAssignableFrom(channelField.getType())) {
        throw new NoSuchFieldException("managedChannel is a " + channelField.getType());
      }
      return new ChannelReconnect(manager, channelField);
    } catch (ReflectiveOperationException | RuntimeException e) {
      LOG.log(System.Logger.Level.INFO, "cannot reach the gRPC channel of " + client.getClass()
          + " (" + e + "); after an outage, watches reconnect on gRPC's own backoff (up to 2 min)");
      return () -> {};
    }
  }

  @Override
  public void run() {
    try {
      Object channel = channelField.get(connectionManager); // created lazily by jetcd
      if (channel instanceof ManagedChannel managed && !managed.isShutdown()) {
        managed.resetConnectBackoff();
      }
    } catch (IllegalAccessException | RuntimeException e) {
      LOG.log(System.Logger.Level.DEBUG, "resetting jetcd's connect backoff failed", e);
    }
  }
}
