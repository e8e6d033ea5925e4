package dev.shepherd.core.internal;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;
import org.jspecify.annotations.Nullable;

/**
 * A response body of the JDK's HTTP client read into memory up to a limit: past it the exchange is
 * cancelled (nothing more is read) and the body fails with an {@link IOException} naming the limit.
 * The JDK's own {@code BodyHandlers.ofByteArray()} and {@code ofString()} read a body of any length
 * (a limiting handler arrived only in Java 25).
 */
public final class LimitedBody implements HttpResponse.BodySubscriber<byte[]> {

  private final int max;
  private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
  private final CompletableFuture<byte[]> body = new CompletableFuture<>();
  private volatile Flow.@Nullable Subscription subscription;

  private LimitedBody(int max) {
    this.max = max;
  }

  /**
   * Returns a handler whose bodies are read up to {@code max} bytes.
   *
   * @param max the most bytes read
   * @return the handler
   * @throws IllegalArgumentException if {@code max} is negative
   */
  public static HttpResponse.BodyHandler<byte[]> handler(int max) {
    Require.atLeast(max, 0L, "max");
    return info -> new LimitedBody(max);
  }

  @Override
  public CompletionStage<byte[]> getBody() {
    return body;
  }

  @Override
  public void onSubscribe(Flow.Subscription s) {
    subscription = s;
    s.request(Long.MAX_VALUE);
  }

  @Override
  public void onNext(List<ByteBuffer> items) {
    if (body.isDone()) {
      return;
    }
    for (ByteBuffer item : items) {
      if (buffer.size() + (long) item.remaining() > max) {
        Flow.Subscription s = subscription;
        if (s != null) {
          s.cancel();
        }
        body.completeExceptionally(new IOException("the response body is longer than " + max + " bytes"));
        return;
      }
      byte[] chunk = new byte[item.remaining()];
      item.get(chunk);
      buffer.writeBytes(chunk);
    }
  }

  @Override
  public void onError(Throwable error) {
    body.completeExceptionally(error);
  }

  @Override
  public void onComplete() {
    body.complete(buffer.toByteArray());
  }
}
