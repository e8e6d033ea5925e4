package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.ServletServer;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Serial;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link ScenarioClient} against real HTTP servers that are not the demo (the URL is the user's):
 * a proxy's HTML error page, a body far over the bound, and answers whose text carries terminal
 * escape sequences. Each ends in one clear line or a clean table, never a stack trace, never an
 * escape sequence on the terminal; {@link LoadGenerator} stops reading an answer past the bound too.
 */
class ScenarioClientTest {

  private static final String ESC = "\u001b";

  /** What the fake service answers to a run request. */
  private static final class Answers extends HttpServlet {
    @Serial private static final long serialVersionUID = 1L;
    final AtomicInteger statusReads = new AtomicInteger();
    /** How to answer: html, huge, escapes or busy (the client asks absolute paths of the URL). */
    volatile String mode = "";

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
      String path = mode + req.getRequestURI();
      if (path.startsWith("html/")) {
        resp.setStatus(502);
        resp.setContentType("text/html");
        resp.getWriter().write("<html><body><h1>502 Bad Gateway</h1></body></html>");
      } else if (path.startsWith("huge/")) {
        resp.setStatus(202);
        resp.setContentType("application/json");
        byte[] line = "x".repeat(8192).getBytes(StandardCharsets.UTF_8);
        var out = resp.getOutputStream();
        out.write("{\"pad\":\"".getBytes(StandardCharsets.UTF_8));
        for (int i = 0; i < 1024; i++) { // 8 MiB, 8 times the client's bound
          out.write(line);
        }
        out.write("\"}".getBytes(StandardCharsets.UTF_8));
      } else if (path.startsWith("escapes/playground/run/")) {
        Json.write(resp, 202, Map.of("runId", 1, "state", "running", "parameters", Map.of()));
      } else if (path.startsWith("escapes/api/playground/")) {
        statusReads.incrementAndGet();
        Json.write(resp, 200, Map.of("runId", 1, "state", "done", "tookMs", 5,
            "title", "Title" + ESC + "]0;pwned" + "\u0007",
            "caption", "red " + ESC + "[31mtext\u202E reversed\r\nline",
            "rows", java.util.List.of(Map.of("label", "calls" + ESC + "[2J", "unit", "", "shepherd", 1, "baseline", 2)),
            "timeline", java.util.List.of(Map.of("atMs", 1.0, "side", "shepherd", "text", "event" + ESC + "[1A\u009b"))));
      } else if (path.startsWith("stalled/")) {
        // The head and the start of a body, then nothing: a server that stalls mid-answer.
        resp.setStatus(202);
        resp.setContentType("application/json");
        resp.getOutputStream().write("{\"runId\":".getBytes(StandardCharsets.UTF_8));
        resp.flushBuffer();
        try {
          stalled.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      } else if (path.startsWith("busy/")) {
        resp.setStatus(409);
        Json.write(resp, 409, Map.of("detail", "already running" + ESC + "[31m"));
      } else {
        resp.sendError(404);
      }
    }
  }

  private static final Answers answers = new Answers();
  /** Holds the stalled answers until the class is done. */
  private static final java.util.concurrent.CountDownLatch stalled = new java.util.concurrent.CountDownLatch(1);

  @org.junit.jupiter.api.AfterAll
  static void endTheStalledAnswers() {
    stalled.countDown();
  }

  @RegisterExtension
  static final ServletServer server = ServletServer.builder().servlet("/*", answers).build();

  private static final class Run {
    final int exit;
    final String printed;

    Run(String mode) throws Exception {
      this(mode, ScenarioClient.BODY_TIMEOUT);
    }

    Run(String mode, java.time.Duration bodyTimeout) throws Exception {
      answers.mode = mode;
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
        exit = ScenarioClient.run(URI.create(server.uri() + "/"), "cache", Map.of(), out, bodyTimeout);
      }
      printed = bytes.toString(StandardCharsets.UTF_8);
    }
  }

  @Test
  void anHtmlErrorPageIsOneClearLine() throws Exception {
    Run run = new Run("html");
    assertThat(run.exit).isEqualTo(ScenarioClient.FAILED);
    assertThat(run.printed.lines()).as(run.printed).hasSize(1);
    assertThat(run.printed).contains("answered 502 with a body that is not JSON (text/html")
        .doesNotContain("Exception").doesNotContain("\tat ");
  }

  @Test
  void aBodyOverTheBoundIsRefusedInOneLine() throws Exception {
    Run run = new Run("huge");
    assertThat(run.exit).isEqualTo(ScenarioClient.FAILED);
    assertThat(run.printed.lines()).as(run.printed).hasSize(1);
    assertThat(run.printed).contains("longer than " + BoundedHttp.MAX_BODY + " bytes");
  }

  @Test
  void controlCharactersOfTheAnswersNeverReachTheTerminal() throws Exception {
    Run run = new Run("escapes");
    assertThat(run.exit).as(run.printed).isEqualTo(ScenarioClient.DONE);
    assertThat(answers.statusReads.get()).isPositive();
    assertThat(run.printed).contains("Title]0;pwned").contains("red [31mtext reversed  line")
        .contains("calls[2J").contains("event[1A");
    assertThat(run.printed.codePoints().filter(c -> c != '\n' && (Character.isISOControl(c)
        || Character.getType(c) == Character.FORMAT))).as(run.printed).isEmpty();

    Run busy = new Run("busy");
    assertThat(busy.exit).isEqualTo(ScenarioClient.BUSY);
    assertThat(busy.printed).isEqualTo("shepherd demo: already running[31m" + System.lineSeparator());
  }

  @Test
  void theLoadGeneratorStopsReadingAnAnswerPastTheBound() throws Exception {
    answers.mode = "huge";
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
      LoadGenerator.run(URI.create(server.uri() + "/"), java.time.Duration.ofSeconds(2), out);
    }
    String done = bytes.toString(StandardCharsets.UTF_8).lines().filter(l -> l.contains("load done"))
        .findFirst().orElseThrow();
    // Every answer is 8 MiB with status 202: each one counts as failed, none as answered.
    assertThat(done).contains("IOException").doesNotContain(" 202=");
  }

  @Test
  @org.junit.jupiter.api.Timeout(value = 2, unit = java.util.concurrent.TimeUnit.MINUTES) // fails, not hangs, without the bound
  void anAnswerThatStallsMidBodyEndsInOneLineAfterTheBound() throws Exception {
    // The head arrives at once, so the request's own timeout (which ends at the head) never fires.
    // The bound is 20 s; 2 s here, so the test does not wait out the real one.
    Run run = new Run("stalled", java.time.Duration.ofSeconds(2));
    assertThat(run.exit).isEqualTo(ScenarioClient.FAILED);
    assertThat(run.printed.lines()).as(run.printed).hasSize(1);
    assertThat(run.printed).contains("no whole answer from").contains("within 2000 ms");
  }
}
