package dev.shepherd.idempotency.servlet;

import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UnsupportedEncodingException;
import java.net.URLDecoder;
import java.nio.charset.Charset;
import java.nio.charset.IllegalCharsetNameException;
import java.nio.charset.StandardCharsets;
import java.nio.charset.UnsupportedCharsetException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A request whose body the filter has already read (to fingerprint it), handed to the application
 * in its place: {@link #getInputStream()} and {@link #getReader()} replay the cached bytes, and for
 * {@code application/x-www-form-urlencoded} bodies the parameter methods parse the cached body
 * together with the query string, since the container can no longer read the body itself. The
 * filter checks such a body against its form limits (size and number of fields) before it reaches
 * here, as the container would before parsing it.
 *
 * <p>Multipart bodies ({@code getParts()}) are not re-parsed: the container's part parser reads the
 * consumed stream. Confined to the request's thread, like the request it wraps.
 */
final class CachedBodyRequest extends HttpServletRequestWrapper {

  /** The outcome of reading a request body against a limit. */
  sealed interface Body {}

  /** The whole body, at most the limit. */
  @SuppressWarnings("ArrayRecordComponent") // private hand-off of the bytes just read, never compared
  record Read(byte[] bytes) implements Body {}

  /** The body is larger than the limit; {@code declared} is Content-Length, or -1 if unknown. */
  record TooLarge(long declared) implements Body {}

  private final byte[] body;
  private boolean streamTaken;
  private boolean readerTaken;
  private @Nullable Map<String, String[]> parameters;

  CachedBodyRequest(HttpServletRequest request, byte[] body) {
    super(request);
    this.body = body;
  }

  /**
   * Reads the body of {@code request}, refusing without reading when Content-Length already exceeds
   * {@code limit}, and stopping one byte past the limit otherwise.
   *
   * @throws IOException if reading from the client fails
   */
  static Body read(HttpServletRequest request, int limit) throws IOException {
    long declared = request.getContentLengthLong();
    if (declared > limit) {
      return new TooLarge(declared);
    }
    if (declared == 0) {
      return new Read(new byte[0]);
    }
    InputStream in = request.getInputStream();
    if (declared > 0) {
      // Known length within the limit: read exactly that much (the container enforces it).
      return new Read(in.readNBytes((int) declared));
    }
    byte[] bytes = in.readNBytes(limit);
    if (bytes.length == limit && in.read() >= 0) {
      return new TooLarge(declared);
    }
    return new Read(bytes);
  }

  byte[] body() {
    return body;
  }

  /** True if the request declares an {@code application/x-www-form-urlencoded} body. */
  static boolean isForm(HttpServletRequest request) {
    String type = request.getContentType();
    return type != null
        && type.toLowerCase(Locale.ROOT).startsWith("application/x-www-form-urlencoded");
  }

  /**
   * Counts the fields of a URL-encoded form body (its non-empty {@code &}-separated pairs), the
   * number of entries parsing it would make, without parsing it.
   */
  static int formFields(byte[] body) {
    int fields = 0;
    boolean inField = false;
    for (byte b : body) {
      if (b == '&') {
        inField = false;
      } else if (!inField) {
        inField = true;
        fields++;
      }
    }
    return fields;
  }

  @Override
  public ServletInputStream getInputStream() {
    if (readerTaken) {
      throw new IllegalStateException("getReader() was already called on this request");
    }
    streamTaken = true;
    return new CachedInputStream(body);
  }

  @Override
  public BufferedReader getReader() throws UnsupportedEncodingException {
    if (streamTaken) {
      throw new IllegalStateException("getInputStream() was already called on this request");
    }
    readerTaken = true;
    return new BufferedReader(new InputStreamReader(new ByteArrayInputStream(body), charset()));
  }

  @Override
  public int getContentLength() {
    return body.length;
  }

  @Override
  public long getContentLengthLong() {
    return body.length;
  }

  private Charset charset() throws UnsupportedEncodingException {
    String name = getCharacterEncoding();
    if (name == null) {
      return StandardCharsets.ISO_8859_1;
    }
    try {
      return Charset.forName(name);
    } catch (IllegalCharsetNameException | UnsupportedCharsetException e) {
      throw new UnsupportedEncodingException(name);
    }
  }

  private Map<String, String[]> parameters() {
    Map<String, String[]> map = parameters;
    if (map == null) {
      if (!isForm(this)) {
        map = super.getParameterMap();
      } else {
        Charset charset;
        try {
          charset = charset();
        } catch (UnsupportedEncodingException e) {
          charset = StandardCharsets.UTF_8;
        }
        Map<String, List<String>> lists = new LinkedHashMap<>();
        String query = getQueryString();
        if (query != null) {
          parse(query, StandardCharsets.UTF_8, lists);
        }
        parse(new String(body, StandardCharsets.ISO_8859_1), charset, lists);
        Map<String, String[]> arrays = new LinkedHashMap<>();
        lists.forEach((name, values) -> arrays.put(name, values.toArray(String[]::new)));
        map = Collections.unmodifiableMap(arrays);
      }
      parameters = map;
    }
    return map;
  }

  private static void parse(String encoded, Charset charset, Map<String, List<String>> into) {
    for (String pair : encoded.split("&", -1)) {
      if (pair.isEmpty()) {
        continue;
      }
      int eq = pair.indexOf('=');
      String name = eq < 0 ? pair : pair.substring(0, eq);
      String value = eq < 0 ? "" : pair.substring(eq + 1);
      try {
        into.computeIfAbsent(URLDecoder.decode(name, charset), n -> new ArrayList<>())
            .add(URLDecoder.decode(value, charset));
      } catch (IllegalArgumentException e) {
        // A malformed escape: the container ignores such a pair too.
      }
    }
  }

  @Override
  public @Nullable String getParameter(String name) {
    String[] values = parameters().get(name);
    return values == null || values.length == 0 ? null : values[0];
  }

  @Override
  public Map<String, String[]> getParameterMap() {
    return parameters();
  }

  @Override
  public Enumeration<String> getParameterNames() {
    return Collections.enumeration(parameters().keySet());
  }

  @Override
  public String @Nullable [] getParameterValues(String name) {
    String[] values = parameters().get(name);
    return values == null ? null : values.clone();
  }

  /** A servlet input stream over the cached bytes; always ready, since nothing blocks. */
  private static final class CachedInputStream extends ServletInputStream {
    private final ByteArrayInputStream in;

    CachedInputStream(byte[] body) {
      this.in = new ByteArrayInputStream(body);
    }

    @Override
    public boolean isFinished() {
      return in.available() == 0;
    }

    @Override
    public boolean isReady() {
      return true;
    }

    @Override
    public void setReadListener(ReadListener listener) {
      // Async I/O is outside the filter's scope (see IdempotencyFilter); tell the listener at once.
      try {
        if (in.available() > 0) {
          listener.onDataAvailable();
        }
        listener.onAllDataRead();
      } catch (IOException e) {
        listener.onError(e);
      }
    }

    @Override
    public int read() {
      return in.read();
    }

    @Override
    public int read(byte[] b, int off, int len) {
      return in.read(b, off, len);
    }

    @Override
    public int available() {
      return in.available();
    }
  }
}
