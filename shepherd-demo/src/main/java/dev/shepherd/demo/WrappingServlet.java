package dev.shepherd.demo;

import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import java.io.Serial;

/**
 * A servlet in front of another one that it owns: the inner servlet is initialised with this one's
 * configuration and destroyed with it, and the subclass decides which requests reach it.
 */
abstract class WrappingServlet extends HttpServlet {

  @Serial private static final long serialVersionUID = 1L;

  /** The wrapped servlet, created for this wrapper alone. */
  final HttpServlet inner;

  WrappingServlet(HttpServlet inner) {
    this.inner = inner;
  }

  @Override
  public void init() throws ServletException {
    inner.init(getServletConfig());
  }

  @Override
  public void destroy() {
    inner.destroy();
  }
}
