package dev.shepherd.spring.boot.autoconfigure.watch;

import dev.shepherd.watch.etcd.EtcdWatchSource;
import io.etcd.jetcd.Client;
import java.util.List;

/** The etcd source; loaded only when shepherd-watch-etcd is on the class path. */
final class EtcdSources {

  private EtcdSources() {}

  /** Opens a jetcd client and a source over it; closing closes the source, then the client. */
  static ShepherdWatches.Opened open(ShepherdWatchProperties.Etcd etcd) {
    Client client = Client.builder().endpoints(etcd.endpoints().toArray(String[]::new)).build();
    try {
      EtcdWatchSource<String> source = EtcdWatchSource.builder(client).requestTimeout(etcd.requestTimeout()).build();
      return new ShepherdWatches.Opened(source, List.of(source, client));
    } catch (RuntimeException e) {
      client.close();
      throw e;
    }
  }
}
