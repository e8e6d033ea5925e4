package dev.shepherd.pool;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/** Collects the messages logged to one class's logger until closed. */
final class LogCapture implements AutoCloseable {

  private final Logger logger;
  private final List<String> messages = new CopyOnWriteArrayList<>();
  private final Handler handler =
      new Handler() {
        @Override
        public void publish(LogRecord record) {
          messages.add(record.getMessage());
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
      };

  private LogCapture(Class<?> loggerOf) {
    this.logger = Logger.getLogger(loggerOf.getName());
    logger.addHandler(handler);
  }

  /** Starts collecting what is logged to the logger named after {@code loggerOf}. */
  static LogCapture of(Class<?> loggerOf) {
    return new LogCapture(loggerOf);
  }

  /** The messages so far, oldest first (a live view). */
  List<String> messages() {
    return messages;
  }

  @Override
  public void close() {
    logger.removeHandler(handler);
  }
}
