package dev.shepherd.demo;

/** The HTTP port the service should listen on is taken. */
final class PortInUseException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  PortInUseException(int port, Throwable cause) {
    super("port " + port + " on 127.0.0.1 is already in use; stop what uses it or pick another port with --port N", cause);
  }
}
