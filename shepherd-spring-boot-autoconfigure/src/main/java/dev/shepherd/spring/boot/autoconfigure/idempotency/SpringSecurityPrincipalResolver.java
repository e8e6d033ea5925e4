package dev.shepherd.spring.boot.autoconfigure.idempotency;

import dev.shepherd.idempotency.servlet.PrincipalResolver;
import jakarta.servlet.http.HttpServletRequest;
import org.springframework.security.authentication.AnonymousAuthenticationToken;
import org.springframework.security.core.Authentication;
import org.springframework.security.core.context.SecurityContextHolder;

/**
 * Scopes idempotency keys by Spring Security's {@link Authentication} of the current request: its
 * name when it is authenticated and not anonymous; otherwise the container's user principal, or the
 * anonymous scope. The filter is ordered after Spring Security's filter chain so the authentication
 * is known.
 */
public final class SpringSecurityPrincipalResolver implements PrincipalResolver {
  /** Creates the configuration; used by Spring. */
  public SpringSecurityPrincipalResolver() {}


  @Override
  public String resolve(HttpServletRequest request) {
    Authentication authentication = SecurityContextHolder.getContext().getAuthentication();
    if (authentication != null && authentication.isAuthenticated()
        && !(authentication instanceof AnonymousAuthenticationToken)) {
      return authentication.getName();
    }
    return PrincipalResolver.userPrincipal().resolve(request);
  }
}
