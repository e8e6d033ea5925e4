package dev.shepherd.demo;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * What every playground scenario has in the same way: its name, title, bound and parameters, fixed
 * when it is made. The scenarios that drive the running service over HTTP ({@link Http}) also share the base
 * URI supplier and one HTTP/1.1 client with a 5 s connect timeout.
 */
abstract class AbstractScenario implements Scenario {

  private final String name;
  private final String title;
  private final Duration bound;
  private final List<Param> params;

  AbstractScenario(String name, String title, Duration bound, Param... params) {
    this.name = name;
    this.title = title;
    this.bound = bound;
    this.params = List.of(params);
  }

  @Override
  public final String name() {
    return name;
  }

  @Override
  public final String title() {
    return title;
  }

  @Override
  public final Duration bound() {
    return bound;
  }

  @Override
  public final Map<String, Object> parameters(JsonNode body) {
    return Scenario.read(body, params);
  }

  /** A scenario that sends its requests to the running service. */
  abstract static class Http extends AbstractScenario {

    /** The service's base URI, known once it listens. */
    final Supplier<URI> base;
    /** HTTP/1.1 (one connection per request in flight, as the scenarios count them), 5 s to connect. */
    final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();

    Http(String name, String title, Duration bound, Supplier<URI> base, Param... params) {
      super(name, title, bound, params);
      this.base = base;
    }
  }
}
