package dev.shepherd.pool;

import java.time.Duration;
import java.util.stream.Collectors;

/**
 * A parent JVM for {@link OrphanTest}: starts a pool of two child runners, one of them busy,
 * prints their process ids, and waits to be killed.
 */
public final class OrphanParentMain {

  private OrphanParentMain() {}

  /**
   * Runs the parent.
   *
   * @param args JVM options of the children, replacing the defaults if any are given
   * @throws Exception never expected
   */
  public static void main(String[] args) throws Exception {
    ElasticPool pool =
        ElasticPool.builder()
            .name("orphans")
            .backend(
                args.length > 0
                    ? ProcessBackend.builder()
                        .functions(TestFunctions.class)
                        .jvmOptions(java.util.Arrays.asList(args))
                        .build()
                    : ProcessBackend.builder().functions(TestFunctions.class).build())
            .min(2)
            .max(2)
            .build();
    while (pool.snapshot().ready() < 2) {
      Thread.sleep(20);
    }
    pool.callAsync("sleep", 600_000L, Duration.ofMinutes(10));
    while (pool.snapshot().busySlots() < 1) {
      Thread.sleep(20);
    }
    String pids =
        ProcessHandle.current()
            .children()
            .map(p -> Long.toString(p.pid()))
            .collect(Collectors.joining(" "));
    System.out.println("CHILDREN " + pids);
    System.out.flush();
    Thread.sleep(Long.MAX_VALUE);
  }
}
