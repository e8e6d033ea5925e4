package dev.shepherd.idempotency.servlet;

import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpServletResponseWrapper;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.Charset;
import java.nio.charset.IllegalCharsetNameException;
import java.nio.charset.StandardCharsets;
import java.nio.charset.UnsupportedCharsetException;
import java.util.Arrays;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * A response wrapper that holds the application's body until the filter has stored it, so that a
 * response is only sent once it can be replayed, and a store failure can still become a 503.
 *
 * <h2>State machine</h2>
 *
 * <pre>
 *            getOutputStream()           getWriter()
 *   body:  UNDECIDED ───────────▶ STREAM   UNDECIDED ──▶ WRITER   (reset() returns to UNDECIDED;
 *                                                                  mixing the two throws ISE)
 *
 *   delivery:
 *     HOLDING ── body grows past the storage limit ──▶ STREAMING (capture dropped: overflowed)
 *     HOLDING ── the same, when streaming is refused ▶ DISCARDED (overflowed, refused: the write
 *                                                              throws IOException)
 *     HOLDING ── filter: passThrough() (async)      ──▶ STREAMING (capture dropped)
 *     HOLDING ── filter: deliver()                  ──▶ SENT      (held body / sendError sent)
 *     HOLDING ── filter: discard()                  ──▶ DISCARDED (nothing of the body sent)
 *     STREAMING ── the container's stream throws    ──▶ STREAMING, streamFailed (the client went
 *                                                      away; the handler's effects happened)
 * </pre>
 *
 * <p>{@code sendRedirect} does not leave HOLDING: it sets status 302 and an absolute
 * {@code Location} (resolved against the request URL, as the Servlet specification asks of the
 * container) on the real response and ends the body, as {@code sendError} does; the redirect
 * reaches the client at {@link #deliver()}, after it was stored, like any other held response.
 * A redirect that reached the client before its request's outcome (or its transaction) was
 * committed could point at something a retry never sees.
 *
 * <p>While HOLDING, bytes go to a private buffer and never to the container, so the real response
 * stays uncommitted: status and headers are set on it directly (they are read back for storage),
 * but the body, {@code flushBuffer()}, {@code sendError()} and {@code close()} are deferred until
 * {@link #deliver()}. {@code sendError} is recorded and replayed as a real {@code sendError} on
 * delivery so the container renders its usual error page. In STREAMING the bytes go straight to the
 * container's stream.
 *
 * <p>The writer is a {@code PrintWriter} over an encoder into the same byte path, using the
 * character encoding the response has when {@code getWriter()} is called; like the container, it
 * then fixes that encoding ({@code setCharacterEncoding}) so the {@code Content-Type} names it, and
 * later attempts to change it are ignored, as the Servlet specification says.
 *
 * <p>The byte path and the delivery transitions are synchronized, so a write from another thread
 * (an async handler racing the filter's {@code passThrough()}) is never torn; everything else is
 * confined to the request's thread, as with any response. Async responses are out of scope: see
 * {@link IdempotencyFilter}.
 */
final class CapturingResponse extends HttpServletResponseWrapper {

  private enum BodyMode { UNDECIDED, STREAM, WRITER }

  private enum Delivery { HOLDING, STREAMING, SENT, DISCARDED }

  private final int storageLimit;
  private final boolean refuseOverflow;
  private final HttpServletRequest request;
  private BodyMode mode = BodyMode.UNDECIDED;
  private Delivery delivery = Delivery.HOLDING;
  private byte[] buffer = new byte[256];
  private int size;
  private boolean overflowed;
  private boolean refused;
  private boolean streamFailed;
  private boolean closed;
  private int errorStatus = -1;
  private @Nullable String errorMessage;
  private @Nullable ServletOutputStream stream;
  private @Nullable PrintWriter writer;
  private @Nullable Charset writerCharset;

  /**
   * Wraps a response.
   *
   * @param request the request, to resolve relative redirects against
   * @param storageLimit the largest body that is held
   * @param refuseOverflow true to refuse a body past the limit (the write throws) instead of
   *     streaming it: a streamed body reaches the client before anything is committed
   */
  CapturingResponse(HttpServletRequest request, HttpServletResponse response, int storageLimit,
      boolean refuseOverflow) {
    super(response);
    this.request = request;
    this.storageLimit = storageLimit;
    this.refuseOverflow = refuseOverflow;
  }

  private HttpServletResponse real() {
    return (HttpServletResponse) getResponse();
  }

  // ---- what the filter reads and decides -------------------------------------------------------

  /** True if the body outgrew the storage limit, so the response cannot be stored. */
  boolean overflowed() {
    return overflowed;
  }

  /**
   * True if the body outgrew the storage limit while streaming was refused: nothing was sent, the
   * write that crossed the limit threw, and the response is lost.
   */
  boolean refused() {
    return refused;
  }

  /**
   * True if the container's stream failed after streaming started: the client went away (or
   * stopped reading) while a response too large to store was sent, so the handler's effects
   * happened whatever it does with the exception.
   */
  boolean streamFailed() {
    return streamFailed;
  }

  /** True while nothing of the body has reached the container. */
  boolean holding() {
    return delivery == Delivery.HOLDING;
  }

  /** The status that will be sent (the {@code sendError} status if one was recorded). */
  int status() {
    return errorStatus >= 0 ? errorStatus : real().getStatus();
  }

  /** The recorded {@code sendError} message, or null; only meaningful if {@link #sentError()}. */
  @Nullable String errorMessage() {
    return errorMessage;
  }

  /** True if the application called {@code sendError}. */
  boolean sentError() {
    return errorStatus >= 0;
  }

  /** The held body; flushes the writer's encoder first. Only while holding and not overflowed. */
  byte[] body() {
    flushEncoder();
    return Arrays.copyOf(buffer, size);
  }

  /** The response headers as set so far, in order, names as the container reports them. */
  List<String[]> headers() {
    return IdempotencyFilter.headersOf(real());
  }

  /**
   * Sends what the application produced: the recorded {@code sendError}, or the held body. A no-op
   * unless holding.
   *
   * @throws IOException if the client connection fails
   */
  synchronized void deliver() throws IOException {
    if (delivery != Delivery.HOLDING) {
      return;
    }
    flushEncoder();
    delivery = Delivery.SENT;
    if (errorStatus >= 0) {
      if (errorMessage == null) {
        real().sendError(errorStatus);
      } else {
        real().sendError(errorStatus, errorMessage);
      }
      return;
    }
    if (mode != BodyMode.UNDECIDED || size > 0) {
      ServletOutputStream out = real().getOutputStream();
      out.write(buffer, 0, size);
      if (closed) {
        out.close();
      }
    }
    buffer = new byte[0];
  }

  /** Drops the held body: the filter answers with something else (a 503), or an exception flies. */
  synchronized void discard() {
    if (delivery == Delivery.HOLDING) {
      delivery = Delivery.DISCARDED;
      buffer = new byte[0];
      size = 0;
    }
  }

  /** Sends what is held and lets every later write through, uncaptured (async requests). */
  synchronized void passThrough() throws IOException {
    if (delivery != Delivery.HOLDING) {
      return;
    }
    flushEncoder();
    if (errorStatus >= 0) {
      deliver();
      return;
    }
    startStreaming();
  }

  private void startStreaming() throws IOException {
    delivery = Delivery.STREAMING;
    overflowed = true;
    int held = size;
    byte[] bytes = buffer;
    buffer = new byte[0];
    size = 0;
    if (held > 0) {
      streamed(() -> real().getOutputStream().write(bytes, 0, held));
    }
  }

  /** An operation on the container's stream, which throws when the client went away. */
  private interface StreamOperation {
    void run() throws IOException;
  }

  /** Runs an operation on the container's stream while streaming, noting when it fails. */
  private void streamed(StreamOperation operation) throws IOException {
    try {
      operation.run();
    } catch (IOException e) {
      streamFailed = true;
      throw e;
    }
  }

  private void flushEncoder() {
    PrintWriter w = writer;
    if (w != null && delivery == Delivery.HOLDING) {
      w.flush();
    }
  }

  // ---- the byte path -----------------------------------------------------------------------------

  private synchronized void write(byte[] b, int off, int len) throws IOException {
    switch (delivery) {
      case HOLDING -> {
        if (closed || errorStatus >= 0) {
          return; // the response is logically committed: writes are ignored, as by the container
        }
        if ((long) size + len > storageLimit) {
          if (refuseOverflow) {
            overflowed = true;
            refused = true;
            delivery = Delivery.DISCARDED;
            buffer = new byte[0];
            size = 0;
            throw new IOException("the response is larger than the storage limit of "
                + storageLimit + " bytes; in transactional mode it cannot be streamed, since it"
                + " would reach the client before the request's transaction commits");
          }
          startStreaming();
          streamed(() -> real().getOutputStream().write(b, off, len));
          return;
        }
        if (size + len > buffer.length) {
          buffer = Arrays.copyOf(buffer, Math.max(size + len, Math.min(buffer.length * 2,
              storageLimit)));
        }
        System.arraycopy(b, off, buffer, size, len);
        size += len;
      }
      case STREAMING -> streamed(() -> real().getOutputStream().write(b, off, len));
      case SENT, DISCARDED -> {
        // After the filter decided, late writes (from a misbehaving application) go nowhere.
      }
    }
  }

  private synchronized void flushBytes() throws IOException {
    if (delivery == Delivery.STREAMING) {
      streamed(() -> real().getOutputStream().flush());
    }
  }

  private synchronized void closeBytes() throws IOException {
    if (delivery == Delivery.STREAMING) {
      streamed(() -> real().getOutputStream().close());
    } else {
      closed = true;
    }
  }

  // ---- the Servlet API ---------------------------------------------------------------------------

  /**
   * Fixes how the body is written, at the first {@code getOutputStream()} or {@code getWriter()}:
   * the Servlet API lets a response use one of them, never both.
   */
  private void useBody(BodyMode wanted) {
    if (mode != BodyMode.UNDECIDED && mode != wanted) {
      throw new IllegalStateException(
          (mode == BodyMode.STREAM ? "getOutputStream()" : "getWriter()")
              + " was already called on this response");
    }
    mode = wanted;
  }

  @Override
  public ServletOutputStream getOutputStream() {
    useBody(BodyMode.STREAM);
    ServletOutputStream s = stream;
    if (s == null) {
      s = new CapturingStream();
      stream = s;
    }
    return s;
  }

  @Override
  public PrintWriter getWriter() {
    useBody(BodyMode.WRITER);
    PrintWriter w = writer;
    if (w == null) {
      String name = real().getCharacterEncoding();
      Charset charset;
      try {
        charset = name == null ? StandardCharsets.ISO_8859_1 : Charset.forName(name);
      } catch (IllegalCharsetNameException | UnsupportedCharsetException e) {
        charset = StandardCharsets.ISO_8859_1;
      }
      // What the container does on getWriter(): the encoding becomes explicit and final.
      real().setCharacterEncoding(charset.name());
      writerCharset = charset;
      w = new PrintWriter(new OutputStreamWriter(new CapturingStream(), charset));
      writer = w;
    }
    return w;
  }

  @Override
  public void setCharacterEncoding(String charset) {
    if (writerCharset == null) {
      super.setCharacterEncoding(charset);
    }
  }

  @Override
  public void setContentType(String type) {
    Charset fixed = writerCharset;
    if (fixed == null || type == null) {
      super.setContentType(type);
      return;
    }
    int semicolon = type.indexOf(';');
    super.setContentType(semicolon < 0 ? type : type.substring(0, semicolon).trim());
    super.setCharacterEncoding(fixed.name());
  }

  @Override
  public void flushBuffer() throws IOException {
    if (delivery == Delivery.HOLDING) {
      flushEncoder();
    } else if (delivery == Delivery.STREAMING) {
      streamed(super::flushBuffer);
    }
  }

  @Override
  public boolean isCommitted() {
    return closed || errorStatus >= 0 || delivery != Delivery.HOLDING || super.isCommitted();
  }

  /** Drops the body captured so far, as a reset does; refused once the response is committed. */
  private void discardBody() {
    if (isCommitted()) {
      throw new IllegalStateException("the response is already committed");
    }
    flushEncoder();
    size = 0;
  }

  @Override
  public void resetBuffer() {
    discardBody();
    super.resetBuffer();
  }

  @Override
  public void reset() {
    discardBody();
    super.reset();
    mode = BodyMode.UNDECIDED;
    writer = null;
    writerCharset = null;
    stream = null;
  }

  @Override
  public void sendError(int sc, @Nullable String msg) {
    recordError(sc, msg);
  }

  @Override
  public void sendError(int sc) {
    recordError(sc, null);
  }

  private void recordError(int sc, @Nullable String msg) {
    if (isCommitted()) {
      throw new IllegalStateException("the response is already committed");
    }
    flushEncoder();
    size = 0;
    errorStatus = sc;
    errorMessage = msg;
  }

  /**
   * Records a redirect as the container would send it, without sending it: status 302, the
   * location made absolute, the body cleared and ended; it reaches the client at
   * {@link #deliver()}, once stored.
   */
  @Override
  public void sendRedirect(String location) {
    if (isCommitted()) {
      throw new IllegalStateException("the response is already committed");
    }
    flushEncoder();
    size = 0;
    real().resetBuffer();
    real().setHeader("Location", absolute(location));
    real().setStatus(HttpServletResponse.SC_FOUND);
    closed = true;
  }

  /** The location resolved against the request URL (RFC 3986), or as given if it is no URI. */
  private String absolute(String location) {
    try {
      return new URI(request.getRequestURL().toString()).resolve(new URI(location)).toString();
    } catch (URISyntaxException | IllegalArgumentException e) {
      return location;
    }
  }

  /** The byte stream of both body modes. */
  private final class CapturingStream extends ServletOutputStream {
    private final byte[] one = new byte[1];

    @Override
    public void write(int b) throws IOException {
      one[0] = (byte) b;
      CapturingResponse.this.write(one, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      java.util.Objects.checkFromIndexSize(off, len, b.length);
      CapturingResponse.this.write(b, off, len);
    }

    @Override
    public void flush() throws IOException {
      flushBytes();
    }

    @Override
    public void close() throws IOException {
      closeBytes();
    }

    @Override
    public boolean isReady() {
      return true;
    }

    @Override
    public void setWriteListener(WriteListener listener) {
      throw new UnsupportedOperationException(
          "non-blocking output is not supported under IdempotencyFilter (async is out of scope)");
    }
  }
}
