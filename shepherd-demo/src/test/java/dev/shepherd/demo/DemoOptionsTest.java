package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DemoOptionsTest {

  @Test
  void defaultsAreEmbeddedOnPort8080() {
    DemoOptions options = DemoOptions.parse(new String[0], Map.of());
    assertThat(options.port()).isEqualTo(8080);
    assertThat(options.primaryUrl()).isEmpty();
    assertThat(options.poolBackend()).isEqualTo("process");
    assertThat(options.loadTarget()).isEmpty();
  }

  @Test
  void flagsWinOverEnvironment() {
    DemoOptions options = DemoOptions.parse(new String[] {"--port", "9090", "--pool", "local"},
        Map.of("SHEPHERD_DEMO_PORT", "7070", "SHEPHERD_POOL_BACKEND", "process"));
    assertThat(options.port()).isEqualTo(9090);
    assertThat(options.poolBackend()).isEqualTo("local");
    assertThat(DemoOptions.parse(new String[0], Map.of("SHEPHERD_DEMO_PORT", "7070")).port()).isEqualTo(7070);
  }

  @Test
  void loadTakesAnOptionalUrlAndADuration() {
    DemoOptions options = DemoOptions.parse(new String[] {"--load", "--duration", "5m"}, Map.of());
    assertThat(options.loadTarget()).contains(URI.create("http://127.0.0.1:8080/"));
    assertThat(options.loadDuration()).isEqualTo(Duration.ofMinutes(5));
    assertThat(DemoOptions.parse(new String[] {"--load", "http://127.0.0.1:9000"}, Map.of()).loadTarget())
        .contains(URI.create("http://127.0.0.1:9000/"));
  }

  @Test
  void badFlagsAreNamed() {
    assertThatThrownBy(() -> DemoOptions.parse(new String[] {"--port", "http"}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("--port must be a port number, was 'http'");
    assertThatThrownBy(() -> DemoOptions.parse(new String[] {"--port", "70000"}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("--port must be between 0 and 65535, was 70000");
    assertThatThrownBy(() -> DemoOptions.parse(new String[] {"--bogus"}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("unknown flag '--bogus'");
    assertThatThrownBy(() -> DemoOptions.parse(new String[] {"--pool", "threads"}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("--pool must be 'process' or 'local', was 'threads'");
    assertThatThrownBy(() -> DemoOptions.parse(new String[] {"--primary-url", "jdbc:postgresql://x/db"}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--primary-url and --replica-url go together");
    assertThatThrownBy(() -> DemoOptions.parse(new String[] {"--duration", "soon"}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--duration must look like");
    assertThatThrownBy(() -> DemoOptions.parse(new String[] {"--port"}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("--port needs a value");
  }

  @Test
  void figuresRenderAsJsonWithStableKeys() {
    Figures figures = new Figures();
    figures.group("cache", "Coalescing \"cache\"");
    figures.counter("cache", "cache-hits", "hits", () -> 42);
    figures.gauge("cache", "cache-size", "entries", "", () -> 1.5);
    figures.gauge("cache", "broken", "broken", "", () -> {
      throw new IllegalStateException("no");
    });
    assertThat(figures.toJson(7)).isEqualTo("{\"uptimeSeconds\":7,\"groups\":[{\"id\":\"cache\",\"title\":\"Coalescing \\\"cache\\\"\","
        + "\"figures\":[{\"key\":\"cache-hits\",\"label\":\"hits\",\"unit\":\"\",\"kind\":\"counter\",\"value\":42.0,\"history\":[]},"
        + "{\"key\":\"cache-size\",\"label\":\"entries\",\"unit\":\"\",\"kind\":\"gauge\",\"value\":1.5,\"history\":[]},"
        + "{\"key\":\"broken\",\"label\":\"broken\",\"unit\":\"\",\"kind\":\"gauge\",\"value\":null,\"history\":[]}]}]}");
  }

  @Test
  void historyKeepsCounterRatesAndGaugeValuesForFiveMinutes() {
    Figures figures = new Figures();
    figures.group("g", "G");
    java.util.concurrent.atomic.AtomicLong total = new java.util.concurrent.atomic.AtomicLong();
    figures.counter("g", "c", "c", total::get);
    figures.gauge("g", "v", "v", "", () -> 7);
    for (int second = 0; second < Figures.HISTORY + 5; second++) {
      total.addAndGet(second < 3 ? 10 : 2);
      figures.sample();
    }
    String json = figures.toJson(1);
    assertThat(json).contains("\"key\":\"c\",\"label\":\"c\",\"unit\":\"\",\"kind\":\"counter\",\"value\":" + (double) total.get()
        + ",\"history\":[2.0,2.0,");
    String gaugeHistory = json.substring(json.indexOf("\"key\":\"v\""));
    assertThat(gaugeHistory.substring(gaugeHistory.indexOf('[') + 1, gaugeHistory.indexOf(']')).split(","))
        .hasSize(Figures.HISTORY).containsOnly("7.0");
  }

  @Test
  void scenarioTakesANameAnOptionalUrlAndParameters() {
    DemoOptions options = DemoOptions.parse(new String[] {"--scenario", "cache", "--param", "callers=10000",
        "--param", "catalog=healthy"}, Map.of());
    assertThat(options.scenario()).contains("cache");
    assertThat(options.scenarioTarget()).isEqualTo(URI.create("http://127.0.0.1:8080/"));
    assertThat(options.scenarioParameters()).isEqualTo(Map.of("callers", "10000", "catalog", "healthy"));
    assertThat(DemoOptions.parse(new String[] {"--scenario", "pool", "http://127.0.0.1:9000"}, Map.of()).scenarioTarget())
        .isEqualTo(URI.create("http://127.0.0.1:9000/"));
    assertThat(DemoOptions.parse(new String[] {"--port", "9001", "--scenario", "watch"}, Map.of()).scenarioTarget())
        .isEqualTo(URI.create("http://127.0.0.1:9001/"));
    assertThat(DemoOptions.parse(new String[0], Map.of()).scenario()).isEmpty();
  }

  @Test
  void badScenarioFlagsAreNamed() {
    assertThatThrownBy(() -> DemoOptions.parse(new String[] {"--param", "callers=1"}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("--param goes with --scenario NAME");
    assertThatThrownBy(() -> DemoOptions.parse(new String[] {"--scenario", "cache", "--param", "callers"}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("--param needs KEY=VALUE, e.g. callers=1000, was 'callers'");
    assertThatThrownBy(() -> DemoOptions.parse(new String[] {"--scenario", "Cache!"}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("--scenario needs a scenario name");
    assertThatThrownBy(() -> DemoOptions.parse(new String[] {"--scenario"}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("--scenario needs a value");
    assertThatThrownBy(() -> DemoOptions.parse(new String[] {"--scenario", "cache", "ftp://x"}, Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("--scenario needs an http://host:port URL, was 'ftp://x'");
  }
}
