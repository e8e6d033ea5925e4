package dev.shepherd.spring.boot.autoconfigure.readme;

import dev.shepherd.cache.redis.KeyCodec;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.RunnerFunction;
import dev.shepherd.spring.boot.autoconfigure.cache.ShepherdCacheKeyCodecs;
import dev.shepherd.spring.boot.autoconfigure.watch.ShepherdWatchEvent;
import java.time.Duration;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.cache.annotation.Cacheable;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.EventListener;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;

/** The Java samples of README.md, verbatim ({@code ReadmeSamplesTest} checks they are the same). */
final class ReadmeSamples {

  private ReadmeSamples() {}

  record Product(String id, long priceCents) {}

  interface ProductRepository {
    Product findById(String id);
  }

  interface Catalog {
    long priceOf(String id);
  }

  // --- sample: cache
  @Service
  static class Prices {
    private final Catalog catalog;

    Prices(Catalog catalog) {
      this.catalog = catalog;
    }

    @Cacheable(cacheNames = "prices", sync = true) // one catalog call per stampede, failures shared
    public long price(String productId) {
      return catalog.priceOf(productId);
    }
  }
  // --- end

  // --- sample: replica
  @Service
  static class Products {
    private final ProductRepository products;

    Products(ProductRepository products) {
      this.products = products;
    }

    @Transactional(readOnly = true) // on a replica that has this request's writes, else the primary
    public Product find(String id) {
      return products.findById(id);
    }
  }
  // --- end

  // --- sample: watch
  @ConfigurationProperties("features")
  public static class Features {
    private volatile boolean checkoutV2; // bound again when config/checkout-v2 changes in etcd

    public boolean isCheckoutV2() {
      return checkoutV2;
    }

    public void setCheckoutV2(boolean checkoutV2) {
      this.checkoutV2 = checkoutV2;
    }
  }

  @Service
  static class FlagLog {
    @EventListener
    public void on(ShepherdWatchEvent event) {
      System.out.println(event.name() + " is now " + event.value().orElse("(deleted)"));
    }
  }
  // --- end

  // --- sample: pool
  @Configuration
  static class ReportFunctions {
    @Bean
    RunnerFunction render() { // registered in the pool under its bean name
      return argument -> "report for " + argument;
    }
  }

  @Service
  static class Reports {
    private final ElasticPool pool;

    Reports(@Qualifier("reports") ElasticPool pool) { // the bean shepherd.pool.pools.reports made
      this.pool = pool;
    }

    public Object render(String customer) throws Exception {
      return pool.call("render", customer, Duration.ofSeconds(10));
    }
  }

  /** A key that is not a String, Long, Integer or UUID. */
  record Sku(String code) {}

  @Configuration(proxyBeanMethods = false)
  static class ClusteredKeys {
    @Bean
    ShepherdCacheKeyCodecs keyCodecs() {
      return cache -> cache.equals("skus") ? KeyCodec.of(Sku::code, Sku::new) : null; // null: the default codec
    }
  }
  // --- end
}
