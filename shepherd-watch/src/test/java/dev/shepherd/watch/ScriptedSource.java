package dev.shepherd.watch;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A test source whose every fetch blocks until the test scripts its answer: a value, an exception
 * or "hang until interrupted". Records each call's key and minIndex and counts fetches in flight.
 */
final class ScriptedSource implements WatchSource<String> {

  record Call(String key, long minIndex, Duration maxWait) {}

  private sealed interface Answer {}

  private record Value(String value, long index) implements Answer {}

  private record Failure(Exception error) implements Answer {}

  final List<Call> calls = new CopyOnWriteArrayList<>();
  final List<String> released = new CopyOnWriteArrayList<>();
  final AtomicInteger inFlight = new AtomicInteger();
  final AtomicInteger maxInFlight = new AtomicInteger();
  final AtomicInteger interrupted = new AtomicInteger();
  private final LinkedBlockingQueue<Answer> answers = new LinkedBlockingQueue<>();

  void answer(String value, long index) {
    answers.add(new Value(value, index));
  }

  void fail(Exception error) {
    answers.add(new Failure(error));
  }

  int fetches() {
    return calls.size();
  }

  @Override
  public Versioned<String> fetch(String key, long minIndex, Duration maxWait) throws Exception {
    calls.add(new Call(key, minIndex, maxWait));
    int now = inFlight.incrementAndGet();
    maxInFlight.accumulateAndGet(now, Math::max);
    try {
      Answer answer = answers.poll(1, TimeUnit.HOURS);
      return switch (answer) {
        case Value v -> new Versioned<>(v.value(), v.index());
        case Failure f -> throw f.error();
        case null -> throw new AssertionError("no answer scripted");
      };
    } catch (InterruptedException e) {
      interrupted.incrementAndGet();
      throw e;
    } finally {
      inFlight.decrementAndGet();
    }
  }

  @Override
  public void release(String key) {
    released.add(key);
  }
}
