package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shepherd.testing.LogCapture;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.Cookie;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.EnumSet;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
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
      if (request.getParameter("appCookie") != null) {
        response.addCookie(new Cookie("app", request.getParameter("appCookie")));
      }
      for (String lsn : request.getParameterValues("lsn")) {
        ConsistencyContext.recordWrite(Lsn.parse(lsn));
      }
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
    ConsistencyTokenFilter filter = ConsistencyTokenFilter.builder(CODEC).build();
    start(filter);
    ConsistencyTokenCodec attacker = ConsistencyTokenCodec.builder().signingKey("k1", ConsistencyTokenCodecTest.OTHER).build();
    String forged = attacker.encode(ConsistencyToken.of(Lsn.parse("FFFF/0")));
    HttpResponse<String> response = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, forged));
    assertThat(response.statusCode()).isEqualTo(400);
    assertThat(response.headers().firstValue("Content-Type").orElseThrow()).startsWith("application/problem+json");
    assertThat(response.body())
        .startsWith("{\"type\":\"about:blank\",\"title\":\"Invalid consistency token\",\"status\":400,\"detail\":\"")
        .contains("signature does not match").endsWith("\"}");
    HttpResponse<String> malformed = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, "hello\"\\"));
    assertThat(malformed.statusCode()).isEqualTo(400);
    assertThat(malformed.body()).contains("\\\"hello??\\\"");
    assertThat(filter.stats().invalidHeaders()).isEqualTo(2);
  }

  @Test
  void anInvalidCookieIsClearedAndIgnoredInsteadOfLockingTheClientOut() throws Exception {
    ConsistencyTokenFilter filter = ConsistencyTokenFilter.builder(CODEC).secureCookie(false).build();
    start(filter);
    ConsistencyTokenCodec attacker = ConsistencyTokenCodec.builder().signingKey("k1", ConsistencyTokenCodecTest.OTHER).build();
    ConsistencyTokenCodec retired = ConsistencyTokenCodec.builder().signingKey("k0", ConsistencyTokenCodecTest.OTHER).build();
    for (String bad : List.of(attacker.encode(ConsistencyToken.of(Lsn.parse("FFFF/0"))),
        retired.encode(ConsistencyToken.of(Lsn.parse("1/0"))), "garbage")) {
      HttpResponse<String> response = send(get("/read").header("Cookie", ConsistencyTokenFilter.DEFAULT_COOKIE + "=" + bad));
      assertThat(response.statusCode()).isEqualTo(200);
      assertThat(response.body()).isEqualTo("null");
      assertThat(response.headers().allValues("Set-Cookie"))
          .containsExactly(ConsistencyTokenFilter.DEFAULT_COOKIE + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
    }
    assertThat(filter.stats().invalidCookies()).isEqualTo(3);
    assertThat(filter.stats().accepted()).isZero();
  }

  @Test
  void aHeaderTokenOfAKeyRotatedOutIsIgnoredLikeAnExpiredOneRatherThanAnswered400() throws Exception {
    ConsistencyTokenFilter filter = ConsistencyTokenFilter.builder(CODEC).secureCookie(false).build();
    start(filter);
    ConsistencyTokenCodec retired = ConsistencyTokenCodec.builder().signingKey("k0", ConsistencyTokenCodecTest.OTHER).build();
    String stale = retired.encode(ConsistencyToken.of(Lsn.parse("FFFF/0")));
    HttpResponse<String> alone = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, stale));
    assertThat(alone.statusCode()).isEqualTo(200);
    assertThat(alone.body()).isEqualTo("null");
    assertThat(alone.headers().allValues("Set-Cookie")).isEmpty();
    String fresh = CODEC.encode(ConsistencyToken.of(Lsn.parse("0/80")));
    HttpResponse<String> withCookie = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, stale)
        .header("Cookie", ConsistencyTokenFilter.DEFAULT_COOKIE + "=" + fresh));
    assertThat(withCookie.statusCode()).isEqualTo(200);
    assertThat(withCookie.body()).isEqualTo("0/80");
    HttpResponse<String> inCookie = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, fresh)
        .header("Cookie", ConsistencyTokenFilter.DEFAULT_COOKIE + "=" + stale));
    assertThat(inCookie.body()).isEqualTo("0/80");
    assertThat(inCookie.headers().allValues("Set-Cookie"))
        .containsExactly(ConsistencyTokenFilter.DEFAULT_COOKIE + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
    // A malformed token naming the same unknown key, and a forged one under the known key, are still refused.
    String malformed = stale.replace(".0000FFFF00000000.", ".FFFF/0.");
    String forged = ConsistencyTokenCodec.builder().signingKey("k1", ConsistencyTokenCodecTest.OTHER).build()
        .encode(ConsistencyToken.of(Lsn.parse("FFFF/0")));
    for (String refused : List.of(malformed, forged)) {
      HttpResponse<String> response = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, refused));
      assertThat(response.statusCode()).as(refused).isEqualTo(400);
    }
    assertThat(filter.stats()).isEqualTo(new ConsistencyTokenFilter.Stats(2, 0, 0, 1, 4));
  }

  @Test
  void anInvalidCookieWithAWriteGetsOnlyTheNewToken() throws Exception {
    start(ConsistencyTokenFilter.builder(CODEC).secureCookie(false).build());
    HttpResponse<String> response = send(get("/write?lsn=0/500").POST(HttpRequest.BodyPublishers.noBody())
        .header("Cookie", ConsistencyTokenFilter.DEFAULT_COOKIE + "=garbage"));
    List<String> cookies = response.headers().allValues("Set-Cookie");
    assertThat(cookies).hasSize(1);
    String value = cookies.get(0).substring(ConsistencyTokenFilter.DEFAULT_COOKIE.length() + 1, cookies.get(0).indexOf(';'));
    assertThat(CODEC.decode(value).lsn()).isEqualTo(Lsn.parse("0/500"));
    assertThat(cookies.get(0)).contains("Max-Age=3600");
  }

  @Test
  void aCookieMaxAgeUnderOneSecondIsRefusedRatherThanSentAsMaxAgeZero() throws Exception {
    for (Duration tooShort : List.of(Duration.ofMillis(999), Duration.ofNanos(1), Duration.ZERO, Duration.ofSeconds(-1))) {
      assertThatThrownBy(() -> ConsistencyTokenFilter.builder(CODEC).cookieMaxAge(tooShort))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("cookieMaxAge must be at least 1 second").hasMessageEndingWith("was " + tooShort);
    }
    start(ConsistencyTokenFilter.builder(CODEC).secureCookie(false).cookieMaxAge(Duration.ofMillis(1999)).build());
    HttpResponse<String> response = send(get("/write?lsn=0/500").POST(HttpRequest.BodyPublishers.noBody()));
    assertThat(response.headers().allValues("Set-Cookie")).singleElement().asString().contains("; Max-Age=1;");
  }

  @Test
  void severalWritesInOneRequestSendOneCookieWithTheGreatestPosition() throws Exception {
    start(ConsistencyTokenFilter.builder(CODEC).secureCookie(false).build());
    HttpResponse<String> response = send(get("/write?appCookie=x&lsn=0/300&lsn=0/900&lsn=0/600")
        .POST(HttpRequest.BodyPublishers.noBody()));
    List<String> ours = response.headers().allValues("Set-Cookie").stream()
        .filter(c -> c.startsWith(ConsistencyTokenFilter.DEFAULT_COOKIE + "=")).toList();
    assertThat(ours).hasSize(1);
    String value = ours.get(0).substring(ConsistencyTokenFilter.DEFAULT_COOKIE.length() + 1, ours.get(0).indexOf(';'));
    assertThat(CODEC.decode(value).lsn()).isEqualTo(Lsn.parse("0/900"));
    assertThat(response.headers().allValues(ConsistencyTokenFilter.DEFAULT_HEADER)).hasSize(1);
    assertThat(response.headers().allValues("Set-Cookie")).anySatisfy(c -> assertThat(c).startsWith("app=x"));
  }

  @Test
  void anExpiredTokenIsIgnoredAndItsCookieCleared() throws Exception {
    Instant now = Instant.parse("2026-12-04T21:00:00Z");
    ConsistencyTokenFilter filter = ConsistencyTokenFilter.builder(CODEC).secureCookie(false)
        .policy(ConsistencyTokenPolicy.builder().maxAge(Duration.ofMinutes(5)).clock(Clock.fixed(now, ZoneOffset.UTC)).build())
        .build();
    start(filter);
    String old = CODEC.encode(new ConsistencyToken(Lsn.parse("0/100"), now.minus(Duration.ofMinutes(6)), null));
    String fresh = CODEC.encode(new ConsistencyToken(Lsn.parse("0/80"), now.minus(Duration.ofMinutes(4)), null));
    HttpResponse<String> viaCookie = send(get("/read").header("Cookie", ConsistencyTokenFilter.DEFAULT_COOKIE + "=" + old));
    assertThat(viaCookie.statusCode()).isEqualTo(200);
    assertThat(viaCookie.body()).isEqualTo("null");
    assertThat(viaCookie.headers().allValues("Set-Cookie")).singleElement().asString().contains("Max-Age=0");
    HttpResponse<String> viaHeader = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, old)
        .header("Cookie", ConsistencyTokenFilter.DEFAULT_COOKIE + "=" + fresh));
    assertThat(viaHeader.body()).isEqualTo("0/80");
    assertThat(viaHeader.headers().allValues("Set-Cookie")).isEmpty();
    assertThat(filter.stats()).isEqualTo(new ConsistencyTokenFilter.Stats(1, 2, 0, 0, 0));
  }

  @Test
  void aTokenIssuedFarInTheFutureIsIgnoredAndDoesNotWinTheMergeOverAValidOne() throws Exception {
    Instant now = Instant.parse("2026-12-04T21:00:00Z");
    ConsistencyTokenFilter filter = ConsistencyTokenFilter.builder(CODEC).secureCookie(false)
        .policy(ConsistencyTokenPolicy.builder().clock(Clock.fixed(now, ZoneOffset.UTC)).build())
        .build();
    start(filter);
    // Signed by a server whose clock runs two hours ahead, of a history the valid token does not share.
    String ahead = CODEC.encode(ConsistencyToken.of(Lsn.parse("FFFF/0"), new DatabaseIdentity(42L, 2), now.plus(Duration.ofHours(2))));
    String valid = CODEC.encode(ConsistencyToken.of(Lsn.parse("0/80"), new DatabaseIdentity(42L, 1), now.minus(Duration.ofMinutes(1))));
    HttpResponse<String> viaHeader = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, ahead)
        .header("Cookie", ConsistencyTokenFilter.DEFAULT_COOKIE + "=" + valid));
    assertThat(viaHeader.statusCode()).isEqualTo(200);
    assertThat(viaHeader.body()).isEqualTo("0/80");
    HttpResponse<String> viaCookie = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, valid)
        .header("Cookie", ConsistencyTokenFilter.DEFAULT_COOKIE + "=" + ahead));
    assertThat(viaCookie.body()).isEqualTo("0/80");
    assertThat(viaCookie.headers().allValues("Set-Cookie")).singleElement().asString().contains("Max-Age=0");
    // Within the clock skew (5 minutes by default), a token from the future is used.
    String slightlyAhead = CODEC.encode(ConsistencyToken.of(Lsn.parse("0/90"), new DatabaseIdentity(42L, 1), now.plus(Duration.ofMinutes(4))));
    assertThat(send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, slightlyAhead)).body()).isEqualTo("0/90");
    assertThat(filter.stats()).isEqualTo(new ConsistencyTokenFilter.Stats(3, 2, 0, 0, 0));
  }

  @Test
  void aRotatedCodecAcceptsTokensOfTheOldKeyAndSignsWithTheNewOne() throws Exception {
    ConsistencyTokenCodec rotated = ConsistencyTokenCodec.builder()
        .signingKey("k2", ConsistencyTokenCodecTest.OTHER).verificationKey("k1", ConsistencyTokenCodecTest.SECRET).build();
    start(ConsistencyTokenFilter.builder(rotated).secureCookie(false).build());
    String old = CODEC.encode(ConsistencyToken.of(Lsn.parse("0/700")));
    HttpResponse<String> read = send(get("/read").header("Cookie", ConsistencyTokenFilter.DEFAULT_COOKIE + "=" + old));
    assertThat(read.body()).isEqualTo("0/700");
    HttpResponse<String> write = send(get("/write?lsn=0/800").POST(HttpRequest.BodyPublishers.noBody())
        .header("Cookie", ConsistencyTokenFilter.DEFAULT_COOKIE + "=" + old));
    assertThat(write.headers().firstValue(ConsistencyTokenFilter.DEFAULT_HEADER).orElseThrow()).startsWith("v2.k2.");
  }

  @Test
  void badTokensAreLoggedAtDebugOnlySoNoClientCanFloodTheLog() throws Exception {
    // System.Logger's default backend is java.util.logging; its FINE is System.Logger's DEBUG.
    try (LogCapture log = LogCapture.allLevels(ConsistencyTokenFilter.class)) {
      List<LogRecord> records = log.records();
      ConsistencyTokenFilter filter = ConsistencyTokenFilter.builder(CODEC).secureCookie(false).ignoreInvalidTokens().build();
      start(filter);
      for (int i = 0; i < 50; i++) {
        HttpResponse<String> response = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, "bad-header-" + i)
            .header("Cookie", ConsistencyTokenFilter.DEFAULT_COOKIE + "=bad-cookie-" + i));
        assertThat(response.statusCode()).isEqualTo(200);
      }
      assertThat(filter.stats().invalidHeaders()).isEqualTo(50);
      assertThat(filter.stats().invalidCookies()).isEqualTo(50);
      assertThat(records).hasSize(100).allSatisfy(r -> assertThat(r.getLevel()).isEqualTo(Level.FINE));
      assertThat(records).anySatisfy(r -> assertThat(r.getMessage()).contains("bad-header-49"))
          .anySatisfy(r -> assertThat(r.getMessage()).contains("bad-cookie-49"));
    }
  }

  @Test
  void invalidTokensCanBeIgnoredInstead() throws Exception {
    start(ConsistencyTokenFilter.builder(CODEC).ignoreInvalidTokens().build());
    HttpResponse<String> response = send(get("/read").header(ConsistencyTokenFilter.DEFAULT_HEADER, "hello"));
    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.body()).isEqualTo("null");
  }
}
