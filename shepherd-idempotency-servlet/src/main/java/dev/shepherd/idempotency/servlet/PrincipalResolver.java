package dev.shepherd.idempotency.servlet;

import dev.shepherd.core.internal.Require;
import jakarta.servlet.http.HttpServletRequest;
import java.security.Principal;

/**
 * Names the principal a request acts for, so that idempotency keys are scoped per principal: a key
 * sent by one principal never replays, blocks or mismatches another principal's request, even when
 * both send the same key.
 *
 * <p>The default, {@link #userPrincipal()}, uses the container's authenticated user. A request
 * without one resolves to the empty string, which the filter refuses (400
 * {@code principal-missing}) unless {@code allowAnonymous(true)} lets all such requests share one
 * scope; a service whose clients authenticate in another way (an API key, a token checked by
 * another filter) should resolve from that. The
 * name is hashed before it reaches the store. Implementations must be thread-safe.
 */
@FunctionalInterface
public interface PrincipalResolver {

  /**
   * Returns the principal of a request.
   *
   * @param request the request
   * @return the principal's stable name; the empty string for anonymous requests
   */
  String resolve(HttpServletRequest request);

  /**
   * Returns the resolver that reads {@link HttpServletRequest#getUserPrincipal()}, and the empty
   * string (the anonymous scope) when there is none.
   *
   * @return the resolver
   */
  static PrincipalResolver userPrincipal() {
    return request -> {
      Principal principal = request.getUserPrincipal();
      return principal == null ? "" : principal.getName();
    };
  }

  /**
   * Returns a resolver that reads a request header (for example the API key a gateway checked),
   * and the empty string when it is absent.
   *
   * @param name the header name
   * @return the resolver
   * @throws NullPointerException if {@code name} is null
   * @throws IllegalArgumentException if {@code name} is empty
   */
  static PrincipalResolver header(String name) {
    Require.notEmpty(name, "name");
    return request -> {
      String value = request.getHeader(name);
      return value == null ? "" : value;
    };
  }
}
