package dev.shepherd.demo;

import java.util.concurrent.atomic.AtomicLong;

/**
 * A deliberately slow product catalog (think: a remote service that takes 200 ms), so the
 * coalescing cache in front of it has something to save.
 */
final class Catalog {

  /** A product as the catalog returns it. */
  record Product(String id, String name, long priceCents) {}

  private final AtomicLong lookups = new AtomicLong();

  Product lookup(String id) throws InterruptedException {
    lookups.incrementAndGet();
    Thread.sleep(200);
    int n = Math.floorMod(id.hashCode(), 1_000);
    return new Product(id, "Product " + id, 500 + n * 7L);
  }

  long lookups() {
    return lookups.get();
  }
}
