package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.ServletServer;
import com.ecwid.consul.v1.QueryParams;
import com.ecwid.consul.v1.Response;
import com.ecwid.consul.v1.kv.model.GetValue;
import com.ecwid.consul.v1.kv.model.PutParams;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Consul's KV API as real clients use it, against {@link BlockingQueryServlet} on a Jetty 12 set
 * up exactly as the README shows (Jetty's default URI compliance plus encoded {@code /} in paths,
 * which its connector otherwise refuses before any servlet): raw HTTP for what clients send
 * (encoded {@code /}, unsigned indexes), Ecwid's consul-api (the client Spring Cloud Consul uses)
 * and Debian's python3-consul run as a real process.
 */
class ConsulCompatibilityTest {

  private final InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private ServletServer server;

  @BeforeEach
  void start() throws Exception {
    server = KvServers.serving(store);
  }

  @AfterEach
  void stop() {
    http.shutdownNow();
    server.close();
  }

  private HttpResponse<String> send(String method, String pathAndQuery, String body)
      throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(server.uri() + pathAndQuery))
        .method(method, body.isEmpty() ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void aKeyWithAnEncodedSlashIsOneKeyOnJettySetUpAsTheReadmeShows() throws Exception {
    HttpResponse<String> put = send("PUT", "/v1/kv/cfg%2Fdb", "jdbc:x");
    assertThat(put.body()).as(put.statusCode() + " " + put.headers().map()).isEqualTo("true");
    assertThat(store.get("cfg/db").value()).contains("jdbc:x");
    HttpResponse<String> read = send("GET", "/v1/kv/cfg%2Fdb", "");
    assertThat(read.statusCode()).isEqualTo(200);
    assertThat(read.body()).contains("\"Key\":\"cfg/db\"");
    assertThat(send("GET", "/v1/kv/cfg%2Fdb?raw", "").body()).isEqualTo("jdbc:x");
    assertThat(send("GET", "/v1/kv/caf%C3%A9", "").statusCode()).isEqualTo(404);
    assertThat(send("GET", "/v1/kv/bad%FF", "").statusCode()).isEqualTo(400);
  }

  @Test
  void jettysDefaultUriComplianceRefusesAnEncodedSlashBeforeAnyServletSeesIt() throws Exception {
    // Pins the fact the README's setup answers: Jetty 12's connector refuses %2F with its default
    // compliance (400, connection closed), so no servlet can serve such keys without it.
    try (ServletServer strict = KvServers.start(BlockingQueryServlet.ofStrings(store),
        "/v1/kv/*", org.eclipse.jetty.http.UriCompliance.DEFAULT)) {
      HttpResponse<String> put = http.send(HttpRequest.newBuilder(
          URI.create(strict.uri() + "/v1/kv/cfg%2Fdb")).PUT(HttpRequest.BodyPublishers.ofString("x"))
          .build(), HttpResponse.BodyHandlers.ofString());
      assertThat(put.statusCode()).isEqualTo(400);
      assertThat(store.keys()).isEmpty();
    }
  }

  @Test
  void indexesAreUnsigned64Bit() throws Exception {
    store.put("k", "v");
    HttpResponse<String> huge = send("GET", "/v1/kv/k?index=18446744073709551615&wait=1m", "");
    assertThat(huge.statusCode()).isEqualTo(200); // differs from the key's index: at once
    assertThat(send("GET", "/v1/kv/k?index=18446744073709551616", "").statusCode()).isEqualTo(400);
    HttpResponse<String> negative = send("GET", "/v1/kv/k?index=-1", "");
    assertThat(negative.statusCode()).isEqualTo(400);
    assertThat(negative.headers().firstValue("Content-Type")).hasValueSatisfying(
        type -> assertThat(type).startsWith("application/problem+json"));
    assertThat(negative.body()).contains("index must be an unsigned 64-bit integer");
  }

  /** What {@code curl -X PUT -d <body>} sends: a form Content-Type over any body. */
  private HttpResponse<String> sendAsCurlDoes(String method, String pathAndQuery, String body)
      throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(server.uri() + pathAndQuery))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .method(method, HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  // Regression: parameters were read through getParameter, so Jetty parsed a form-typed body as
  // parameters and the PUT stored an empty value.
  @Test
  void aPutStoresItsRawBodyEvenWhenItIsSentAsAForm() throws Exception {
    for (String body : List.of("{\"a\":1}", "a=1&b=2", "flags=1&acquire=s&cas=7")) {
      HttpResponse<String> put = sendAsCurlDoes("PUT", "/v1/kv/k", body);
      assertThat(put.statusCode()).as(body).isEqualTo(200);
      assertThat(put.body()).isEqualTo("true");
      assertThat(store.get("k").value()).contains(body);
    }
    // The query string still counts, and only it: ?cas here, the body's cas=7 above.
    long index = store.get("k").index();
    assertThat(sendAsCurlDoes("PUT", "/v1/kv/k?cas=" + (index + 1), "a=2").body()).isEqualTo("false");
    assertThat(sendAsCurlDoes("PUT", "/v1/kv/k?cas=" + index, "a=2").body()).isEqualTo("true");
    assertThat(store.get("k").value()).contains("a=2");
    assertThat(sendAsCurlDoes("PUT", "/v1/kv/k?flags=1", "a=3").statusCode()).isEqualTo(400);
    assertThat(store.get("k").value()).contains("a=2");
  }

  @Test
  void aFormBodyIsNoParameterOfAReadOrADelete() throws Exception {
    store.put("dir/a", "1");
    store.put("dir/b", "2");
    HttpResponse<String> get = sendAsCurlDoes("GET", "/v1/kv/dir/a", "raw");
    assertThat(get.statusCode()).isEqualTo(200);
    assertThat(get.body()).startsWith("[{"); // JSON, not the raw value
    assertThat(sendAsCurlDoes("GET", "/v1/kv/dir/a?raw", "index=x").body()).isEqualTo("1");
    assertThat(sendAsCurlDoes("DELETE", "/v1/kv/dir/a", "recurse").body()).isEqualTo("true");
    assertThat(store.get("dir/a").value()).isEmpty();
    assertThat(store.get("dir/b").value()).contains("2"); // not deleted as a prefix
  }

  @Test
  void queryParametersAreDecodedStrictlyAsConsulDoes() throws Exception {
    store.put("dir/a", "1");
    store.put("dir/b/c", "2");
    assertThat(send("GET", "/v1/kv/dir/?keys&separator=%2F", "").body())
        .isEqualTo("[\"dir/a\",\"dir/b/\"]");
    HttpResponse<String> notUtf8 = send("GET", "/v1/kv/dir/a?index=%FF", "");
    assertThat(notUtf8.statusCode()).isEqualTo(400);
    assertThat(notUtf8.body()).contains("?index is not UTF-8");
  }

  @Test
  void sessionsLocksAndNonZeroFlagsAre400AndChangeNothing() throws Exception {
    long index = store.put("k", "v1");
    for (String query : List.of("?acquire=0b5fca35", "?release=0b5fca35", "?flags=1")) {
      HttpResponse<String> put = send("PUT", "/v1/kv/k" + query, "v2");
      assertThat(put.statusCode()).as(query).isEqualTo(400);
      assertThat(put.headers().firstValue("Content-Type")).hasValueSatisfying(
          type -> assertThat(type).startsWith("application/problem+json"));
      assertThat(put.body()).contains(query.substring(0, query.indexOf('=')));
      // Its body was refused unread, so the connection closes: the client is told, or it would
      // send its next request on a connection that ends without an answer.
      assertThat(put.headers().firstValue("Connection")).hasValue("close");
      assertThat(send("DELETE", "/v1/kv/k" + query, "").statusCode()).as(query).isEqualTo(400);
    }
    assertThat(store.get("k").index()).isEqualTo(index);
    assertThat(send("PUT", "/v1/kv/k?flags=0", "v2").body()).isEqualTo("true");
  }

  @Test
  void checkAndSetAnswersAsConsulDoes() throws Exception {
    long first = store.put("k", "v1");
    assertThat(send("PUT", "/v1/kv/k?cas=0", "over").body()).isEqualTo("false");
    assertThat(store.get("k").value()).contains("v1");
    assertThat(send("PUT", "/v1/kv/k?cas=" + (first + 1), "over").body()).isEqualTo("false");
    assertThat(send("PUT", "/v1/kv/k?cas=" + first, "v2").body()).isEqualTo("true");
    assertThat(send("PUT", "/v1/kv/fresh?cas=0", "new").body()).isEqualTo("true");
    assertThat(send("DELETE", "/v1/kv/fresh?cas=0", "").body()).isEqualTo("false");
    assertThat(send("DELETE", "/v1/kv/fresh?cas=" + store.get("fresh").index(), "").body())
        .isEqualTo("true");
    assertThat(store.get("fresh").value()).isEmpty();
    assertThat(send("PUT", "/v1/kv/k?cas=18446744073709551615", "x").body()).isEqualTo("false");
  }

  @Test
  void recurseListsAFolderAndABlockingQueryOnItWakesOnAnyChangeBelow() throws Exception {
    store.put("app/a", "1");
    long b = store.put("app/b/c", "2");
    store.put("other", "x");
    HttpResponse<String> list = send("GET", "/v1/kv/app/?recurse", "");
    assertThat(list.statusCode()).isEqualTo(200);
    assertThat(list.headers().firstValue("X-Consul-Index")).contains(Long.toString(b));
    assertThat(list.body()).contains("\"Key\":\"app/a\"").contains("\"Key\":\"app/b/c\"")
        .doesNotContain("other");
    assertThat(send("GET", "/v1/kv/app/?keys&separator=/", "").body())
        .isEqualTo("[\"app/a\",\"app/b/\"]");
    assertThat(send("GET", "/v1/kv/app/?keys", "").body()).isEqualTo("[\"app/a\",\"app/b/c\"]");
    assertThat(send("GET", "/v1/kv/nothing/?recurse", "").statusCode()).isEqualTo(404);

    CompletableFuture<HttpResponse<String>> held = CompletableFuture.supplyAsync(() -> {
      try {
        return send("GET", "/v1/kv/app/?recurse&index=" + b + "&wait=1m", "");
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    await().until(() -> store.waitingQueries() == 1);
    store.put("other", "y"); // outside the folder: does not wake it
    assertThat(held).isNotDone();
    long deleted = store.delete("app/a");
    HttpResponse<String> woken = held.join();
    assertThat(woken.headers().firstValue("X-Consul-Index")).contains(Long.toString(deleted));
    assertThat(woken.body()).doesNotContain("app/a").contains("app/b/c");
    assertThat(send("DELETE", "/v1/kv/app/?recurse", "").body()).isEqualTo("true");
    assertThat(store.keys()).containsExactly("other");
  }

  @Test
  void ecwidConsulApiReadsWritesListsAndBlocksOnAFolder() throws Exception {
    com.ecwid.consul.v1.ConsulClient ecwid =
        new com.ecwid.consul.v1.ConsulClient("127.0.0.1", server.port());
    assertThat(ecwid.setKVValue("app/db/url", "jdbc:one").getValue()).isTrue();
    Response<GetValue> read = ecwid.getKVValue("app/db/url");
    assertThat(read.getValue().getDecodedValue()).isEqualTo("jdbc:one");
    PutParams casZero = new PutParams();
    casZero.setCas(0L);
    assertThat(ecwid.setKVValue("app/db/url", "x", casZero).getValue()).isFalse();
    PutParams cas = new PutParams();
    cas.setCas(read.getValue().getModifyIndex());
    assertThat(ecwid.setKVValue("app/db/url", "jdbc:two", cas).getValue()).isTrue();
    ecwid.setKVValue("app/feature", "on");
    assertThat(ecwid.getKVKeysOnly("app/", "/", null).getValue())
        .containsExactly("app/db/", "app/feature");

    // Spring Cloud Consul's ConfigWatch: read the folder, then block on its index.
    Response<List<GetValue>> folder = ecwid.getKVValues("app/");
    assertThat(folder.getValue()).extracting(GetValue::getKey)
        .containsExactly("app/db/url", "app/feature");
    long index = folder.getConsulIndex();
    CompletableFuture<Response<List<GetValue>>> held = CompletableFuture.supplyAsync(
        () -> ecwid.getKVValues("app/", new QueryParams(30, index)));
    await().until(() -> store.waitingQueries() == 1);
    long written = store.put("app/feature", "off");
    Response<List<GetValue>> woken = held.get(30, TimeUnit.SECONDS);
    assertThat(woken.getConsulIndex()).isEqualTo(written);
    assertThat(woken.getValue()).filteredOn(v -> v.getKey().equals("app/feature"))
        .extracting(v -> v.getDecodedValue()).containsExactly("off");
  }

  @Test
  void debiansPythonConsulReadsWritesListsAndBlocksOnAFolder(@TempDir Path dir) throws Exception {
    Path script = dir.resolve("python_consul_check.py");
    try (var in = getClass().getResourceAsStream("/consul-clients/python_consul_check.py")) {
      Files.write(script, in.readAllBytes());
    }
    // Debian's interpreter: python3-consul is a Debian package, not in other Pythons on PATH.
    Process python = new ProcessBuilder("/usr/bin/python3", script.toString(),
        Integer.toString(server.port())).redirectErrorStream(true).start();
    Map<String, String> results = new LinkedHashMap<>();
    StringBuilder transcript = new StringBuilder();
    try (BufferedReader out = new BufferedReader(
        new InputStreamReader(python.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = out.readLine()) != null) {
        transcript.append(line).append('\n');
        int eq = line.indexOf('=');
        if (eq > 0) {
          results.put(line.substring(0, eq), line.substring(eq + 1));
        }
        if (line.startsWith("holding=")) {
          await().until(() -> store.waitingQueries() == 1);
          store.put("app/db/pool", "10");
        }
      }
    }
    assertThat(python.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(python.exitValue()).as(transcript.toString()).isZero();
    assertThat(results).as(transcript.toString())
        .containsEntry("put", "True")
        .containsEntry("get.value", "jdbc:one")
        .containsEntry("get.key", "app/db/url")
        .containsEntry("cas0.existing", "False")
        .containsEntry("cas0.absent", "True")
        .containsEntry("cas.stale", "False")
        .containsEntry("cas.current", "True")
        .containsEntry("recurse.keys", "app/db/url,app/new")
        .containsEntry("recurse.values", "jdbc:two,n")
        .containsEntry("recurse.index.is.max", "True")
        .containsEntry("keys.separator", "app/db/,app/new")
        .containsEntry("keys.all", "app/db/url,app/new")
        .containsEntry("missing", "None")
        .containsEntry("delete.cas0", "False")
        .containsEntry("delete", "True")
        .containsEntry("woken.grew", "True")
        .containsEntry("woken.keys", "app/db/pool,app/db/url");
  }
}
