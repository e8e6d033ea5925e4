package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;

import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.EnumSet;
import java.util.List;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The filter in a real Jetty server on 127.0.0.1. */
class ConsistencyTokenFilterTest {

  static final ConsistencyTokenCodec CODEC =
      ConsistencyTokenCodec.builder().signingKey("k1", ConsistencyTokenCodecTest.SECRET).build();

  final HttpClient client = HttpClient.newHttpClient();
  Server server;
  int port;

  /** POST /write?lsn=X/Y records a write; GET /read answers the position its reads must see. */
  static final class AppServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    @Override
    protected void doPost(HttpServletRequest request, HttpServletResponse response) throws IOException {
      ConsistencyContext.recordWrite(Lsn.parse(request.getParameter("lsn")));
      response.getWriter().print("written");
    }

    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
      response.getWriter().print(String.valueOf(ConsistencyContext.requiredLsn()));
    }
  }

  void start(ConsistencyTokenFilter filter) throws Exception {
    server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost("127.0.0.1");
    connector.setPort(0);
    server.addConnector(connector);
    ServletContextHandler context = new ServletContextHandler();
    context.addFilter(new FilterHolder(filter), "/*", EnumSet.of(DispatcherType.REQUEST));
    context.addServlet(new ServletHolder(new AppServlet()), "/*");
    server.setHandler(context);
    server.start();
    port = connector.getLocalPort();
  }

  @AfterEach
  void stop() throws Exception {
    if (server != null) {
      server.stop();
    }
  }

  HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
    return client.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  HttpRequest.Builder get(String path) {
    return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path));
  }

  @Test
  void aWriteSetsTheSignedTokenInTheHeaderAndTheCookie() throws Exception {
    start(ConsistencyTokenFilter.builder(CODEC).secureCookie(false).build());
    HttpResponse<String> response = send(get("/write?lsn=0/3000A10").POST(HttpRequest.BodyPublishers.noBody()));
    String header = response.headers().firstValue(ConsistencyTokenFilter.DEFAULT_HEADER).orElseThrow();
    assertThat(CODEC.decode(header).lsn()).isEqualTo(Lsn.parse("0/3000A10"));
    List<String> cookies = response.headers().allValues("Set-Cookie");
    assertThat(cookies).anySatisfy(c -> assertThat(c)
        .startsWith(ConsistencyTokenFilter.DEFAULT_COOKIE + "=" + header).contains("HttpOnly").contains("SameSite=Lax"));
  }

  @Test
  void theTokenFromTheHeaderIsWhatTheNextReadMustSee() throws Exception {
    start(ConsistencyTokenFilter.builder(CODEC).build());
    String token = CODEC.encode(ConsistencyToken.of(Lsn.parse("0/3000A10")));
    HttpResponse<String> response = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, token));
    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.body()).isEqualTo("0/3000A10");
    assertThat(send(get("/read")).body()).isEqualTo("null");
  }

  @Test
  void headerAndCookieMergeByKeepingTheGreaterPosition() throws Exception {
    start(ConsistencyTokenFilter.builder(CODEC).build());
    String older = CODEC.encode(ConsistencyToken.of(Lsn.parse("0/100")));
    String newer = CODEC.encode(ConsistencyToken.of(Lsn.parse("0/200")));
    HttpResponse<String> response = send(get("/read")
        .header(ConsistencyTokenFilter.DEFAULT_HEADER, older)
        .header("Cookie", ConsistencyTokenFilter.DEFAULT_COOKIE + "=" + newer));
    assertThat(response.body()).isEqualTo("0/200");
  }

  @Test
  void aWriteOlderThanTheIncomingTokenKeepsTheIncomingPosition() throws Exception {
    start(ConsistencyTokenFilter.builder(CODEC).build());
    String incoming = CODEC.encode(ConsistencyToken.of(Lsn.parse("5/0")));
    HttpResponse<String> response = send(get("/write?lsn=1/0").POST(HttpRequest.BodyPublishers.noBody())
        .header(ConsistencyTokenFilter.DEFAULT_HEADER, incoming));
    assertThat(CODEC.decode(response.headers().firstValue(ConsistencyTokenFilter.DEFAULT_HEADER).orElseThrow()).lsn())
        .isEqualTo(Lsn.parse("5/0"));
  }

  @Test
  void aForgedTokenIsRejectedWith400NamingTheProblem() throws Exception {
    start(ConsistencyTokenFilter.builder(CODEC).build());
    ConsistencyTokenCodec attacker = ConsistencyTokenCodec.builder().signingKey("k1", ConsistencyTokenCodecTest.OTHER).build();
    String forged = attacker.encode(ConsistencyToken.of(Lsn.parse("FFFF/0")));
    HttpResponse<String> response = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, forged));
    assertThat(response.statusCode()).isEqualTo(400);
    assertThat(response.body()).contains("signature does not match");
    HttpResponse<String> malformed = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, "hello"));
    assertThat(malformed.statusCode()).isEqualTo(400);
  }

  @Test
  void invalidTokensCanBeIgnoredInstead() throws Exception {
    start(ConsistencyTokenFilter.builder(CODEC).ignoreInvalidTokens().build());
    HttpResponse<String> response = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, "hello"));
    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.body()).isEqualTo("null");
  }
}
