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
   * Allows writes only from a loopback address (127.0.0.0/8, ::1).
   *
   * @return the authorizer
   */
  static WriteAuthorizer loopbackOnly() {
    return (request, key) -> {
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
