package dev.shepherd.idempotency.servlet;

import dev.shepherd.core.internal.Require;
import dev.shepherd.idempotency.ClaimLostException;
import dev.shepherd.idempotency.IdempotencyStoreException;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.JdbcClaimTransaction;
import dev.shepherd.idempotency.JdbcIdempotencyStore;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.sql.Connection;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.jspecify.annotations.Nullable;

/**
 * A Jakarta Servlet filter that makes {@code POST} and {@code PATCH} requests idempotent with the
 * {@code Idempotency-Key} header of the IETF draft "The Idempotency-Key HTTP Header Field": the
 * first request with a key runs, its response is stored in an {@link IdempotencyTracker}, and every
 * retry with the same key gets that response replayed byte for byte instead of running again.
 *
 * <pre>{@code
 * IdempotencyTracker tracker = IdempotencyTracker.builder()
 *     .store(InMemoryIdempotencyStore.create()) // one JVM; JdbcIdempotencyStore across JVMs
 *     .build();
 * IdempotencyFilter filter = IdempotencyFilter.builder(tracker)
 *     .principalResolver(PrincipalResolver.header("X-Api-Key")) // scope keys per client
 *     .path("/webhooks", KeyPolicy.OPTIONAL)                     // key optional there
 *     .waitForInFlight(Duration.ofSeconds(5))                    // wait, then replay, not 409
 *     .build();
 * FilterRegistration.Dynamic registration = servletContext.addFilter("idempotency", filter);
 * registration.setAsyncSupported(true); // async endpoints behind it keep working (not captured)
 * registration.addMappingForUrlPatterns(EnumSet.of(DispatcherType.REQUEST), false, "/*");
 * }</pre>
 *
 * <h2>What a request gets</h2>
 *
 * <table>
 *   <caption>Answers of the filter</caption>
 *   <tr><th>Situation</th><th>Answer</th></tr>
 *   <tr><td>method/path not covered ({@link KeyPolicy#IGNORED}), or no key under
 *       {@link KeyPolicy#OPTIONAL}</td><td>runs untouched</td></tr>
 *   <tr><td>no key under {@link KeyPolicy#REQUIRED}</td><td>400 {@code key-missing}</td></tr>
 *   <tr><td>several {@code Idempotency-Key} lines</td><td>400 {@code key-several}</td></tr>
 *   <tr><td>not an sf-string of 1 to 255 printable ASCII characters (or, lenient, a bare
 *       token)</td><td>400 {@code key-malformed}</td></tr>
 *   <tr><td>body longer than {@link Builder#maxBodySize(int)}</td><td>413
 *       {@code body-too-large}, nothing stored</td></tr>
 *   <tr><td>an {@code application/x-www-form-urlencoded} body over
 *       {@link Builder#maxFormContentSize(int)} or with more than {@link Builder#maxFormKeys(int)}
 *       fields</td><td>413 {@code form-too-large}, nothing stored</td></tr>
 *   <tr><td>no principal, and {@link Builder#allowAnonymous(boolean)} not set</td><td>400
 *       {@code principal-missing}, nothing stored</td></tr>
 *   <tr><td>the key's first request finished, but its response was not kept (too large, or a
 *       5xx under {@code store5xx(false)})</td><td>its original status with a
 *       {@code response-not-kept} problem; it does not run again</td></tr>
 *   <tr><td>the owner's lease lapsed and the key was taken over while it ran</td><td>409
 *       {@code lease-lost} to that owner's client</td></tr>
 *   <tr><td>first use of the key</td><td>runs; the response is stored, then sent</td></tr>
 *   <tr><td>the key's first request still runs</td><td>409 {@code in-progress} with
 *       {@code Retry-After}; or, with {@link Builder#waitForInFlight(Duration)}, waits and
 *       replays</td></tr>
 *   <tr><td>the key's first request finished</td><td>its response, plus
 *       {@code Idempotent-Replayed: true}</td></tr>
 *   <tr><td>the key's first request threw</td><td>500 {@code request-failed} (tracker's
 *       {@code FailurePolicy.HALT}; under {@code RELEASE} it runs again)</td></tr>
 *   <tr><td>the key was used with another request (fingerprint)</td><td>422
 *       {@code key-reused}</td></tr>
 *   <tr><td>the store fails (before or after the handler), or the tracker is closed</td><td>503
 *       {@code store-unavailable} with {@code Retry-After}</td></tr>
 * </table>
 *
 * <p>Every error is {@code application/problem+json} (RFC 9457) with {@code type} (the
 * {@link Builder#problemTypeBase(URI) base} plus the slug above), {@code title}, {@code status} and
 * {@code detail}; none is stored, so a corrected retry with the same key works.
 *
 * <h2>Life of a tracked request (the owner)</h2>
 *
 * <pre>
 *   parse key ─▶ read body (≤ limit) ─▶ fingerprint ─▶ track(scope(principal, key), fingerprint)
 *     Claimed ─▶ chain runs on a CapturingResponse that HOLDS the body (nothing reaches the client)
 *       ├─ throws ───────────────▶ tracker.fail(claim) (HALT by default), body dropped, rethrown
 *       │                          (unless the container's stream threw while streaming: the
 *       │                          client left, the handler ran; complete(claim, not-kept marker))
 *       ├─ async started ────────▶ release(claim), body passed through uncaptured
 *       ├─ body over storage limit ▶ switched to streaming at once; complete(claim, not-kept
 *       │                             marker) at the end (transactional: the write throws
 *       │                             IOException, rolled back, fail(claim), 500)
 *       ├─ 5xx and !store5xx ────▶ complete(claim, not-kept marker), body sent
 *       │                          (releaseUnstored: release(claim) instead)
 *       └─ otherwise ─▶ complete(claim, response)  (transactional: in the request's transaction)
 *              ├─ ok ─────────────────────────▶ body sent
 *              ├─ ClaimLostException ─────────▶ body dropped, 409 lease-lost (the key was taken
 *                                               over; a retry gets the key's outcome)
 *              └─ IdempotencyStoreException ──▶ body dropped, 503; the tracker keeps the claim
 *                                               and keeps storing the response, so a retry gets
 *                                               409 in-progress and then this response
 *                                               (transactional: the writes roll back with it and
 *                                               the claim lapses; a retry after the lease runs
 *                                               again)
 * </pre>
 *
 * Holding the body until it is stored is what makes "sent" imply "stored as the key's outcome":
 * a client never receives a response that a retry could not reproduce, except a response larger
 * than the storage limit, which is sent as it is produced (in transactional mode it is refused
 * instead: it would reach the client before the commit). A {@code sendRedirect} is held too, as a
 * 302 with an absolute {@code Location}. Consequently {@code flushBuffer()} and {@code flush()} do
 * not reach the client while holding; streaming endpoints should be mapped
 * {@link KeyPolicy#IGNORED}.
 *
 * <h2>Replays</h2>
 *
 * A replay writes the stored status, headers (in order, names as stored) and body bytes, minus the
 * {@link Builder#replayDenyList(Collection) deny-list} (by default {@code Set-Cookie},
 * {@code Set-Cookie2} and the hop-by-hop headers of RFC 9110 section 7.6.1, plus any header named
 * in {@code Connection}), plus {@code Idempotent-Replayed: true}. Denied headers are dropped before
 * storing too, so cookies never reach the store. Headers that filters before this one had set
 * before the chain ran, and that the application left as they were (a request id,
 * {@code traceparent}, CORS headers), are not stored either: a replay carries the values those
 * filters set for the retry, not the first request's; a header name the application changed is
 * stored with all its values. A response the application ended with
 * {@code sendError} is stored as its status and message and replayed with {@code sendError}, so the
 * container renders the same error page.
 *
 * <h2>Scope of keys</h2>
 *
 * The store key is a SHA-256 of the {@link PrincipalResolver principal} and the header's key: two
 * principals never share a record. A request without a principal is refused unless
 * {@link Builder#allowAnonymous(boolean)} puts all such requests in one shared scope. Method and path are in the default fingerprint, so a key reused
 * on another endpoint is a 422, as the draft asks.
 *
 * <h2>Limits</h2>
 *
 * Async requests ({@code startAsync()}) are out of scope: their claim is released and their
 * response passes through uncaptured, so a retry runs again. Multipart bodies are not re-parsed
 * after the filter read them ({@code getParts()} sees an empty body); map such paths
 * {@link KeyPolicy#IGNORED}. Trailers are not stored.
 *
 * <p>Thread-safe: one instance serves every request.
 */
