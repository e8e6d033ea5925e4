package dev.shepherd.demo;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Fetched;
import dev.shepherd.cache.Load;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.Serial;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code GET /products/{id}} through the coalescing cache: concurrent misses of one product make one
 * catalog call; the answer says whether it was a hit, this request's load, or a join.
 */
final class ProductsServlet extends HttpServlet {

  @Serial private static final long serialVersionUID = 1L;

  private final transient CoalescingCache<String, Catalog.Product> cache;
  private final transient Catalog catalog;

  ProductsServlet(CoalescingCache<String, Catalog.Product> cache, Catalog catalog) {
    this.cache = cache;
    this.catalog = catalog;
  }

  @Override
  protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    String path = req.getPathInfo();
    if (path == null || !path.matches("/[A-Za-z0-9_-]{1,64}")) {
      Json.problem(resp, 404, "Not Found", "products are at /products/{id}, id of 1 to 64 letters, digits, _ or -");
      return;
    }
    String id = path.substring(1);
    Json.writeOr503(resp, "product " + id, () -> {
      Fetched<Catalog.Product> fetched = cache.fetch(id, key -> Load.commit(catalog.lookup(key)), Duration.ofSeconds(5));
      Map<String, Object> body = new LinkedHashMap<>();
      body.put("id", fetched.value().id());
      body.put("name", fetched.value().name());
      body.put("priceCents", fetched.value().priceCents());
      body.put("source", fetched.source().name());
      return body;
    });
  }
}
