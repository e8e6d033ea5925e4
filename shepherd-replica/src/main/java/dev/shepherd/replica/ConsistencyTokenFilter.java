package dev.shepherd.replica;

import dev.shepherd.core.Require;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.Cookie;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * A Servlet filter that carries a client's {@link ConsistencyToken} between requests: before the
 * request it reads the signed token from a header or cookie into the {@link ConsistencyContext};
 * when the application {@linkplain ConsistencyContext#recordWrite records a write}, it sets the
 * merged token on the response in the same header and cookie.
 *
 * <pre>{@code
 * ConsistencyTokenFilter filter = ConsistencyTokenFilter.builder(codec).build();
 * context.addFilter(new FilterHolder(filter), "/*", EnumSet.of(DispatcherType.REQUEST));
 * }</pre>
 *
 * <p>A token in both header and cookie: the greater position wins. A forged, altered or malformed
 * token is answered with {@code 400 Bad Request} naming the problem, unless
 * {@link Builder#ignoreInvalidTokens()} is set (then the request runs without a token, which only
 * costs it read-your-writes). The request attribute {@link #ATTRIBUTE} holds the token that arrived.
 *
 * <p>Defaults: header {@value #DEFAULT_HEADER}, cookie {@value #DEFAULT_COOKIE} ({@code HttpOnly},
 * {@code Secure}, {@code SameSite=Lax}, path {@code /}, max age 1 hour). Thread-safe.
 */
public final class ConsistencyTokenFilter implements Filter {

  /** The default header name. */
  public static final String DEFAULT_HEADER = "Shepherd-Consistency-Token";
  /** The default cookie name. */
  public static final String DEFAULT_COOKIE = "shepherd_consistency";
  /** The request attribute holding the token that arrived with the request, if any. */
  public static final String ATTRIBUTE = ConsistencyToken.class.getName();

  private static final System.Logger LOG = System.getLogger(ConsistencyTokenFilter.class.getName());

  private final ConsistencyTokenCodec codec;
  private final @Nullable String header;
  private final @Nullable String cookie;
  private final boolean secure;
  private final int maxAgeSeconds;
  private final boolean rejectInvalid;

  private ConsistencyTokenFilter(Builder builder) {
    this.codec = builder.codec;
    this.header = builder.header;
    this.cookie = builder.cookie;
    this.secure = builder.secure;
    this.maxAgeSeconds = (int) Math.min(Integer.MAX_VALUE, builder.maxAge.toSeconds());
    this.rejectInvalid = builder.rejectInvalid;
  }

  /**
   * Returns a builder for a filter that signs and verifies with {@code codec}.
   *
   * @param codec the codec
   * @return the builder
   * @throws NullPointerException if {@code codec} is null
   */
  public static Builder builder(ConsistencyTokenCodec codec) {
    return new Builder(Require.nonNull(codec, "codec"));
  }

  @Override
  public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
      throws IOException, ServletException {
    if (!(request instanceof HttpServletRequest http) || !(response instanceof HttpServletResponse httpResponse)) {
      chain.doFilter(request, response);
      return;
    }
    ConsistencyToken incoming;
    try {
      incoming = ConsistencyToken.merge(fromHeader(http), fromCookie(http));
    } catch (InvalidConsistencyTokenException e) {
      if (rejectInvalid) {
        httpResponse.sendError(HttpServletResponse.SC_BAD_REQUEST, e.getMessage());
        return;
      }
      LOG.log(Level.DEBUG, "ignoring " + e.getMessage());
      incoming = null;
    }
    if (incoming != null) {
      http.setAttribute(ATTRIBUTE, incoming);
    }
    ConsistencyContext.Scope scope = new ConsistencyContext.Scope(incoming, token -> write(httpResponse, token));
    ConsistencyContext.Scope previous = ConsistencyContext.enter(scope);
    try {
      chain.doFilter(request, response);
    } finally {
      ConsistencyContext.restore(previous);
    }
  }

  private @Nullable ConsistencyToken fromHeader(HttpServletRequest request) {
    if (header == null) {
      return null;
    }
    String value = request.getHeader(header);
    return value == null || value.isBlank() ? null : codec.decode(value.trim());
  }

  private @Nullable ConsistencyToken fromCookie(HttpServletRequest request) {
    if (cookie == null || request.getCookies() == null) {
      return null;
    }
    ConsistencyToken found = null;
    for (Cookie c : request.getCookies()) {
      if (cookie.equals(c.getName()) && c.getValue() != null && !c.getValue().isBlank()) {
        found = codec.decode(c.getValue()).merge(found);
      }
    }
    return found;
  }

  private void write(HttpServletResponse response, ConsistencyToken token) {
    if (response.isCommitted()) {
      LOG.log(Level.WARNING, "response already committed: cannot send consistency token " + token.lsn()
          + "; call ConsistencyContext.recordWrite before writing the body");
      return;
    }
    String text = codec.encode(token);
    if (header != null) {
      response.setHeader(header, text);
    }
    if (cookie != null) {
      Cookie c = new Cookie(cookie, text);
      c.setPath("/");
      c.setHttpOnly(true);
      c.setSecure(secure);
      c.setMaxAge(maxAgeSeconds);
      c.setAttribute("SameSite", "Lax");
      response.addCookie(c);
    }
  }

  /** Builds a {@link ConsistencyTokenFilter}. Not thread-safe. */
  public static final class Builder {
    private final ConsistencyTokenCodec codec;
    private @Nullable String header = DEFAULT_HEADER;
    private @Nullable String cookie = DEFAULT_COOKIE;
    private boolean secure = true;
    private Duration maxAge = Duration.ofHours(1);
    private boolean rejectInvalid = true;

    private Builder(ConsistencyTokenCodec codec) {
      this.codec = codec;
    }

    /**
     * Sets the header name, or null to use no header. Default {@value #DEFAULT_HEADER}.
     *
     * @param name the header name, or null
     * @return this builder
     */
    public Builder header(@Nullable String name) {
      this.header = name == null ? null : Require.notEmpty(name, "header");
      return this;
    }

    /**
     * Sets the cookie name, or null to use no cookie. Default {@value #DEFAULT_COOKIE}.
     *
     * @param name the cookie name, or null
     * @return this builder
     */
    public Builder cookie(@Nullable String name) {
      this.cookie = name == null ? null : Require.notEmpty(name, "cookie");
      return this;
    }

    /**
     * Sets whether the cookie is {@code Secure} (sent back over HTTPS only). Default true.
     *
     * @param secure the flag
     * @return this builder
     */
    public Builder secureCookie(boolean secure) {
      this.secure = secure;
      return this;
    }

    /**
     * Sets the cookie's max age. Default 1 hour; a position older than that is replayed everywhere.
     *
     * @param maxAge the max age
     * @return this builder
     * @throws NullPointerException if {@code maxAge} is null
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder cookieMaxAge(Duration maxAge) {
      this.maxAge = Require.positive(maxAge, "cookieMaxAge");
      return this;
    }

    /**
     * Makes the filter run requests with an invalid token as if they had none, instead of answering
     * {@code 400}.
     *
     * @return this builder
     */
    public Builder ignoreInvalidTokens() {
      this.rejectInvalid = false;
      return this;
    }

    /**
     * Builds the filter.
     *
     * @return the filter
     * @throws IllegalStateException if both header and cookie are disabled
     */
    public ConsistencyTokenFilter build() {
      Require.state(header != null || cookie != null, "ConsistencyTokenFilter needs a header or a cookie");
      return new ConsistencyTokenFilter(this);
    }
  }
}