public final class IdempotencyFilter implements Filter {

  /** The request header carrying the key. */
  public static final String KEY_HEADER = "Idempotency-Key";

  /** The header added to every replayed response, with the value {@code true}. */
  public static final String REPLAYED_HEADER = "Idempotent-Replayed";

  /** The default request body limit: 1 MiB. */
  public static final int DEFAULT_MAX_BODY_SIZE = 1 << 20;

  /** The default limit of a URL-encoded form body: 200,000 bytes, Jetty's default. */
  public static final int DEFAULT_MAX_FORM_CONTENT_SIZE = 200_000;

  /** The default limit of the fields of a URL-encoded form body: 1,000, Jetty's default. */
  public static final int DEFAULT_MAX_FORM_KEYS = 1_000;

  /** The default limit of a stored response body: 1 MiB. */
  public static final int DEFAULT_MAX_STORED_RESPONSE_SIZE = 1 << 20;

  /** The default {@link Builder#problemTypeBase(URI) problem type base}. */
  public static final URI DEFAULT_PROBLEM_TYPE_BASE =
      URI.create("https://shepherd.dev/problems/idempotency/");

  /** The default deny-list of headers never stored nor replayed (lower case). */
  public static final Set<String> DEFAULT_REPLAY_DENY_LIST =
      Set.of(
          "set-cookie",
          "set-cookie2",
          "connection",
          "keep-alive",
          "proxy-authenticate",
          "proxy-authorization",
          "proxy-connection",
          "te",
          "trailer",
          "transfer-encoding",
          "upgrade");

  /** Internal header of a stored response that ended with sendError; never sent. */
  static final String SEND_ERROR_HEADER = "Shepherd-Send-Error";

  /**
   * Internal header of the marker stored in place of a response that was not kept (too large, or
   * a 5xx under {@code store5xx(false)}); its value says why. Never sent.
   */
  static final String NOT_KEPT_HEADER = "Shepherd-Not-Kept";

  /**
   * The request attribute holding the owner's {@link Tracked.Claimed} while the handler runs, for
   * {@link IdempotencyTracker#isHeld(Tracked.Claimed)} checks before external side effects.
   */
  public static final String CLAIM_ATTRIBUTE = "dev.shepherd.idempotency.claim";

  /**
   * The request attribute holding the claim's fencing token (a {@link Long}) while the handler
   * runs: guard writes to other systems with it (see {@link Tracked.Claimed#fencingToken()}).
   */
  public static final String FENCING_TOKEN_ATTRIBUTE = "dev.shepherd.idempotency.fencingToken";

  /**
   * The request attribute holding the {@link java.sql.Connection} of the request's transaction
   * under {@link Builder#transactional(boolean)}: the handler's writes through it commit together
   * with the stored response. The handler must not commit, roll back or close it.
   */
  public static final String CONNECTION_ATTRIBUTE = "dev.shepherd.idempotency.connection";

  private static final Logger LOG = System.getLogger(IdempotencyFilter.class.getName());

  private final IdempotencyTracker tracker;
  /** The settings; the fields below hold what requests need in another form, or no setting. */
  private final Config config;
  private final Set<String> methods;
  private final List<PathRule> pathRules;
  private final KeyHeaderParser parser;
  private final Set<String> denyList;
  private final RequestFingerprinter fingerprinter;
  private final PrincipalResolver principalResolver;
  private final String retryAfterSeconds;
  private final Clock clock;

  private IdempotencyFilter(Builder b) {
    this.tracker = b.tracker;
    this.methods = Set.copyOf(b.methods);
    List<PathRule> rules = new ArrayList<>(b.pathRules);
    // Longest prefix first; among equal prefixes, the rule added last wins.
    Collections.reverse(rules);
    rules.sort(Comparator.comparingInt((PathRule r) -> r.prefix.length()).reversed());
    this.pathRules = List.copyOf(rules);
    this.parser = new KeyHeaderParser(b.lenient);
    this.denyList = Set.copyOf(b.denyList);
    this.fingerprinter = b.fingerprinter;
    this.principalResolver = b.principalResolver;
    long seconds = b.retryAfter.getSeconds() + (b.retryAfter.getNano() > 0 ? 1 : 0);
    this.retryAfterSeconds = Long.toString(seconds);
    this.clock = b.clock;
    this.config = new Config(List.copyOf(new TreeSet<>(methods)), b.defaultPolicy, b.lenient,
        b.maxBodySize, b.maxStoredResponseSize, b.store5xx, List.copyOf(new TreeSet<>(denyList)),
        b.retryAfter, b.waitForInFlight, b.problemTypeBase, b.allowAnonymous, b.releaseUnstored,
        b.transactional, b.maxFormContentSize, b.maxFormKeys);
  }

  /**
   * Returns the settings this filter was built with.
   *
   * @return the immutable settings
   */
  public Config config() {
    return config;
  }

