package dev.shepherd.spring.boot.autoconfigure.replica;

import static dev.shepherd.spring.boot.autoconfigure.internal.Settings.set;

import dev.shepherd.replica.ReplicaRouter;
import dev.shepherd.replica.ReplicaRoutingDataSource;
import dev.shepherd.replica.ReplicaTracker;
import java.sql.SQLException;
import javax.sql.DataSource;
import org.springframework.beans.BeansException;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.beans.factory.BeanFactoryAware;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.core.Ordered;
import org.springframework.transaction.support.TransactionSynchronizationManager;
import org.springframework.util.ClassUtils;

/**
 * Wraps the application's primary {@code DataSource} bean ({@code
 * shepherd.replica.routing.data-source-bean-name}) in a {@link ReplicaRoutingDataSource}, so that
 * JPA, JdbcTemplate and every transaction manager use it without a change: read-only transactions
 * go to a replica that has replayed what the request must see, the rest to the primary, and each
 * read-write commit records its position in the request's consistency token.
 *
 * <p>Read-only work is recognised by {@code Connection.setReadOnly(true)}, which Spring's
 * transaction managers call for {@code @Transactional(readOnly = true)}, and by Spring's
 * "current transaction is read-only" flag. A bean that already is a routing data source is left
 * alone.
 */
final class ReplicaRoutingPostProcessor implements BeanPostProcessor, BeanFactoryAware, Ordered {

  private static final boolean SPRING_TX = ClassUtils.isPresent(
      "org.springframework.transaction.support.TransactionSynchronizationManager", ReplicaRoutingPostProcessor.class.getClassLoader());

  private final String beanName;
  private final boolean recordWrites;
  @SuppressWarnings("NullAway.Init") // set through BeanFactoryAware before any bean is processed
  private BeanFactory beanFactory;

  ReplicaRoutingPostProcessor(String beanName, boolean recordWrites) {
    this.beanName = beanName;
    this.recordWrites = recordWrites;
  }

  @Override
  public void setBeanFactory(BeanFactory beanFactory) {
    this.beanFactory = beanFactory;
  }

  @Override
  public int getOrder() {
    return Ordered.LOWEST_PRECEDENCE;
  }

  @Override
  public Object postProcessAfterInitialization(Object bean, String name) throws BeansException {
    if (!name.equals(beanName) || !(bean instanceof DataSource primary)) {
      return bean;
    }
    try {
      if (primary.isWrapperFor(ReplicaRoutingDataSource.class)) {
        return bean;
      }
    } catch (SQLException e) {
      // A data source that cannot answer isWrapperFor is not a routing one.
    }
    ShepherdReplicaProperties properties = beanFactory.getBean(ShepherdReplicaProperties.class);
    ReplicaRouter.Builder router = ReplicaRouter.builder(primary);
    set("shepherd.replica.max-wait", properties.maxWait(), () -> router.maxWait(properties.maxWait()));
    for (ReplicaTracker tracker : beanFactory.getBean(ShepherdReplicas.class).trackers()) {
      router.replica(tracker);
    }
    beanFactory.getBeanProvider(ReplicaRouterCustomizer.class).orderedStream().forEach(c -> c.customize(router));
    ReplicaRoutingDataSource.Builder routing = ReplicaRoutingDataSource.builder(primary, router.build())
        .recordWrites(recordWrites);
    if (SPRING_TX) {
      routing.readOnlyWhen(ReplicaRoutingPostProcessor::inReadOnlyTransaction);
    }
    return routing.build();
  }

  private static boolean inReadOnlyTransaction() {
    return TransactionSynchronizationManager.isActualTransactionActive()
        && TransactionSynchronizationManager.isCurrentTransactionReadOnly();
  }
}
