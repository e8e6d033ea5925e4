package dev.shepherd.demo;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shepherd.replica.ConsistencyContext;
import dev.shepherd.replica.Lsn;
import dev.shepherd.replica.ReplicaRouter;
import dev.shepherd.replica.Route;
import dev.shepherd.replica.WritePosition;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.Serial;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.sql.DataSource;

/**
 * {@code POST /orders} writes an order on the primary (made idempotent by the filter in front) and
 * records the write's WAL position in the consistency token; {@code GET /orders/{id}} reads it on
 * the replica once the replica has replayed the caller's token, or on the primary after the wait
 * bound, and says which one answered. An order is {@code application/json} of at most
 * {@value Json#MAX_BODY} bytes (415 and 413 otherwise), also at {@code /playground/naive/orders},
 * where no idempotency filter bounds the body first.
 */
final class OrdersServlet extends HttpServlet {

  @Serial private static final long serialVersionUID = 1L;

  /*
   * A database's error text stays in the log: PostgreSQL's carries the server's host and port
   * ("Connection to 127.0.0.1:5432 refused"), constraint names and row values ("Key (id)=(7)"),
   * none of which a client should read. The answer says what failed, in fixed words.
   */
  private static final System.Logger LOG = System.getLogger(OrdersServlet.class.getName());
  /** The detail of the 503 when writing an order fails in the database. */
  static final String PRIMARY_FAILED = "the primary database failed (the order may or may not be stored); retry with the same Idempotency-Key";
  /** The detail of the 503 when reading an order fails in the database. */
  static final String DATABASE_FAILED = "the database failed; retry later";

  private final transient DataSource primary;
  private final transient ReplicaRouter router;

  OrdersServlet(DataSource primary, ReplicaRouter router) {
    this.primary = primary;
    this.router = router;
  }

  @Override
  protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    if (req.getPathInfo() != null && !req.getPathInfo().equals("/")) {
      Json.problem(resp, 404, "Not Found", "POST goes to /orders");
      return;
    }
    JsonNode body = Json.readJsonOr4xx(req, resp, "an order");
    if (body == null) {
      return;
    }
    String customer = body.path("customer").asText("");
    String product = body.path("product").asText("");
    if (customer.isEmpty() || product.isEmpty()) {
      Json.problem(resp, 400, "Bad Request",
          "an order needs customer and product (non-empty strings) and quantity (1 to 1000)");
      return;
    }
    Integer quantity = Json.wholeOr400(body, "quantity", null, 1, 1_000, resp);
    if (quantity == null) {
      return;
    }
    Integer paymentDelayMs = Json.wholeOr400(body, "paymentDelayMs", 0, 0, 10_000, resp);
    if (paymentDelayMs == null) {
      return;
    }
    try {
      // A stand-in for a slow payment provider, so a retry can arrive while the first attempt runs.
      Thread.sleep(paymentDelayMs);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      Json.problem(resp, 503, "Service Unavailable", "interrupted");
      return;
    }
    try (Connection c = primary.getConnection();
        PreparedStatement insert = c.prepareStatement(
            "INSERT INTO orders (customer, product, quantity) VALUES (?, ?, ?) RETURNING id, created_at")) {
      insert.setString(1, customer);
      insert.setString(2, product);
      insert.setInt(3, quantity);
      long id;
      String createdAt;
      try (ResultSet rs = insert.executeQuery()) {
        rs.next();
        id = rs.getLong(1);
        createdAt = rs.getString(2);
      }
      Lsn written = WritePosition.afterCommit(c);
      ConsistencyContext.recordWrite(written);
      Map<String, Object> order = new LinkedHashMap<>();
      order.put("id", id);
      order.put("customer", customer);
      order.put("product", product);
      order.put("quantity", quantity);
      order.put("createdAt", createdAt);
      order.put("writtenAt", written.toString());
      resp.setHeader("Location", "/orders/" + id);
      Json.write(resp, 201, order);
    } catch (SQLException e) {
      LOG.log(System.Logger.Level.WARNING, "POST /orders: the primary database failed", e);
      Json.problem(resp, 503, "Service Unavailable", PRIMARY_FAILED);
    }
  }

  @Override
  protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    long id;
    try {
      id = Long.parseLong(String.valueOf(req.getPathInfo()).substring(1));
    } catch (NumberFormatException | StringIndexOutOfBoundsException e) {
      Json.problem(resp, 404, "Not Found", "orders are at /orders/{numeric id}");
      return;
    }
    Lsn required = ConsistencyContext.requiredLsn();
    try {
      Route route = router.route(required);
      try (Connection c = route.dataSource().getConnection();
          PreparedStatement select = c.prepareStatement(
              "SELECT id, customer, product, quantity, created_at FROM orders WHERE id = ?")) {
        select.setLong(1, id);
        try (ResultSet rs = select.executeQuery()) {
          if (!rs.next()) {
            Json.problem(resp, 404, "Not Found", "no order " + id);
            return;
          }
          Map<String, Object> order = new LinkedHashMap<>();
          order.put("id", rs.getLong(1));
          order.put("customer", rs.getString(2));
          order.put("product", rs.getString(3));
          order.put("quantity", rs.getInt(4));
          order.put("createdAt", rs.getString(5));
          order.put("servedBy", route instanceof Route.ToReplica ? "replica" : "primary");
          if (route instanceof Route.ToPrimary toPrimary) {
            order.put("fallback", toPrimary.reason().name());
          }
          order.put("waitedMs", route.waited().toNanos() / 1e6);
          order.put("requiredLsn", required == null ? null : required.toString());
          Json.write(resp, 200, order);
        }
      }
    } catch (SQLException e) {
      LOG.log(System.Logger.Level.WARNING, "GET /orders/{id}: the database failed", e);
      Json.problem(resp, 503, "Service Unavailable", DATABASE_FAILED);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      Json.problem(resp, 503, "Service Unavailable", "interrupted");
    }
  }
}
