package dev.shepherd.spring.boot.autoconfigure.app;

import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.RunnerFunction;
import jakarta.persistence.Entity;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.cache.annotation.Cacheable;
import org.springframework.cache.annotation.EnableCaching;
import org.springframework.context.annotation.Bean;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.jpa.repository.config.EnableJpaRepositories;
import org.springframework.http.ResponseEntity;
import org.springframework.stereotype.Service;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

/**
 * A shop that uses all five capabilities through the starter and properties alone: idempotent
 * order creation, read-your-writes order reads on the replica, a coalescing product cache, a
 * feature flag watched in etcd, and an elastic pool. No Shepherd type appears in its code except
 * the pool it calls and the function it offers.
 */
@SpringBootApplication
@EnableCaching
@EnableJpaRepositories(considerNestedRepositories = true)
@EnableConfigurationProperties(ShopApplication.Features.class)
public class ShopApplication {

  /** An order. */
  @Entity
  @Table(name = "orders")
  public static class Order {
    @Id
    @GeneratedValue(strategy = GenerationType.IDENTITY)
    private Long id;
    private String item;

    protected Order() {}

    Order(String item) {
      this.item = item;
    }

    public Long getId() {
      return id;
    }

    public String getItem() {
      return item;
    }
  }

  /** Orders. */
  public interface OrderRepository extends JpaRepository<Order, Long> {}

  /** Feature flags, bound from {@code features.*} and kept live from etcd. */
  @ConfigurationProperties("features")
  public static class Features {
    private volatile boolean checkoutV2;

    public boolean isCheckoutV2() {
      return checkoutV2;
    }

    public void setCheckoutV2(boolean checkoutV2) {
      this.checkoutV2 = checkoutV2;
    }
  }

  /** A slow catalog behind a cache. */
  @Service
  public static class Catalog {
    private final AtomicInteger calls = new AtomicInteger();

    @Cacheable(cacheNames = "products", sync = true)
    public String price(String product) {
      calls.incrementAndGet();
      return product + ":" + (100 + product.length());
    }

    public int calls() {
      return calls.get();
    }
  }

  /** The function the pool runs. */
  @Bean
  RunnerFunction square() {
    return x -> (Long) x * (Long) x;
  }

  /** The shop's endpoints. */
  @RestController
  public static class ShopController {
    private final OrderRepository orders;
    private final Catalog catalog;
    private final Features features;
    private final ElasticPool pool;
    final AtomicInteger ordersCreated = new AtomicInteger();

    ShopController(OrderRepository orders, Catalog catalog, Features features, @Qualifier("math") ElasticPool pool) {
      this.orders = orders;
      this.catalog = catalog;
      this.features = features;
      this.pool = pool;
    }

    @PostMapping("/orders")
    public String create(@RequestBody String item) {
      ordersCreated.incrementAndGet();
      return String.valueOf(orders.save(new Order(item)).getId());
    }

    @GetMapping("/orders/{id}")
    public ResponseEntity<String> read(@PathVariable long id) {
      return orders.findById(id).map(o -> ResponseEntity.ok(o.getItem())).orElse(ResponseEntity.notFound().build());
    }

    @GetMapping("/orders-created")
    public int created() {
      return ordersCreated.get();
    }

    @GetMapping("/products/{id}")
    public String product(@PathVariable String id) {
      return catalog.price(id);
    }

    @GetMapping("/square/{n}")
    public Object square(@PathVariable long n) throws Exception {
      return pool.call("square", n, Duration.ofSeconds(30));
    }

    @GetMapping("/features/checkout-v2")
    public boolean checkoutV2() {
      return features.isCheckoutV2();
    }
  }
}
