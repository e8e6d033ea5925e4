package dev.shepherd.cache.redis;

import dev.shepherd.core.ShepherdException;

/**
 * The failure of a load that ran in another JVM, as that JVM shared it: the class name and message
 * of the loader's error (its stack and cause chain stay in the JVM that ran it). It is the cause of
 * the {@link dev.shepherd.cache.LoadFailedException} each waiter gets; its own stack trace is empty.
 */
public final class RemoteLoadException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  /** The class name of the loader's error in the JVM that ran the load. */
  private final String remoteClass;

  /** The loader's error message, empty if none. */
  private final String remoteMessage;

  RemoteLoadException(String remoteClass, String remoteMessage) {
    super(remoteClass + (remoteMessage.isEmpty() ? "" : ": " + remoteMessage), null, false);
    this.remoteClass = remoteClass;
    this.remoteMessage = remoteMessage;
  }

  /**
   * Returns the class name of the loader's error in the JVM that ran the load.
   *
   * @return the class name, e.g. {@code java.io.IOException}
   */
  public String remoteClass() {
    return remoteClass;
  }

  /**
   * Returns the message of the loader's error, empty if it had none (cut at 1,000 characters).
   *
   * @return the message
   */
  public String remoteMessage() {
    return remoteMessage;
  }
}
