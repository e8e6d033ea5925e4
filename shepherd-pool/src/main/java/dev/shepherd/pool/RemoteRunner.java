package dev.shepherd.pool;

import java.util.Map;

/** The runner side of the remote protocol (see {@link RemoteBackend}). */
final class RemoteRunner {

  private RemoteRunner() {}

  static int run(Map<String, String> env) {
    throw new UnsupportedOperationException("not yet");
  }
}
