package dev.shepherd.demo;

import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.Serial;

/**
 * {@code POST /playground/naive/orders}: the orders servlet without the idempotency filter, the
 * retry storm's baseline. Open only while the playground's idempotency scenario runs, so it is no
 * second, unprotected way to create orders.
 */
final class NaiveOrdersServlet extends WrappingServlet {

  @Serial private static final long serialVersionUID = 1L;

  private final transient Playground playground;

  NaiveOrdersServlet(Playground playground, HttpServlet orders) {
    super(orders);
    this.playground = playground;
  }

  @Override
  protected void service(HttpServletRequest req, HttpServletResponse resp) throws ServletException, IOException {
    if (!playground.isRunning("idempotency") || !"POST".equals(req.getMethod())) {
      Json.problem(resp, 409, "Conflict",
          "this endpoint only takes the baseline storm of a running idempotency scenario (POST /playground/run/idempotency)");
      return;
    }
    inner.service(req, resp);
  }
}
