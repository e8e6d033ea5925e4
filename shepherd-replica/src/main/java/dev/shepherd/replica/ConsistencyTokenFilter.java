package dev.shepherd.replica;

import dev.shepherd.core.internal.Require;
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
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import org.jspecify.annotations.Nullable;

/**
 * A Servlet filter that carries a client's {@link ConsistencyToken} between requests: before the
 * request it reads the signed token from a header or cookie into the {@link ConsistencyContext};
 * when the application {@linkplain ConsistencyContext#recordWrite records a write}, it sets the
 * merged token on the response in the same header and cookie.
 *
 * <pre>{@code
 * ConsistencyTokenFilter filter = ConsistencyTokenFilter.builder(codec)
 *     .policy(ConsistencyTokenPolicy.builder().database(PrimaryIdentity.builder(primary).build()).build())
 *     .build();
 * context.addFilter(new FilterHolder(filter), "/*", EnumSet.of(DispatcherType.REQUEST));
 * }</pre>
 *
 * <p>A token in both header and cookie: the greater position wins. Tokens the
 * {@linkplain Builder#policy(ConsistencyTokenPolicy) policy} rejects (older than its maximum age,
 * issued further in the future than its maximum clock skew, or from another cluster or timeline)
 * are ignored before the header and cookie are merged, and such a cookie is cleared. So is a
 * well-formed token signed with a key id the codec no longer knows ({@link UnknownTokenKeyException}:
 * a key rotated out), in the header as in the cookie.
 *
 * <p>A token that fails verification otherwise (malformed, or forged or altered under a known key)
 * never locks a client out either: in the cookie, which the client cannot easily drop, it is
 * ignored and the cookie cleared ({@code Set-Cookie} with {@code Max-Age=0}); in the header, which
 * the client sent on purpose and can drop, the request is answered {@code 400 Bad Request} as
 * {@code application/problem+json} naming the problem, unless {@link Builder#ignoreInvalidTokens()}
 * is set (then it runs without the token, which only costs it read-your-writes). Each case is
 * counted ({@link #stats()}, the numbers to watch) and logged at {@code DEBUG} only, naming the
 * problem: any client can send any number of bad tokens, which says nothing about this server, so a
 * line per token at {@code INFO} would let it fill the log. The request attribute
 * {@link #ATTRIBUTE} holds the token that was used.
 *
 * <p>Several writes in one request send one token, merged: the header is replaced, and the cookie
 * replaced among the response's {@code Set-Cookie} headers, never added twice.
 *
 * <p>Defaults: header {@value #DEFAULT_HEADER}, cookie {@value #DEFAULT_COOKIE} ({@code HttpOnly},
 * {@code Secure}, {@code SameSite=Lax}, path {@code /}, max age 1 hour), policy
 * {@link ConsistencyTokenPolicy#ofDefaults()}. Thread-safe.
 */
public final class ConsistencyTokenFilter implements Filter {

  /** The default header name. */
  public static final String DEFAULT_HEADER = "Shepherd-Consistency-Token";
  /** The default cookie name. */
  public static final String DEFAULT_COOKIE = "shepherd_consistency";
  /** The request attribute holding the token that arrived with the request and was used, if any. */
  public static final String ATTRIBUTE = ConsistencyToken.class.getName();
  /** The media type of the 400 answer. */
  public static final String PROBLEM_JSON = "application/problem+json";

  private static final System.Logger LOG = System.getLogger(ConsistencyTokenFilter.class.getName());
  private static final String SET_COOKIE = "Set-Cookie";

  private final ConsistencyTokenCodec codec;
  private final ConsistencyTokenPolicy policy;
  private final @Nullable String header;
  private final @Nullable String cookie;
  private final boolean secure;
  private final int maxAgeSeconds;
  private final boolean rejectInvalid;

  private final LongAdder accepted = new LongAdder();
  private final LongAdder expired = new LongAdder();
  private final LongAdder otherHistory = new LongAdder();
  private final LongAdder invalidCookies = new LongAdder();
  private final LongAdder invalidHeaders = new LongAdder();

