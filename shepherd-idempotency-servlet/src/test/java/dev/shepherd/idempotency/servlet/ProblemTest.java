package dev.shepherd.idempotency.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.net.URI;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The problem documents are JSON that any parser reads back exactly. */
class ProblemTest {

  private static Map<String, Object> parse(byte[] json) throws Exception {
    Map<String, Object> fields = new LinkedHashMap<>();
    try (JsonParser parser = new JsonFactory().createParser(json)) {
      assertThat(parser.nextToken()).isEqualTo(JsonToken.START_OBJECT);
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        String name = parser.currentName();
        JsonToken value = parser.nextToken();
        fields.put(name, value == JsonToken.VALUE_NUMBER_INT ? parser.getIntValue()
            : parser.getText());
      }
      assertThat(parser.currentToken()).isEqualTo(JsonToken.END_OBJECT);
      assertThat(parser.nextToken()).isNull();
    }
    return fields;
  }

  @Test
  void detailWithQuotesBackslashesControlAndLineSeparatorsRoundTrips() throws Exception {
    String detail = "a \"quoted\" \\ path\n\ttab \u0000 nul \u2028 \u0085 é 😀";
    Problem problem = new Problem(Problem.Kind.KEY_MALFORMED, detail);

    Map<String, Object> fields =
        parse(problem.toJson(URI.create("https://example.test/problems/")));

    assertThat(fields).containsExactly(
        Map.entry("type", "https://example.test/problems/key-malformed"),
        Map.entry("title", "Malformed Idempotency-Key header"),
        Map.entry("status", 400),
        Map.entry("detail", detail));
  }

  @Test
  void notKeptProblemCarriesTheOriginalStatus() throws Exception {
    Problem problem = new Problem(Problem.Kind.RESPONSE_NOT_KEPT, "d", null, 201);

    assertThat(parse(problem.toJson(IdempotencyFilter.DEFAULT_PROBLEM_TYPE_BASE)))
        .containsEntry("status", 201)
        .containsEntry("type", "https://shepherd.dev/problems/idempotency/response-not-kept");
  }
}
