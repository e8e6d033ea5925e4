package dev.shepherd.idempotency;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A TCP proxy in front of PostgreSQL that reads the client's half of the wire protocol and records
 * every round trip: a {@code Sync} (the end of an extended-protocol exchange, after which the
 * client waits for {@code ReadyForQuery}) or a simple {@code Query}. Each round trip is recorded
 * as the SQL texts it executed ({@code Bind} of a parsed statement, named or unnamed), so a test
 * can say exactly how many times the client waited for the server, and for what.
 *
 * <p>The client must connect without SSL ({@code sslmode=disable}): the proxy reads plain
 * protocol messages. Server bytes are copied unread.
 */
final class PgWireCounter implements AutoCloseable {

  private static final int SSL_REQUEST = 80877103;
  private static final int GSS_REQUEST = 80877104;
  private static final int CANCEL_REQUEST = 80877102;

  private final ServerSocket server;
  private final String upstreamHost;
  private final int upstreamPort;
  private final List<List<String>> roundTrips = new CopyOnWriteArrayList<>();
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();

  PgWireCounter(String upstreamHost, int upstreamPort) throws IOException {
    this.upstreamHost = upstreamHost;
    this.upstreamPort = upstreamPort;
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread.ofVirtual().name("pg-wire-counter-accept").start(this::acceptLoop);
  }

  int port() {
    return server.getLocalPort();
  }

  /** A JDBC URL through this proxy, without SSL. */
  String jdbcUrl() {
    return "jdbc:postgresql://127.0.0.1:" + port() + "/postgres?user=postgres&sslmode=disable"
        + "&gssEncMode=disable&connectTimeout=5";
  }

  /** The round trips recorded since the last {@link #reset()}, each as the SQL it executed. */
  List<List<String>> roundTrips() {
    return List.copyOf(roundTrips);
  }

  void reset() {
    roundTrips.clear();
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      Socket client;
      try {
        client = server.accept();
      } catch (IOException e) {
        return; // closed
      }
      try {
        Socket upstream = new Socket(upstreamHost, upstreamPort);
        sockets.add(client);
        sockets.add(upstream);
        Thread.ofVirtual().start(() -> copy(upstream, client));
        Thread.ofVirtual().start(() -> readClient(client, upstream));
      } catch (IOException e) {
        closeQuietly(client);
      }
    }
  }

  private static void copy(Socket from, Socket to) {
    try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
      in.transferTo(out);
    } catch (IOException e) {
      // one side closed
    } finally {
      closeQuietly(from);
      closeQuietly(to);
    }
  }

  private void readClient(Socket client, Socket upstream) {
    Map<String, String> statements = new HashMap<>();
    List<String> current = new ArrayList<>();
    try (DataInputStream in = new DataInputStream(new BufferedInputStream(client.getInputStream()));
        OutputStream out = new BufferedOutputStream(upstream.getOutputStream())) {
      // Untyped start-up packets: SSL/GSS requests (answered by one byte), then the start-up
      // message; a cancel request is the only packet of its connection.
      while (true) {
        int length = in.readInt();
        byte[] body = in.readNBytes(length - 4);
        writeInt(out, length);
        out.write(body);
        out.flush();
        int code = ((body[0] & 0xff) << 24) | ((body[1] & 0xff) << 16) | ((body[2] & 0xff) << 8)
            | (body[3] & 0xff);
        if (code == CANCEL_REQUEST) {
          return;
        }
        if (code != SSL_REQUEST && code != GSS_REQUEST) {
          break;
        }
      }
      while (true) {
        int type = in.read();
        if (type < 0) {
          return;
        }
        int length = in.readInt();
        byte[] body = in.readNBytes(length - 4);
        if (body.length != length - 4) {
          throw new EOFException();
        }
        switch (type) {
          case 'P' -> {
            int nameEnd = indexOfZero(body, 0);
            String name = new String(body, 0, nameEnd, StandardCharsets.UTF_8);
            int queryEnd = indexOfZero(body, nameEnd + 1);
            statements.put(name,
                new String(body, nameEnd + 1, queryEnd - nameEnd - 1, StandardCharsets.UTF_8));
          }
          case 'B' -> {
            int portalEnd = indexOfZero(body, 0);
            int nameEnd = indexOfZero(body, portalEnd + 1);
            String name = new String(body, portalEnd + 1, nameEnd - portalEnd - 1,
                StandardCharsets.UTF_8);
            current.add(statements.getOrDefault(name, "?unknown statement " + name));
          }
          case 'Q' -> roundTrips.add(
              List.of(new String(body, 0, indexOfZero(body, 0), StandardCharsets.UTF_8)));
          case 'S' -> {
            roundTrips.add(List.copyOf(current));
            current.clear();
          }
          default -> { }
        }
        out.write(type);
        writeInt(out, length);
        out.write(body);
        if (in.available() == 0) {
          out.flush(); // nothing more of this burst has arrived: let the server have it
        }
      }
    } catch (IOException e) {
      // one side closed
    } finally {
      closeQuietly(client);
      closeQuietly(upstream);
    }
  }

  private static int indexOfZero(byte[] body, int from) {
    for (int i = from; i < body.length; i++) {
      if (body[i] == 0) {
        return i;
      }
    }
    throw new IllegalStateException("malformed message: no terminating zero byte");
  }

  private static void writeInt(OutputStream out, int value) throws IOException {
    out.write(value >>> 24);
    out.write(value >>> 16);
    out.write(value >>> 8);
    out.write(value);
  }

  private static void closeQuietly(Socket socket) {
    try {
      socket.close();
    } catch (IOException e) {
      // closing anyway
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    for (Socket socket : sockets) {
      closeQuietly(socket);
    }
  }
}
