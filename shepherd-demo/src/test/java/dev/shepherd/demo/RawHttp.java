package dev.shepherd.demo;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Optional;

/**
 * HTTP/1.1 over a plain socket, for the requests a well-behaved client cannot send: a forged
 * {@code Host} or {@code Origin} (the JDK's client sets {@code Host} itself), a body dripped
 * slowly. One request per connection ({@code Connection: close}); reads time out after 60 s.
 */
final class RawHttp {

  private RawHttp() {}

  /** An answer: its status, its head (status line and headers) and its body. */
  record Answer(int status, String head, String body) {
    /** The first value of header {@code name}, matched without regard to case. */
    Optional<String> header(String name) {
      String prefix = name.toLowerCase(Locale.ROOT) + ":";
      return head.lines().filter(l -> l.toLowerCase(Locale.ROOT).startsWith(prefix))
          .map(l -> l.substring(prefix.length()).strip()).findFirst();
    }

    String text() {
      return head + "\n\n" + body;
    }
  }

  /** Opens a connection to 127.0.0.1:{@code port} with a 60 s read timeout. */
  static Socket connect(int port) throws IOException {
    Socket socket = new Socket(InetAddress.getLoopbackAddress(), port);
    socket.setSoTimeout(60_000);
    return socket;
  }

  /**
   * A request of {@code method path} with {@code headers} (each "Name: value") and
   * {@code body}, {@code Content-Length} and {@code Connection: close} added.
   */
  static String request(String method, String path, String body, String... headers) {
    StringBuilder r = new StringBuilder(method).append(' ').append(path).append(" HTTP/1.1\r\n");
    for (String header : headers) {
      r.append(header).append("\r\n");
    }
    r.append("Content-Length: ").append(body.getBytes(StandardCharsets.UTF_8).length).append("\r\n");
    r.append("Connection: close\r\n\r\n").append(body);
    return r.toString();
  }

  /** Sends {@code request} on a new connection and reads the answer to the end of the connection. */
  static Answer exchange(int port, String request) throws IOException {
    try (Socket socket = connect(port)) {
      OutputStream out = socket.getOutputStream();
      out.write(request.getBytes(StandardCharsets.UTF_8));
      out.flush();
      return read(socket.getInputStream());
    }
  }

  /** Reads an answer to the end of the connection (the server closes it after a Connection: close). */
  static Answer read(InputStream in) throws IOException {
    String all = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    int end = all.indexOf("\r\n\r\n");
    if (end < 0) {
      throw new IOException("no complete answer head in: " + all);
    }
    String head = all.substring(0, end);
    return new Answer(Integer.parseInt(head.split(" ", 3)[1]), head, all.substring(end + 4));
  }
}
