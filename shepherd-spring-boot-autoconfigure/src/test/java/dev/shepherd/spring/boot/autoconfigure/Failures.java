package dev.shepherd.spring.boot.autoconfigure;

import org.springframework.boot.test.context.assertj.ApplicationContextAssertProvider;

/** Reads a failed start-up's messages, causes included, for asserting on the property a failure names. */
public final class Failures {

  private Failures() {}

  /**
   * Returns every message of the start-up failure's cause chain, one per line.
   *
   * @param context a context that failed to start
   * @return the messages
   * @throws AssertionError if the context started
   */
  public static String of(ApplicationContextAssertProvider<?> context) {
    Throwable failure = context.getStartupFailure();
    if (failure == null) {
      throw new AssertionError("the context started, but a failure was expected");
    }
    StringBuilder messages = new StringBuilder();
    for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
      messages.append(t.getClass().getName()).append(": ").append(t.getMessage()).append('\n');
    }
    return messages.toString();
  }
}
