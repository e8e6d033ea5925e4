package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

class PlaygroundTest {

  /** A scenario that runs until released (or interrupted), to hold its slot. */
  private static final class Held implements Scenario {
    final CountDownLatch release = new CountDownLatch(1);
    final Duration bound;

    Held(Duration bound) {
      this.bound = bound;
    }

    @Override
    public String name() {
      return "held";
    }

    @Override
    public String title() {
      return "held until released";
    }

    @Override
    public Duration bound() {
      return bound;
    }

    @Override
    public Map<String, Object> parameters(JsonNode body) {
      return Scenario.read(body, List.of(Scenario.Param.whole("n", 3, 1, 10)));
    }

    @Override
    public void run(Map<String, Object> parameters, ScenarioReport report) throws Exception {
      report.event(ScenarioReport.Side.SHEPHERD, "start", "holding");
      release.await();
      report.row("n", "n", "", Scenario.integer(parameters, "n"), 0);
      report.caption("released");
    }
  }

  private static ObjectNode body() {
    return JsonNodeFactory.instance.objectNode();
  }

  @Test
  void aSecondStartWhileARunGoesIsBusyAndTheSlotFreesWhenItEnds() {
    Held held = new Held(Duration.ofMinutes(1));
    try (Playground playground = new Playground(List.of(held))) {
      Playground.Start first = playground.start("held", body().put("n", 7));
      assertThat(first).isInstanceOf(Playground.Start.Started.class);
      assertThat(playground.start("held", body())).isInstanceOfSatisfying(Playground.Start.Busy.class,
          busy -> assertThat(busy.running()).isSameAs(((Playground.Start.Started) first).run()));
      assertThat(playground.status("held")).containsEntry("state", "running");
      held.release.countDown();
      await().atMost(Duration.ofSeconds(10)).until(() -> playground.status("held").get("state").equals("done"));
      Map<String, Object> done = playground.status("held");
      assertThat(done).containsEntry("caption", "released").containsEntry("parameters", Map.of("n", 7));
      assertThat(playground.start("held", body())).isInstanceOf(Playground.Start.Started.class);
    }
  }

  @Test
  void aRunPastItsBoundIsInterruptedAndReportedFailed() {
    Held held = new Held(Duration.ofMillis(200));
    try (Playground playground = new Playground(List.of(held))) {
      playground.start("held", body());
      await().atMost(Duration.ofSeconds(10)).until(() -> playground.status("held").get("state").equals("failed"));
      assertThat((String) playground.status("held").get("error")).contains("interrupted").contains("bound");
      assertThat(playground.isRunning("held")).isFalse();
    }
  }

  @Test
  void parametersOutOfBoundsAndUnknownScenariosAreNamed() {
    try (Playground playground = new Playground(List.of(new CacheScenario()))) {
      assertThatThrownBy(() -> playground.start("cache", body().put("callers", 10_001)))
          .isInstanceOf(IllegalArgumentException.class).hasMessage("callers must be between 1 and 10000, was 10001");
      // A JSON integer past the long range is refused, not truncated into range (2^64 + 1000 is not 1000).
      assertThatThrownBy(() -> playground.start("cache", body().put("callers", new java.math.BigInteger("18446744073709552616"))))
          .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("callers must be a whole number");
      assertThatThrownBy(() -> playground.start("cache", body().put("callers", "many")))
          .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("callers must be a whole number");
      assertThatThrownBy(() -> playground.start("cache", body().put("catalog", "flaky")))
          .isInstanceOf(IllegalArgumentException.class).hasMessage("catalog must be one of failing, healthy, was 'flaky'");
      assertThatThrownBy(() -> playground.start("nope", body()))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no scenario 'nope'");
      assertThat(playground.isRunning("cache")).isFalse();
      assertThat(playground.status("cache")).containsEntry("state", "never");
    }
  }

  @Test
  void theStampedeWithAFailingCatalogIsOneCallForShepherdAndOnePerCallerForComputeIfAbsent() throws Exception {
    ScenarioReport report = new ScenarioReport();
    CacheScenario cache = new CacheScenario();
    cache.run(cache.parameters(body().put("callers", 8)), report);
    Map<String, Object> result = report.toMap();
    assertThat(row(result, "catalogCalls")).containsEntry("shepherd", 1.0).containsEntry("baseline", 8.0);
    assertThat(row(result, "errors")).containsEntry("shepherd", 8.0).containsEntry("baseline", 8.0);
    assertThat((String) result.get("caption")).contains("1 catalog call");
  }

  @Test
  void theStampedeWithAHealthyCatalogIsOneCallOnBothSides() throws Exception {
    ScenarioReport report = new ScenarioReport();
    CacheScenario cache = new CacheScenario();
    cache.run(cache.parameters(body().put("callers", 500).put("catalog", "healthy")), report);
    Map<String, Object> result = report.toMap();
    assertThat(row(result, "catalogCalls")).containsEntry("shepherd", 1.0).containsEntry("baseline", 1.0);
    assertThat(row(result, "answered")).containsEntry("shepherd", 500.0).containsEntry("baseline", 500.0);
    assertThat(row(result, "errors")).containsEntry("shepherd", 0.0);
    ScenarioReport.Chart chart = (ScenarioReport.Chart) result.get("chart");
    assertThat(chart.series()).hasSize(2).allSatisfy(s -> {
      assertThat(s.values()).hasSameSizeAs(chart.xs());
      assertThat(s.values().get(s.values().size() - 1)).isEqualTo(500.0);
    });
  }

  @Test
  void cumulativeChartsCountEventsUpToEachX() {
    ScenarioReport.Chart chart = ScenarioReport.cumulative("t", "ms", "n", "", 3, Map.of("a", List.of(0.5, 1.0, 2.5)),
        Map.of());
    assertThat(chart.xs()).containsExactly(0.0, 1.0, 2.0, 3.0, 4.0);
    assertThat(chart.series().get(0).values()).containsExactly(0.0, 2.0, 2.0, 3.0, 3.0);
  }

  @Test
  void theTimelineKeepsAFixedNumberOfEventsPerSideAndCountsTheRest() {
    ScenarioReport report = new ScenarioReport();
    for (int i = 0; i < ScenarioReport.EVENTS_PER_SIDE + 5; i++) {
      report.event(ScenarioReport.Side.BASELINE, "load", "call " + i);
    }
    report.event(ScenarioReport.Side.SHEPHERD, "load", "one call");
    Map<String, Object> result = report.toMap();
    assertThat((List<?>) result.get("timeline")).hasSize(ScenarioReport.EVENTS_PER_SIDE + 1);
    assertThat(result.get("timelineOmitted")).isEqualTo(Map.of("baseline", 5));
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> row(Map<String, Object> result, String key) {
    return ((List<Map<String, Object>>) result.get("rows")).stream().filter(r -> r.get("key").equals(key)).findFirst()
        .orElseThrow();
  }
}
