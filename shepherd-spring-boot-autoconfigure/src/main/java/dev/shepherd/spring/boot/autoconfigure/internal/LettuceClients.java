package dev.shepherd.spring.boot.autoconfigure.internal;

import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.RedisClient;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.beans.factory.ListableBeanFactory;
import org.springframework.beans.factory.config.ConfigurableBeanFactory;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;
import org.springframework.util.ClassUtils;

/**
 * Finds the application's Lettuce client: a {@link RedisClient} bean, else the client of Spring Data
 * Redis's {@link LettuceConnectionFactory} bean. Loaded only when Lettuce is on the class path (the
 * callers check first); Spring Data Redis is looked for by name.
 */
public final class LettuceClients {
  private LettuceClients() {}

  private static final String FACTORY = "org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory";

  /**
   * The client and the bean it came from.
   *
   * @param client the standalone client
   * @param bean the {@code RedisClient} or {@code LettuceConnectionFactory} bean that owns it
   */
  public record Found(RedisClient client, Object bean) {}

  /**
   * Returns the application's Lettuce client: a unique {@code RedisClient} bean, else the native
   * client of a unique Spring Data Redis {@code LettuceConnectionFactory} (started if it is not).
   *
   * @param beanFactory where the beans are looked up
   * @param notStandalone the error's message when the factory's client is not a standalone {@code
   *     RedisClient} (a cluster client), given that client's description
   * @return the client, or null when there is neither bean
   * @throws IllegalStateException if the factory's client is not a standalone {@code RedisClient}
   */
  public static @Nullable Found find(BeanFactory beanFactory, Function<String, String> notStandalone) {
    RedisClient client = beanFactory.getBeanProvider(RedisClient.class).getIfUnique();
    if (client != null) {
      return new Found(client, client);
    }
    if (ClassUtils.isPresent(FACTORY, LettuceClients.class.getClassLoader())) {
      LettuceConnectionFactory factory = beanFactory.getBeanProvider(LettuceConnectionFactory.class).getIfUnique();
      if (factory != null) {
        if (!factory.isRunning()) {
          factory.start();
        }
        AbstractRedisClient nativeClient = factory.getNativeClient();
        if (nativeClient instanceof RedisClient standalone) {
          return new Found(standalone, factory);
        }
        throw new IllegalStateException(notStandalone.apply(nativeClient == null ? "null client" : nativeClient.getClass().getSimpleName()));
      }
    }
    return null;
  }

  /**
   * Makes the bean {@code dependent} depend on the singleton bean {@code owner} (found by identity),
   * so that the context destroys {@code dependent} first: a user of the client is closed before
   * the client is shut down.
   *
   * @param beanFactory the factory holding both
   * @param owner the bean that owns the client ({@link Found#bean()})
   * @param dependent the name of the bean that uses it
   */
  public static void closeBefore(BeanFactory beanFactory, Object owner, String dependent) {
    if (!(beanFactory instanceof ListableBeanFactory listable) || !(beanFactory instanceof ConfigurableBeanFactory configurable)) {
      return;
    }
    for (String name : listable.getBeanNamesForType(owner.getClass(), false, false)) {
      // The very instance, not an equal one: another bean may hold an equal client.
      @SuppressWarnings("ReferenceEquality")
      boolean same = configurable.containsSingleton(name) && configurable.getSingleton(name) == owner;
      if (same) {
        configurable.registerDependentBean(name, dependent);
      }
    }
  }
}