  /**
   * Returns the claim of the request the handler is running for, set by the filter while the
   * request owns its key.
   *
   * @param request the request
   * @return the claim, or empty if the request is not a tracked owner
   * @throws NullPointerException if {@code request} is null
   */
  public static Optional<Tracked.Claimed> claim(ServletRequest request) {
    return Require.nonNull(request, "request").getAttribute(CLAIM_ATTRIBUTE)
        instanceof Tracked.Claimed claim ? Optional.of(claim) : Optional.empty();
  }

  /**
   * Returns the connection of the request's transaction under
   * {@link Builder#transactional(boolean)}.
   *
   * @param request the request
   * @return the connection, or empty if the request is not a tracked owner in transactional mode
   * @throws NullPointerException if {@code request} is null
   */
  public static Optional<Connection> connection(ServletRequest request) {
    return Require.nonNull(request, "request").getAttribute(CONNECTION_ATTRIBUTE)
        instanceof Connection c ? Optional.of(c) : Optional.empty();
  }

  /**
   * Returns a builder for a filter over a tracker, with every other setting at its default.
   *
   * @param tracker the tracker that stores keys and responses; the filter does not close it
   * @return a new builder
   * @throws NullPointerException if {@code tracker} is null
   */
  public static Builder builder(IdempotencyTracker tracker) {
    return new Builder(Require.nonNull(tracker, "tracker"));
  }

  /**
   * Returns the policy that applies to a method and a path within the application. Runs of
   * {@code /} in the path count as one, as most containers and frameworks route them.
   *
   * @param method the HTTP method, for example {@code POST}
   * @param path the decoded path without the context path, for example {@code /orders/7}
   * @return the policy
   */
  public KeyPolicy policyFor(String method, String path) {
    String m = method.toUpperCase(Locale.ROOT);
    path = collapseSlashes(path);
    for (PathRule rule : pathRules) {
      if (rule.matches(path) && (rule.methods.isEmpty() ? methods : rule.methods).contains(m)) {
        return rule.policy;
      }
    }
    return methods.contains(m) ? config.keyPolicy() : KeyPolicy.IGNORED;
  }

