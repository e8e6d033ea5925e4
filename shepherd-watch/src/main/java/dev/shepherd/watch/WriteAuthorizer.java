package dev.shepherd.watch;

import dev.shepherd.core.internal.Require;
import jakarta.servlet.http.HttpServletRequest;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * Decides whether a {@code PUT} or {@code DELETE} on a {@link BlockingQueryServlet} may write; a
 * refused request is answered {@code 403} (Consul's "Permission denied") and writes nothing.
 *
 * <p>The servlet's default is {@link #loopbackOnly()}: a write endpoint without authentication
 * lets anyone who reaches the port change the configuration every watcher follows, so a server
 * exposed on a network must decide explicitly who writes ({@link #consulToken(String)}, or a
 * check of its own); local tools and tests on the same host keep working.
 *
 * <p>Behind a reverse proxy or sidecar on the same host (nginx, Envoy), every request arrives from
 * loopback, whoever sent it: {@link #loopbackOnly()} refuses requests that carry forwarding
 * headers, but a proxy that adds none would pass its clients' writes. Use
 * {@link #consulToken(String)} there.
 */
@FunctionalInterface
public interface WriteAuthorizer {

  /**
   * Returns whether the request may write.
   *
   * @param request the {@code PUT} or {@code DELETE} request (its body not read yet)
   * @param key the decoded key (or prefix, for a recursive delete)
   * @return true to let it write
   */
  boolean allows(HttpServletRequest request, String key);

  /**
   * Allows writes only from a loopback address (127.0.0.0/8, ::1), addressed to a loopback name,
   * and not relayed.
   *
   * <ul>
   *   <li>The {@code Host} header must be {@code localhost}, {@code 127.0.0.1} or {@code [::1]}
   *       (any port): a browser page whose name an attacker re-resolved to 127.0.0.1 (DNS
   *       rebinding) sends its own name, and is refused.
   *   <li>A request with {@code Forwarded}, {@code X-Real-IP} or any {@code X-Forwarded-*} header
   *       ({@code -For}, {@code -Host}, ...) is refused: it was relayed by a proxy on this host for someone else, or, with Jetty's
   *       {@code ForwardedRequestCustomizer}, its remote address is what the client claimed.
   * </ul>
   *
   * <p>A proxy on the same host that adds none of these headers still passes its clients' writes
   * (see the interface comment): this check is for local tools and tests, not for a server
   * reachable through a proxy.
   *
   * @return the authorizer
   */
  static WriteAuthorizer loopbackOnly() {
    return (request, key) -> {
      if (relayed(request) || !loopbackHost(request.getHeader("Host"))) {
        return false;
      }
      String address = request.getRemoteAddr();
      // Only IP literals reach getByName, so it never resolves a name.
      if (address == null || address.isEmpty() || !address.chars().allMatch(
          c -> Character.digit(c, 16) >= 0 || c == '.' || c == ':' || c == '[' || c == ']')) {
        return false;
      }
      try {
        return InetAddress.getByName(address).isLoopbackAddress();
      } catch (UnknownHostException e) {
        return false;
      }
    };
  }

  /** Returns whether the request carries a header that a proxy adds when it relays one. */
  private static boolean relayed(HttpServletRequest request) {
    if (request.getHeader("Forwarded") != null || request.getHeader("X-Real-IP") != null) {
      return true;
    }
    java.util.Enumeration<String> names = request.getHeaderNames();
    while (names != null && names.hasMoreElements()) {
      if (names.nextElement().regionMatches(true, 0, "X-Forwarded-", 0, 12)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Returns whether a {@code Host} header names this host by a loopback name, with any port.
   * Only the three names loopback clients use are accepted; no name is resolved.
   */
  private static boolean loopbackHost(@org.jspecify.annotations.Nullable String host) {
    if (host == null) {
      return false;
    }
    String name = host.trim().toLowerCase(java.util.Locale.ROOT);
    if (name.startsWith("[::1]")) {
      name = name.substring(5);
      return name.isEmpty() || port(name);
    }
    int colon = name.indexOf(':');
    String bare = colon < 0 ? name : name.substring(0, colon);
    return (bare.equals("localhost") || bare.equals("127.0.0.1"))
        && (colon < 0 || port(name.substring(colon)));
  }

  /** Returns whether {@code text} is {@code :} followed by 1 to 5 digits. */
  private static boolean port(String text) {
    return text.length() >= 2 && text.length() <= 6 && text.charAt(0) == ':'
        && text.substring(1).chars().allMatch(c -> c >= '0' && c <= '9');
  }

  /**
   * Allows every write: only for servers that are not reachable by untrusted clients, or behind a
   * filter that already authenticated the caller.
   *
   * @return the authorizer
   */
  static WriteAuthorizer allowAll() {
    return (request, key) -> true;
  }

  /**
   * Allows writes that carry {@code token} as Consul clients send it: the {@code X-Consul-Token}
   * header or {@code Authorization: Bearer <token>}. Compared in constant time.
   *
   * @param token the secret, not empty
   * @return the authorizer
   * @throws NullPointerException if {@code token} is null
   * @throws IllegalArgumentException if it is empty
   */
  static WriteAuthorizer consulToken(String token) {
    byte[] expected = Require.notEmpty(token, "token").getBytes(StandardCharsets.UTF_8);
    return (request, key) -> {
      String sent = request.getHeader("X-Consul-Token");
      if (sent == null) {
        String auth = request.getHeader("Authorization");
        if (auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7)) {
          sent = auth.substring(7).trim();
        }
      }
      return sent != null
          && MessageDigest.isEqual(expected, sent.getBytes(StandardCharsets.UTF_8));
    };
  }
}