  private ConsistencyTokenFilter(Builder builder) {
    this.codec = builder.codec;
    this.policy = builder.policy;
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

  /**
   * Counters of the tokens this filter has seen.
   *
   * @param accepted tokens used (header and cookie counted apiece)
   * @param expired tokens ignored as older than the policy's maximum age, or issued further in the
   *     future than its maximum clock skew
   * @param otherHistory tokens ignored as from another cluster or timeline
   * @param invalidCookies cookies that failed verification (signed with an unknown key among them),
   *     ignored and cleared
   * @param invalidHeaders headers that failed verification: answered 400, or ignored (those signed
   *     with an unknown key always, the others with {@link Builder#ignoreInvalidTokens()})
   */
  public record Stats(long accepted, long expired, long otherHistory, long invalidCookies, long invalidHeaders) {}

  /**
   * Returns the counters since the filter was built.
   *
   * @return a snapshot
   */
  public Stats stats() {
    return new Stats(accepted.sum(), expired.sum(), otherHistory.sum(), invalidCookies.sum(), invalidHeaders.sum());
  }

  @Override
  public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
      throws IOException, ServletException {
    if (!(request instanceof HttpServletRequest http) || !(response instanceof HttpServletResponse httpResponse)) {
      chain.doFilter(request, response);
      return;
    }
    boolean clearCookie = false;
    ConsistencyToken fromCookie = null;
    if (cookie != null && http.getCookies() != null) {
      for (Cookie c : http.getCookies()) {
        if (!cookie.equals(c.getName()) || c.getValue() == null || c.getValue().isBlank()) {
          continue;
        }
        ConsistencyToken token;
        try {
          token = codec.decode(c.getValue());
        } catch (InvalidConsistencyTokenException e) {
          invalidCookies.increment();
          LOG.log(Level.DEBUG, () -> "clearing the consistency cookie: " + e.getMessage());
          clearCookie = true;
          continue;
        }
        ConsistencyToken usable = usable(token, "cookie");
        if (usable == null) {
          clearCookie = true;
        }
        fromCookie = ConsistencyToken.merge(usable, fromCookie);
      }
    }
    if (clearCookie) {
      replaceCookie(httpResponse, cookieText("", 0));
    }
    ConsistencyToken fromHeader = null;
    String value = header == null ? null : http.getHeader(header);
    if (value != null && !value.isBlank()) {
      try {
        fromHeader = usable(codec.decode(value.trim()), "header");
      } catch (InvalidConsistencyTokenException e) {
        invalidHeaders.increment();
        // A key rotated out is the server's doing, not the client's: ignore such a token like an expired one.
        if (rejectInvalid && !(e instanceof UnknownTokenKeyException)) {
          LOG.log(Level.DEBUG, () -> "answering 400: " + e.getMessage());
          problem(httpResponse, String.valueOf(e.getMessage()));
          return;
        }
        LOG.log(Level.DEBUG, () -> "ignoring the consistency header: " + e.getMessage());
      }
    }
    ConsistencyToken incoming = ConsistencyToken.merge(fromHeader, fromCookie);
    if (incoming != null) {
      http.setAttribute(ATTRIBUTE, incoming);
    }
    ConsistencyContext.Scope scope = new ConsistencyContext.Scope(incoming, policy::stamp,
        token -> write(httpResponse, token));
    ConsistencyContext.Scope previous = ConsistencyContext.enter(scope);
    try {
      chain.doFilter(request, response);
    } finally {
      ConsistencyContext.restore(previous);
    }
  }

  /** Returns the token if the policy lets it be waited for, else counts and logs why not. */
  private @Nullable ConsistencyToken usable(ConsistencyToken token, String where) {
    return switch (policy.check(token)) {
      case ConsistencyTokenPolicy.Verdict.Usable u -> {
        accepted.increment();
        yield u.token();
      }
      case ConsistencyTokenPolicy.Verdict.Expired e -> {
        expired.increment();
        LOG.log(Level.DEBUG, () -> e.age().isNegative()
            ? "ignoring a consistency " + where + " issued " + e.age().negated() + " in the future (max clock skew "
                + policy.maxClockSkew() + ")"
            : "ignoring a consistency " + where + " issued " + e.age() + " ago (max " + e.maxAge() + ")");
        yield null;
      }
      case ConsistencyTokenPolicy.Verdict.OtherHistory o -> {
        otherHistory.increment();
        LOG.log(Level.DEBUG, () -> "ignoring a consistency " + where + " of " + o.token().database()
            + ", the primary is " + o.current());
        yield null;
      }
    };
  }

  private void problem(HttpServletResponse response, String detail) throws IOException {
    String body = "{\"type\":\"about:blank\",\"title\":\"Invalid consistency token\",\"status\":400,\"detail\":"
        + jsonString(detail) + "}";
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    response.setStatus(HttpServletResponse.SC_BAD_REQUEST);
    response.setContentType(PROBLEM_JSON);
    response.setContentLength(bytes.length);
    response.getOutputStream().write(bytes);
  }

  static String jsonString(String text) {
    StringBuilder out = new StringBuilder(text.length() + 2).append('"');
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        default -> {
          if (c < 0x20 || c == 0x7f || Character.isSurrogate(c)) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.append('"').toString();
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
      replaceCookie(response, cookieText(text, maxAgeSeconds));
    }
  }

  private String cookieText(String value, int maxAge) {
    return cookie + "=" + value + "; Path=/; Max-Age=" + maxAge + (secure ? "; Secure" : "") + "; HttpOnly; SameSite=Lax";
  }

  /**
   * Sets this filter's cookie, replacing one set earlier in the same response (a clearing one, or an
   * earlier write's) and keeping every other {@code Set-Cookie} header.
   */
  private void replaceCookie(HttpServletResponse response, String setCookie) {
    String prefix = cookie + "=";
    List<String> others = new ArrayList<>();
    for (String existing : response.getHeaders(SET_COOKIE)) {
      if (!existing.startsWith(prefix)) {
        others.add(existing);
      }
    }
    response.setHeader(SET_COOKIE, setCookie);
    for (String other : others) {
      response.addHeader(SET_COOKIE, other);
    }
  }

  /** Builds a {@link ConsistencyTokenFilter}. Not thread-safe. */
  public static final class Builder {
    private final ConsistencyTokenCodec codec;
    private ConsistencyTokenPolicy policy = ConsistencyTokenPolicy.ofDefaults();
    private @Nullable String header = DEFAULT_HEADER;
    private @Nullable String cookie = DEFAULT_COOKIE;
    private boolean secure = true;
    private Duration maxAge = Duration.ofHours(1);
    private boolean rejectInvalid = true;

    private Builder(ConsistencyTokenCodec codec) {
      this.codec = codec;
    }

    /**
     * Sets the policy that decides which verified tokens are waited for, and stamps the tokens of
     * writes. Default {@link ConsistencyTokenPolicy#ofDefaults()}: tokens older than an hour are
     * ignored, histories are not checked.
     *
     * @param policy the policy
     * @return this builder
     * @throws NullPointerException if {@code policy} is null
     */
    public Builder policy(ConsistencyTokenPolicy policy) {
      this.policy = Require.nonNull(policy, "policy");
      return this;
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
     * @param name the cookie name (letters, digits and {@code _ -} only), or null
     * @return this builder
     * @throws IllegalArgumentException if the name has other characters
     */
    public Builder cookie(@Nullable String name) {
      if (name != null) {
        Require.argument(name.matches("[A-Za-z0-9_-]{1,64}"),
            "cookie name must be 1 to 64 of A-Z a-z 0-9 _ -, was \"" + name + "\"");
      }
      this.cookie = name;
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
     * The cookie's {@code Max-Age} counts whole seconds, so a fraction of a second is dropped.
     *
     * @param maxAge the max age, at least 1 second
     * @return this builder
     * @throws NullPointerException if {@code maxAge} is null
     * @throws IllegalArgumentException if it is shorter than 1 second (which would be sent as
     *     {@code Max-Age=0}, the instruction to delete the cookie)
     */
    public Builder cookieMaxAge(Duration maxAge) {
      Require.nonNull(maxAge, "cookieMaxAge");
      Require.argument(maxAge.compareTo(Duration.ofSeconds(1)) >= 0,
          "cookieMaxAge must be at least 1 second (Max-Age counts whole seconds and 0 deletes the cookie), was " + maxAge);
      this.maxAge = maxAge;
      return this;
    }

    /**
     * Makes the filter run requests with an invalid token in the header as if they had none,
     * instead of answering {@code 400}. (An invalid cookie is always ignored and cleared, and a
     * header token signed with a key the codec does not know is always ignored.)
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