  @Override
  public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain)
      throws IOException, ServletException {
    if (!(req instanceof HttpServletRequest request)
        || !(res instanceof HttpServletResponse response)) {
      chain.doFilter(req, res);
      return;
    }
    KeyPolicy policy = policyFor(request.getMethod(), pathWithinApplication(request));
    if (policy == KeyPolicy.IGNORED) {
      chain.doFilter(request, response);
      return;
    }
    String key;
    Enumeration<String> lines = request.getHeaders(KEY_HEADER);
    switch (parser.parse(lines == null ? List.of() : Collections.list(lines))) {
      case KeyHeaderParser.Missing missing -> {
        if (policy == KeyPolicy.OPTIONAL) {
          chain.doFilter(request, response);
        } else {
          sendUnread(request, response, new Problem(Problem.Kind.KEY_MISSING,
              "This endpoint requires an Idempotency-Key header, for example "
                  + "Idempotency-Key: \"8e03978e-40d5-43e8-bc93-6894a57f9324\"."));
        }
        return;
      }
      case KeyHeaderParser.Several several -> {
        sendUnread(request, response, new Problem(Problem.Kind.KEY_SEVERAL,
            "The request has " + several.count() + " Idempotency-Key headers; send exactly one."));
        return;
      }
      case KeyHeaderParser.Malformed malformed -> {
        sendUnread(request, response, new Problem(Problem.Kind.KEY_MALFORMED,
            "The Idempotency-Key header is malformed: " + malformed.reason() + "."));
        return;
      }
      case KeyHeaderParser.Key k -> key = k.value();
    }
    byte[] body;
    switch (CachedBodyRequest.read(request, config.maxBodySize())) {
      case CachedBodyRequest.TooLarge tooLarge -> {
        sendUnread(request, response, new Problem(Problem.Kind.BODY_TOO_LARGE,
            "The request body is larger than " + config.maxBodySize() + " bytes"
                + (tooLarge.declared() > 0 ? " (Content-Length " + tooLarge.declared() + ")" : "")
                + ", the most this endpoint accepts with an Idempotency-Key."));
        return;
      }
      case CachedBodyRequest.Read read -> body = read.bytes();
    }
    if (CachedBodyRequest.isForm(request)) {
      // The filter parses form bodies itself (the container can no longer read them), so it
      // applies the limits the container would before parsing: a 1 MiB body "a1=&a2=&..." would
      // otherwise become some 200,000 map entries.
      int fields = CachedBodyRequest.formFields(body);
      if (body.length > config.maxFormContentSize() || fields > config.maxFormKeys()) {
        send(response, new Problem(Problem.Kind.FORM_TOO_LARGE, "The form body has "
            + body.length + " bytes and " + fields + " fields; this endpoint accepts at most "
            + config.maxFormContentSize() + " bytes and " + config.maxFormKeys() + " fields."));
        return;
      }
    }
    CachedBodyRequest cached = new CachedBodyRequest(request, body);
    String principal = Require.nonNull(principalResolver.resolve(request),
        "principal returned by " + principalResolver);
    if (principal.isEmpty() && !config.allowAnonymous()) {
      send(response, new Problem(Problem.Kind.PRINCIPAL_MISSING,
          "Idempotency-Keys are kept per caller, and this request names none (it is not"
              + " authenticated), so its key could collide with another caller's."));
      return;
    }
    String scopedKey = scope(principal, key);
    String fingerprint = fingerprinter.fingerprint(cached, body);
    Tracked tracked;
    try {
      tracked = config.waitForInFlight().isZero()
          ? tracker.track(scopedKey, fingerprint)
          : tracker.track(scopedKey, fingerprint, config.waitForInFlight());
    } catch (IdempotencyStoreException e) {
      LOG.log(Level.WARNING, "idempotency store failed; answering 503", e);
      send(response, storeUnavailable());
      return;
    } catch (IllegalStateException e) {
      // The tracker was closed (the application is shutting down, or closed it too early): the
      // request cannot be tracked, which to the client is the same as a store it cannot reach.
      LOG.log(Level.WARNING, "idempotency tracker is closed; answering 503", e);
      send(response, storeUnavailable());
      return;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      send(response, inProgress());
      return;
    }
    switch (tracked) {
      case Tracked.Claimed claim -> run(claim, cached, response, chain);
      case Tracked.Completed completed -> replay(completed.response(), response);
      case Tracked.InProgress busy -> send(response, inProgress());
      case Tracked.Halted halted -> send(response, new Problem(Problem.Kind.REQUEST_FAILED,
          "The first request with this Idempotency-Key failed, and it will not run again until"
              + " the key expires at " + halted.expiresAt() + "; send a new key to try again."));
      case Tracked.Mismatch mismatch -> send(response, new Problem(Problem.Kind.KEY_REUSED,
          "This Idempotency-Key was first used with another request (method, path, query,"
              + " content type or body differ); send a new key for a new request."));
    }
  }

  private Problem inProgress() {
    return new Problem(Problem.Kind.IN_PROGRESS,
        "A request with this Idempotency-Key is still being processed; retry after "
            + retryAfterSeconds + " s to get its response.", retryAfterSeconds);
  }

  private Problem storeUnavailable() {
    return new Problem(Problem.Kind.STORE_UNAVAILABLE,
        "The idempotency store cannot be reached, so the request cannot be tracked; retry with"
            + " the same Idempotency-Key later.", retryAfterSeconds);
  }

  /** Runs the chain as the key's owner; see the class comment for every outcome. */
  private void run(Tracked.Claimed claim, CachedBodyRequest request, HttpServletResponse response,
      FilterChain chain) throws IOException, ServletException {
    request.setAttribute(CLAIM_ATTRIBUTE, claim);
    request.setAttribute(FENCING_TOKEN_ATTRIBUTE, claim.fencingToken());
    JdbcClaimTransaction tx = null;
    if (config.transactional()) {
      try {
        tx = JdbcClaimTransaction.begin(tracker, claim);
      } catch (IdempotencyStoreException e) {
        LOG.log(Level.WARNING, "no transaction could be opened for a claimed request; 503", e);
        releaseQuietly(claim, "no transaction could be opened");
        send(response, storeUnavailable());
        return;
      }
      request.setAttribute(CONNECTION_ATTRIBUTE, tx.connection());
    }
    try {
      runOwned(claim, tx, request, response, chain);
    } finally {
      if (tx != null) {
        request.removeAttribute(CONNECTION_ATTRIBUTE);
        tx.close();
      }
    }
  }

  private void runOwned(Tracked.Claimed claim, @Nullable JdbcClaimTransaction tx,
      CachedBodyRequest request, HttpServletResponse response, FilterChain chain)
      throws IOException, ServletException {
    // What earlier filters set (CORS, tracing): restored if the answer becomes a problem after all.
    int statusBefore = response.getStatus();
    List<String[]> headersBefore = headersOf(response);
    CapturingResponse capture = new CapturingResponse(request, response,
        config.maxStoredResponseSize(), tx != null);
    try {
      chain.doFilter(request, capture);
    } catch (IOException | ServletException | RuntimeException | Error e) {
      if (capture.streamFailed()) {
        // The client went away while a response too large to store was streamed: the handler
        // ran and its effects happened, so this is "not kept", not a failure to run again.
        try {
          finishUnkept(claim, capture.status(), "the client disconnected while the response"
              + " was streamed");
        } catch (ClaimLostException | IdempotencyStoreException storeFailure) {
          e.addSuppressed(storeFailure);
        }
        throw e;
      }
      capture.discard();
      if (tx != null) {
        tx.close(); // rolls the request's writes back before the key is halted
      }
      try {
        tracker.fail(claim, e);
      } catch (IdempotencyStoreException storeFailure) {
        e.addSuppressed(storeFailure);
      }
      throw e;
    }
    if (capture.refused()) {
      // Transactional and too large to hold: nothing was sent and nothing may be committed; the
      // handler swallowed the refused write, so the request fails as if it had thrown.
      if (tx != null) {
        tx.close();
      }
      String why = "the response was larger than the storage limit of "
          + config.maxStoredResponseSize() + " bytes, which transactional mode cannot stream";
      try {
        tracker.fail(claim, new IOException(why));
      } catch (IdempotencyStoreException e) {
        LOG.log(Level.WARNING, "could not record a refused response as failed", e);
      }
      answerInstead(capture, response, statusBefore, headersBefore,
          new Problem(Problem.Kind.REQUEST_FAILED, "The request failed: " + why
              + "; its writes were rolled back."));
      return;
    }
    if (request.isAsyncStarted()) {
      if (tx != null) {
        tx.close();
      }
      releaseQuietly(claim, "the request went async (async is out of scope)");
      capture.passThrough();
      return;
    }
    int status = capture.status();
    String notKept = capture.overflowed()
        ? "the response was larger than the storage limit of " + config.maxStoredResponseSize()
            + " bytes"
        : status >= 500 && !config.store5xx() ? "5xx responses are not stored" : null;
    if (notKept != null && config.releaseUnstored()) {
      releaseQuietly(claim, notKept);
      capture.deliver(); // a no-op for an overflowed response: it was streamed already
      return;
    }
    StoredResponse stored = notKept != null
        ? new StoredResponse(status, List.of(new StoredResponse.Header(NOT_KEPT_HEADER, notKept)),
            new byte[0], clock.instant())
        : toStored(capture, status, headersBefore);
    try {
      if (tx != null) {
        tx.commit(stored);
      } else {
        tracker.complete(claim, stored);
      }
    } catch (ClaimLostException e) {
      if (capture.holding()) {
        LOG.log(Level.WARNING, "the key was taken over while its request ran; answering 409", e);
        answerInstead(capture, response, statusBefore, headersBefore, leaseLost());
        return;
      }
      LOG.log(Level.WARNING, "the key was taken over while its request ran; its response"
          + " had been streamed already", e);
    } catch (IdempotencyStoreException e) {
      if (capture.holding()) {
        LOG.log(Level.WARNING, "idempotency store failed storing a response; answering 503", e);
        answerInstead(capture, response, statusBefore, headersBefore, storeUnavailable());
        return;
      }
      LOG.log(Level.WARNING, "idempotency store failed storing a response already sent", e);
    }
    capture.deliver();
  }

  /**
   * Ends a claim whose response was not kept: completes it with the marker, or releases it under
   * {@code releaseUnstored(true)}.
   *
   * @throws ClaimLostException if the key was taken over meanwhile
   * @throws IdempotencyStoreException if the store fails (the tracker keeps trying)
   */
  private void finishUnkept(Tracked.Claimed claim, int status, String why) {
    if (config.releaseUnstored()) {
      releaseQuietly(claim, why);
      return;
    }
    tracker.complete(claim, new StoredResponse(status,
        List.of(new StoredResponse.Header(NOT_KEPT_HEADER, why)), new byte[0], clock.instant()));
  }

  /** Drops the held response and sends a problem, with what earlier filters had set. */
  private void answerInstead(CapturingResponse capture, HttpServletResponse response,
      int statusBefore, List<String[]> headersBefore, Problem problem) throws IOException {
    capture.discard();
    response.reset();
    response.setStatus(statusBefore);
    for (String[] header : headersBefore) {
      response.addHeader(header[0], header[1]);
    }
    send(response, problem);
  }

  private Problem leaseLost() {
    return new Problem(Problem.Kind.LEASE_LOST,
        "The request's hold on this Idempotency-Key lapsed while it ran and another request now"
            + " owns the key, so this response was not kept; retry with the same key to get the"
            + " key's outcome.", retryAfterSeconds);
  }

  static List<String[]> headersOf(HttpServletResponse response) {
    List<String[]> headers = new ArrayList<>();
    for (String name : response.getHeaderNames()) {
      for (String value : response.getHeaders(name)) {
        headers.add(new String[] {name, value});
      }
    }
    return headers;
  }

  private void releaseQuietly(Tracked.Claimed claim, String why) {
    try {
      tracker.release(claim);
      LOG.log(Level.DEBUG, "released idempotency claim: {0}", why);
    } catch (IdempotencyStoreException e) {
      LOG.log(Level.WARNING, "could not release an idempotency claim (" + why
          + "); its lease will run out", e);
    }
  }

  /**
   * The response to store: the application's status, body and headers, minus the deny-list and
   * minus every header name that earlier filters had set and the application left as it was.
   */
  private StoredResponse toStored(CapturingResponse capture, int status,
      List<String[]> headersBefore) {
    List<StoredResponse.Header> headers = new ArrayList<>();
    List<String[]> captured = capture.headers();
    Set<String> denied = deniedFor(captured);
    Set<String> untouched = untouchedNames(headersBefore, captured);
    for (String[] header : captured) {
      String lower = header[0].toLowerCase(Locale.ROOT);
      if (!denied.contains(lower) && !untouched.contains(lower)) {
        headers.add(new StoredResponse.Header(header[0], header[1]));
      }
    }
    byte[] body;
    if (capture.sentError()) {
      String message = capture.errorMessage();
      headers.add(new StoredResponse.Header(SEND_ERROR_HEADER, message == null ? "" : message));
      body = new byte[0];
    } else {
      body = capture.holding() ? capture.body() : new byte[0];
    }
    return new StoredResponse(status, headers, body, clock.instant());
  }

  /**
   * The header names (lower case) that have exactly the same values, in order, after the chain as
   * before it: set by earlier filters (a request id, {@code traceparent}, CORS) and not changed by
   * the application. Such a header belongs to each request, so it is not stored, and a replay keeps
   * the value the earlier filters set for the retry. A name the application changed in any way
   * (another value, one more value, one fewer) is stored with all its values.
   */
  private static Set<String> untouchedNames(List<String[]> before, List<String[]> after) {
    if (before.isEmpty()) {
      return Set.of();
    }
    Map<String, List<String>> was = valuesByName(before);
    Map<String, List<String>> is = valuesByName(after);
    Set<String> untouched = new HashSet<>();
    for (Map.Entry<String, List<String>> name : was.entrySet()) {
      if (name.getValue().equals(is.get(name.getKey()))) {
        untouched.add(name.getKey());
      }
    }
    return untouched;
  }

  private static Map<String, List<String>> valuesByName(List<String[]> headers) {
    Map<String, List<String>> values = new HashMap<>();
    for (String[] header : headers) {
      values.computeIfAbsent(header[0].toLowerCase(Locale.ROOT), name -> new ArrayList<>())
          .add(header[1]);
    }
    return values;
  }

  /** The deny-list plus the names a {@code Connection} header lists (RFC 9110 7.6.1). */
  @SuppressWarnings("ReferenceEquality") // identity: has the shared deny-list been copied yet?
  private Set<String> deniedFor(List<String[]> headers) {
    Set<String> denied = denyList;
    for (String[] header : headers) {
      if (header[0].equalsIgnoreCase("Connection")) {
        if (denied == denyList) {
          denied = new HashSet<>(denyList);
        }
        for (String option : header[1].split(",", -1)) {
          denied.add(option.trim().toLowerCase(Locale.ROOT));
        }
      }
    }
    return denied;
  }

  private void replay(StoredResponse stored, HttpServletResponse response) throws IOException {
    List<String[]> headers = new ArrayList<>();
    for (StoredResponse.Header h : stored.headers()) {
      headers.add(new String[] {h.name(), h.value()});
    }
    List<String> notKept = stored.headerValues(NOT_KEPT_HEADER);
    if (!notKept.isEmpty()) {
      response.setHeader(REPLAYED_HEADER, "true");
      send(response, new Problem(Problem.Kind.RESPONSE_NOT_KEPT,
          "The first request with this Idempotency-Key ran and answered " + stored.status()
              + ", but its response was not kept (" + notKept.get(0) + "); it will not run again."
              + " Send a new key to run a new request.", null, stored.status()));
      return;
    }
    Set<String> denied = deniedFor(headers);
    response.setStatus(stored.status());
    Set<String> seen = new HashSet<>();
    String errorMessage = null;
    for (StoredResponse.Header h : stored.headers()) {
      String lower = h.name().toLowerCase(Locale.ROOT);
      if (lower.equals(SEND_ERROR_HEADER.toLowerCase(Locale.ROOT))) {
        errorMessage = h.value();
      } else if (!denied.contains(lower)) {
        if (seen.add(lower)) {
          response.setHeader(h.name(), h.value());
        } else {
          response.addHeader(h.name(), h.value());
        }
      }
    }
    response.setHeader(REPLAYED_HEADER, "true");
    if (errorMessage != null) {
      if (errorMessage.isEmpty()) {
        response.sendError(stored.status());
      } else {
        response.sendError(stored.status(), errorMessage);
      }
      return;
    }
    if (stored.bodyLength() > 0) {
      OutputStream out = response.getOutputStream();
      stored.writeBodyTo(out);
    }
  }

  /**
   * Sends a problem for a request whose body was not read (or only in part), closing the
   * connection on HTTP/1: the unread bytes would otherwise be taken as the start of the next
   * request, or make the server close the connection after the answer without saying so, and a
   * client that reuses it then finds it dead.
   */
  private void sendUnread(HttpServletRequest request, HttpServletResponse response, Problem problem)
      throws IOException {
    if (request.getContentLengthLong() != 0L && request.getProtocol().startsWith("HTTP/1")
        && !response.isCommitted()) {
      response.setHeader("Connection", "close");
    }
    send(response, problem);
  }

  private void send(HttpServletResponse response, Problem problem) throws IOException {
    if (response.isCommitted()) {
      LOG.log(Level.WARNING, "cannot send problem {0}: the response is already committed",
          problem.kind());
      return;
    }
    problem.send(response, config.problemTypeBase());
  }

  /** SHA-256 of the length-prefixed principal and key: fixed length, unambiguous, no raw data. */
  static String scope(String principal, String key) {
    MessageDigest digest = Sha256Fingerprinter.sha256();
    byte[] p = losslessUtf8(principal);
    digest.update(Integer.toString(p.length).getBytes(StandardCharsets.US_ASCII));
    digest.update((byte) ':');
    digest.update(p);
    digest.update(losslessUtf8(key));
    return "idem:" + HexFormat.of().formatHex(digest.digest());
  }

  /**
   * UTF-8 of a string, except that an unpaired surrogate is encoded as its own three bytes
   * (generalised UTF-8, as WTF-8 does) instead of the {@code ?} that {@code getBytes(UTF_8)}
   * substitutes: otherwise {@code "x\uD800"}, {@code "x\uD801"} and {@code "x?"} (principals a
   * resolver may take from a token's claims) would share one scope. A well-formed string encodes
   * exactly as UTF-8, so its scope, and every stored key, stay as they were; the three bytes of a
   * surrogate ({@code ED A0..BF xx}) occur in no well-formed UTF-8, so no two strings collide.
   */
  static byte[] losslessUtf8(String s) {
    boolean wellFormed = true;
    for (int i = 0; i < s.length() && wellFormed; i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c) && i + 1 < s.length()
          && Character.isLowSurrogate(s.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        wellFormed = false;
      }
    }
    if (wellFormed) {
      return s.getBytes(StandardCharsets.UTF_8);
    }
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(s.length() * 3);
    s.codePoints().forEach(cp -> {
      if (cp < 0x80) {
        out.write(cp);
      } else if (cp < 0x800) {
        out.write(0xC0 | (cp >> 6));
        out.write(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) { // includes an unpaired surrogate, 0xD800..0xDFFF
        out.write(0xE0 | (cp >> 12));
        out.write(0x80 | ((cp >> 6) & 0x3F));
        out.write(0x80 | (cp & 0x3F));
      } else {
        out.write(0xF0 | (cp >> 18));
        out.write(0x80 | ((cp >> 12) & 0x3F));
        out.write(0x80 | ((cp >> 6) & 0x3F));
        out.write(0x80 | (cp & 0x3F));
      }
    });
    return out.toByteArray();
  }

  /**
   * The path the container routed the request by: servlet path plus path info, which the Servlet
   * specification defines as decoded, without path parameters, with {@code .} and {@code ..}
   * resolved. The raw {@code getRequestURI()} is none of these: {@code /payments;x},
   * {@code /%70ayments} and {@code /a/../payments} reach the servlet at {@code /payments} but
   * would not match a rule for it, so a {@code REQUIRED} endpoint could be reached untracked.
   */
  static String pathWithinApplication(HttpServletRequest request) {
    String servletPath = request.getServletPath();
    String pathInfo = request.getPathInfo();
    String path = (servletPath == null ? "" : servletPath) + (pathInfo == null ? "" : pathInfo);
    return path.isEmpty() ? "/" : path;
  }

  private static String collapseSlashes(String path) {
    if (!path.contains("//")) {
      return path;
    }
    StringBuilder out = new StringBuilder(path.length());
    for (int i = 0; i < path.length(); i++) {
      char c = path.charAt(i);
      if (c != '/' || out.isEmpty() || out.charAt(out.length() - 1) != '/') {
        out.append(c);
      }
    }
    return out.toString();
  }

  @Override
  public String toString() {
    return "IdempotencyFilter[methods=" + methods + ", policy=" + config.keyPolicy() + ", paths="
        + pathRules + ", tracker=" + tracker + "]";
  }

  /** A per-path override of the policy. */
  private record PathRule(String prefix, KeyPolicy policy, Set<String> methods) {
    boolean matches(String path) {
      if (prefix.equals("/")) {
        return true;
      }
      String p = prefix.endsWith("/") ? prefix.substring(0, prefix.length() - 1) : prefix;
      return path.equals(p) || path.startsWith(p + "/");
    }
  }

  /**
   * The settings of a filter, copied by {@link Builder#build()}: immutable. Path rules, the
   * fingerprinter, the principal resolver and the clock are behaviour, not settings, and are not
   * listed.
   *
   * @param methods the covered methods, upper case, sorted
   * @param keyPolicy the policy outside every path rule
   * @param lenient whether bare-token keys are accepted
   * @param maxBodySize the largest request body, in bytes
   * @param maxStoredResponseSize the largest stored response body, in bytes
   * @param store5xx whether 5xx responses are stored
   * @param replayDenyList the header names never stored nor replayed, lower case, sorted
   * @param retryAfter the {@code Retry-After} of 409 and 503 answers
   * @param waitForInFlight how long a duplicate waits for the first request
   * @param problemTypeBase the base of problem type URIs
   * @param allowAnonymous whether anonymous requests share one scope
   * @param releaseUnstored whether a response that is not kept releases its key
   * @param transactional whether owned requests run in a transaction bound to their claim
   * @param maxFormContentSize the largest URL-encoded form body, in bytes
   * @param maxFormKeys the most fields of a URL-encoded form body
   */
  public record Config(
      List<String> methods,
      KeyPolicy keyPolicy,
      boolean lenient,
      int maxBodySize,
      int maxStoredResponseSize,
      boolean store5xx,
      List<String> replayDenyList,
      Duration retryAfter,
      Duration waitForInFlight,
      URI problemTypeBase,
      boolean allowAnonymous,
      boolean releaseUnstored,
      boolean transactional,
      int maxFormContentSize,
      int maxFormKeys) {

    /**
     * Checks and copies the components.
     *
     * @throws NullPointerException if a component is null
     */
    public Config {
      methods = List.copyOf(methods);
      Require.nonNull(keyPolicy, "keyPolicy");
      replayDenyList = List.copyOf(replayDenyList);
      Require.nonNull(retryAfter, "retryAfter");
      Require.nonNull(waitForInFlight, "waitForInFlight");
      Require.nonNull(problemTypeBase, "problemTypeBase");
    }

    /**
     * The settings of a filter without form limits, which then are the defaults
     * ({@link IdempotencyFilter#DEFAULT_MAX_FORM_CONTENT_SIZE},
     * {@link IdempotencyFilter#DEFAULT_MAX_FORM_KEYS}); kept for callers compiled before the form
     * limits existed.
     *
     * @param methods the covered methods, upper case, sorted
     * @param keyPolicy the policy outside every path rule
     * @param lenient whether bare-token keys are accepted
     * @param maxBodySize the largest request body, in bytes
     * @param maxStoredResponseSize the largest stored response body, in bytes
     * @param store5xx whether 5xx responses are stored
     * @param replayDenyList the header names never stored nor replayed, lower case, sorted
     * @param retryAfter the {@code Retry-After} of 409 and 503 answers
     * @param waitForInFlight how long a duplicate waits for the first request
     * @param problemTypeBase the base of problem type URIs
     * @param allowAnonymous whether anonymous requests share one scope
     * @param releaseUnstored whether a response that is not kept releases its key
     * @param transactional whether owned requests run in a transaction bound to their claim
     * @throws NullPointerException if a component is null
     */
    public Config(List<String> methods, KeyPolicy keyPolicy, boolean lenient, int maxBodySize,
        int maxStoredResponseSize, boolean store5xx, List<String> replayDenyList,
        Duration retryAfter, Duration waitForInFlight, URI problemTypeBase,
        boolean allowAnonymous, boolean releaseUnstored, boolean transactional) {
      this(methods, keyPolicy, lenient, maxBodySize, maxStoredResponseSize, store5xx,
          replayDenyList, retryAfter, waitForInFlight, problemTypeBase, allowAnonymous,
          releaseUnstored, transactional, DEFAULT_MAX_FORM_CONTENT_SIZE, DEFAULT_MAX_FORM_KEYS);
    }
  }

  /**
   * Builds an {@link IdempotencyFilter}. Not thread-safe; {@link #build()} copies the settings
   * into an immutable filter.
   */
  public static final class Builder {
    private final IdempotencyTracker tracker;
    private Set<String> methods = Set.of("POST", "PATCH");
    private KeyPolicy defaultPolicy = KeyPolicy.REQUIRED;
    private final List<PathRule> pathRules = new ArrayList<>();
    private boolean lenient;
    private int maxBodySize = DEFAULT_MAX_BODY_SIZE;
    private int maxStoredResponseSize = DEFAULT_MAX_STORED_RESPONSE_SIZE;
    private int maxFormContentSize = DEFAULT_MAX_FORM_CONTENT_SIZE;
    private int maxFormKeys = DEFAULT_MAX_FORM_KEYS;
    private boolean store5xx = true;
    private Set<String> denyList = DEFAULT_REPLAY_DENY_LIST;
    private RequestFingerprinter fingerprinter = RequestFingerprinter.defaults();
    private PrincipalResolver principalResolver = PrincipalResolver.userPrincipal();
    private Duration retryAfter = Duration.ofSeconds(1);
    private Duration waitForInFlight = Duration.ZERO;
    private URI problemTypeBase = DEFAULT_PROBLEM_TYPE_BASE;
    private Clock clock = Clock.systemUTC();
    private boolean allowAnonymous;
    private boolean releaseUnstored;
    private boolean transactional;

    private Builder(IdempotencyTracker tracker) {
      this.tracker = tracker;
    }

    /**
     * Sets the methods the filter covers (default {@code POST} and {@code PATCH}); other methods
     * pass untouched unless a {@link #path(String, KeyPolicy, String...) path rule} names them.
     *
     * @param methods the methods, case-insensitive
     * @return this builder
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if {@code methods} is empty
     */
    public Builder methods(String... methods) {
      Require.argument(Require.nonNull(methods, "methods").length > 0,
          "methods must name at least one method, was empty");
      this.methods = upper(methods);
      return this;
    }

    /**
     * Sets the policy of covered methods outside every path rule (default
     * {@link KeyPolicy#REQUIRED}).
     *
     * @param policy the policy
     * @return this builder
     * @throws NullPointerException if {@code policy} is null
     */
    public Builder keyPolicy(KeyPolicy policy) {
      this.defaultPolicy = Require.nonNull(policy, "policy");
      return this;
    }

    /**
     * Sets the policy of a path and everything below it ({@code /orders} covers {@code /orders}
     * and {@code /orders/7}, not {@code /ordersx}) for the given methods, or for the filter's
     * {@link #methods(String...) methods} if none are given. The longest matching prefix wins;
     * among equal prefixes, the rule added last. Paths exclude the context path, and are matched
     * against the path the container routes by (servlet path plus path info: decoded, without
     * path parameters, dot segments resolved, runs of {@code /} counted as one), never the raw
     * request URI.
     *
     * @param pathPrefix the path prefix, starting with {@code /}
     * @param policy the policy
     * @param methods the methods the rule covers; none means the filter's methods
     * @return this builder
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if {@code pathPrefix} does not start with {@code /}
     */
    public Builder path(String pathPrefix, KeyPolicy policy, String... methods) {
      Require.nonNull(pathPrefix, "pathPrefix");
      Require.argument(pathPrefix.startsWith("/"),
          "pathPrefix must start with /, was '" + pathPrefix + "'");
      pathRules.add(new PathRule(pathPrefix, Require.nonNull(policy, "policy"),
          upper(Require.nonNull(methods, "methods"))));
      return this;
    }

    /**
     * Also accepts a bare token ({@code Idempotency-Key: 8e03978e-40d5}) besides the sf-string the
     * draft requires (default false: strict).
     *
     * @param lenient true to accept bare tokens
     * @return this builder
     */
    public Builder lenient(boolean lenient) {
      this.lenient = lenient;
      return this;
    }

    /**
     * Sets the largest request body a tracked request may have (default 1 MiB); a larger one is
     * answered 413 before anything is stored. The body is held in memory to fingerprint it.
     *
     * @param bytes the limit in bytes, at least 0
     * @return this builder
     * @throws IllegalArgumentException if {@code bytes} is negative or above 2^31-9
     */
    public Builder maxBodySize(int bytes) {
      this.maxBodySize = Require.inRange(bytes, 0, Integer.MAX_VALUE - 8, "maxBodySize");
      return this;
    }

    /**
     * Sets the largest {@code application/x-www-form-urlencoded} body a tracked request may have
     * (default {@value IdempotencyFilter#DEFAULT_MAX_FORM_CONTENT_SIZE} bytes, as Jetty's); a
     * larger one is answered 413 {@code form-too-large} before anything is stored. The filter parses such bodies for
     * {@code getParameter} itself, since the container can no longer read them, and applies this
     * limit where the container would apply its own. Bodies are also bounded by
     * {@link #maxBodySize(int)}.
     *
     * @param bytes the limit in bytes, at least 0
     * @return this builder
     * @throws IllegalArgumentException if {@code bytes} is negative or above 2^31-9
     */
    public Builder maxFormContentSize(int bytes) {
      this.maxFormContentSize =
          Require.inRange(bytes, 0, Integer.MAX_VALUE - 8, "maxFormContentSize");
      return this;
    }

    /**
     * Sets the most fields an {@code application/x-www-form-urlencoded} body of a tracked request
     * may have (default {@value IdempotencyFilter#DEFAULT_MAX_FORM_KEYS}, as Jetty's); one with
     * more is answered 413 {@code form-too-large} before anything is stored.
     *
     * @param keys the limit, at least 0
     * @return this builder
     * @throws IllegalArgumentException if {@code keys} is negative
     */
    public Builder maxFormKeys(int keys) {
      this.maxFormKeys = Require.inRange(keys, 0, Integer.MAX_VALUE, "maxFormKeys");
      return this;
    }

    /**
     * Sets the largest response body that is stored (default 1 MiB). A larger response is sent
     * to the client as it is produced, not stored, and its key completed with a "not kept" marker
     * (or released under {@link #releaseUnstored(boolean)}). Under {@link #transactional(boolean)}
     * a larger response is refused instead: the write past the limit throws {@code IOException},
     * the handler's writes roll back, and the request fails as if the handler had thrown.
     *
     * @param bytes the limit in bytes, at least 0
     * @return this builder
     * @throws IllegalArgumentException if {@code bytes} is negative or above 2^31-9
     */
    public Builder maxStoredResponseSize(int bytes) {
      this.maxStoredResponseSize =
          Require.inRange(bytes, 0, Integer.MAX_VALUE - 8, "maxStoredResponseSize");
      return this;
    }

    /**
     * Sets whether 5xx responses of the application are stored and replayed (default true, as
     * Stripe does: the request did run). When false, a 5xx is sent and its key completed with a
     * "not kept" marker (or released under {@link #releaseUnstored(boolean)}).
     *
     * @param store5xx true to store 5xx responses
     * @return this builder
     */
    public Builder store5xx(boolean store5xx) {
      this.store5xx = store5xx;
      return this;
    }

    /**
     * Sets the response headers never stored nor replayed, replacing the
     * {@link #DEFAULT_REPLAY_DENY_LIST default}. Headers named in a {@code Connection} header are
     * always dropped too.
     *
     * @param headerNames the names, case-insensitive
     * @return this builder
     * @throws NullPointerException if an argument or element is null
     */
    public Builder replayDenyList(Collection<String> headerNames) {
      Set<String> lower = new LinkedHashSet<>();
      for (String name : Require.nonNull(headerNames, "headerNames")) {
        lower.add(Require.nonNull(name, "header name").toLowerCase(Locale.ROOT));
      }
      this.denyList = lower;
      return this;
    }

    /**
     * Sets the fingerprinter (default {@link RequestFingerprinter#defaults()}).
     *
     * @param fingerprinter the fingerprinter
     * @return this builder
     * @throws NullPointerException if {@code fingerprinter} is null
     */
    public Builder fingerprinter(RequestFingerprinter fingerprinter) {
      this.fingerprinter = Require.nonNull(fingerprinter, "fingerprinter");
      return this;
    }

    /**
     * Sets the principal resolver that scopes keys (default
     * {@link PrincipalResolver#userPrincipal()}).
     *
     * @param resolver the resolver
     * @return this builder
     * @throws NullPointerException if {@code resolver} is null
     */
    public Builder principalResolver(PrincipalResolver resolver) {
      this.principalResolver = Require.nonNull(resolver, "resolver");
      return this;
    }

    /**
     * Sets the {@code Retry-After} of 409 and 503 answers (default 1 s; rounded up to seconds).
     *
     * @param retryAfter the delay, zero or positive
     * @return this builder
     * @throws NullPointerException if {@code retryAfter} is null
     * @throws IllegalArgumentException if it is negative
     */
    public Builder retryAfter(Duration retryAfter) {
      this.retryAfter = Require.nonNegative(retryAfter, "retryAfter");
      return this;
    }

    /**
     * Makes a duplicate that arrives while the key's first request runs wait up to
     * {@code maxWait} for it and replay its response, instead of answering 409 at once (default
     * zero: no waiting). If the first request is still running after {@code maxWait}, the
     * duplicate gets the 409. The wait holds the request's thread (cheap on virtual threads).
     *
     * @param maxWait the longest wait, zero or positive
     * @return this builder
     * @throws NullPointerException if {@code maxWait} is null
     * @throws IllegalArgumentException if it is negative
     */
    public Builder waitForInFlight(Duration maxWait) {
      this.waitForInFlight = Require.nonNegative(maxWait, "maxWait");
      return this;
    }

    /**
     * Sets the base URI that problem types are resolved against (default
     * {@code https://shepherd.dev/problems/idempotency/}); a type is the base plus a slug such as
     * {@code key-missing}.
     *
     * @param base the base URI, ending with {@code /} to append slugs
     * @return this builder
     * @throws NullPointerException if {@code base} is null
     */
    public Builder problemTypeBase(URI base) {
      this.problemTypeBase = Require.nonNull(base, "base");
      return this;
    }

    /**
     * Sets the wall clock that stamps stored responses (default UTC system clock); a test seam.
     *
     * @param clock the clock
     * @return this builder
     * @throws NullPointerException if {@code clock} is null
     */
    public Builder clock(Clock clock) {
      this.clock = Require.nonNull(clock, "clock");
      return this;
    }

    /**
     * Lets requests without a principal (the {@link PrincipalResolver} answers the empty string)
     * share one anonymous scope of keys. Default false: such a request is answered 400
     * {@code principal-missing}, because in a shared scope one caller could replay another's
     * response, or block or mismatch its key, by sending the same key. Turn it on only where
     * anonymous callers are trusted with each other's answers.
     *
     * @param allow true to let anonymous requests share one scope
     * @return this builder
     */
    public Builder allowAnonymous(boolean allow) {
      this.allowAnonymous = allow;
      return this;
    }

    /**
     * Releases the claim of a response that is not kept (larger than
     * {@link #maxStoredResponseSize(int)}, or a 5xx under {@code store5xx(false)}), so that a
     * retry runs the request again. Default false: the key is completed with a marker, and a retry
     * gets the original status with a {@code response-not-kept} problem, never a second run.
     *
     * @param release true to let a retry run such a request again
     * @return this builder
     */
    public Builder releaseUnstored(boolean release) {
      this.releaseUnstored = release;
      return this;
    }

    /**
     * Runs each owned request in a database transaction bound to its claim: the handler writes
     * through the connection in the {@link #CONNECTION_ATTRIBUTE} request attribute, and the
     * filter stores the response in the same transaction and commits both at once (see
     * {@link JdbcClaimTransaction}). Requires a tracker over a {@link JdbcIdempotencyStore}.
     * Default false.
     *
     * @param transactional true to bind a transaction to each owned request
     * @return this builder
     */
    public Builder transactional(boolean transactional) {
      this.transactional = transactional;
      return this;
    }

    /**
     * Builds the filter.
     *
     * @return a new filter
     * @throws IllegalStateException if {@code transactional} is set without a
     *     {@link JdbcIdempotencyStore}, or together with {@code releaseUnstored}
     */
    public IdempotencyFilter build() {
      Require.state(!transactional || tracker.store() instanceof JdbcIdempotencyStore,
          "transactional(true) needs a tracker over a JdbcIdempotencyStore, was "
              + tracker.store());
      Require.state(!(transactional && releaseUnstored),
          "transactional(true) cannot be combined with releaseUnstored(true): a released"
              + " request's writes would stay committed while a retry runs it again");
      return new IdempotencyFilter(this);
    }


    private static Set<String> upper(String[] methods) {
      Set<String> set = new LinkedHashSet<>();
      for (String method : methods) {
        set.add(Require.notEmpty(method, "method").toUpperCase(Locale.ROOT));
      }
      return set;
    }
  }
}
