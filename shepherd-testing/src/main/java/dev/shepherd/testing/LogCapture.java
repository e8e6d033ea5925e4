package dev.shepherd.testing;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Collects what is logged to one class's logger until closed, for tests that check a log line: its
 * text, its level, or that there is none. Works for {@link System.Logger} too, whose default
 * backend is {@code java.util.logging} (its {@code DEBUG} is {@link Level#FINE}).
 *
 * <pre>{@code
 * try (LogCapture log = LogCapture.of(MyService.class)) {
 *   service.doSomething();
 *   assertThat(log.messages()).anySatisfy(m -> assertThat(m).contains("retrying"));
 * }
 * }</pre>
 *
 * <p>The lists are live and thread-safe: records logged by other threads appear as they are
 * logged. The capture holds its logger strongly ({@code java.util.logging} holds loggers weakly, and
 * a collected logger would lose the handler). Close it to remove the handler and give back the
 * logger's level.
 */
public final class LogCapture implements AutoCloseable {

  private final Logger logger;
  private final @Nullable Level levelBefore;
  private final boolean levelChanged;
  private final List<LogRecord> records = new CopyOnWriteArrayList<>();
  private final List<String> messages = new CopyOnWriteArrayList<>();
  private final Handler handler =
      new Handler() {
        @Override
        public void publish(LogRecord record) {
          records.add(record);
          messages.add(String.valueOf(record.getMessage()));
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
      };

  private LogCapture(Class<?> loggerOf, boolean allLevels) {
    this.logger = Logger.getLogger(Objects.requireNonNull(loggerOf, "loggerOf").getName());
    this.levelBefore = logger.getLevel();
    this.levelChanged = allLevels;
    if (allLevels) {
      logger.setLevel(Level.ALL);
    }
    logger.addHandler(handler);
  }

  /**
   * Starts collecting what the logger named after {@code loggerOf} logs at the levels it logs now.
   *
   * @param loggerOf the class whose logger to watch
   * @return the capture; close it after the test
   * @throws NullPointerException if {@code loggerOf} is null
   */
  public static LogCapture of(Class<?> loggerOf) {
    return new LogCapture(loggerOf, false);
  }

  /**
   * Starts collecting everything the logger named after {@code loggerOf} logs, debug levels
   * included (its level is set to {@link Level#ALL} until {@link #close()}).
   *
   * @param loggerOf the class whose logger to watch
   * @return the capture; close it after the test
   * @throws NullPointerException if {@code loggerOf} is null
   */
  public static LogCapture allLevels(Class<?> loggerOf) {
    return new LogCapture(loggerOf, true);
  }

  /**
   * Returns the records so far, oldest first (a live view).
   *
   * @return the records
   */
  public List<LogRecord> records() {
    return records;
  }

  /**
   * Returns the messages of the records so far, oldest first (a live view).
   *
   * @return the messages, unformatted
   */
  public List<String> messages() {
    return messages;
  }

  /**
   * Returns the messages of the records so far at {@code level} exactly, oldest first (a copy: call
   * it again to see later records).
   *
   * @param level the level, such as {@link Level#WARNING}
   * @return the messages, unformatted
   * @throws NullPointerException if {@code level} is null
   */
  public List<String> messagesAt(Level level) {
    Objects.requireNonNull(level, "level");
    return records.stream().filter(r -> level.equals(r.getLevel()))
        .map(r -> String.valueOf(r.getMessage())).toList();
  }

  /** Removes the handler and gives the logger its level back. */
  @Override
  public void close() {
    logger.removeHandler(handler);
    if (levelChanged) {
      logger.setLevel(levelBefore);
    }
  }
}
