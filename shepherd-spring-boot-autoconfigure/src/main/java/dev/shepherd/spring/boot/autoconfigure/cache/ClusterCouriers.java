package dev.shepherd.spring.boot.autoconfigure.cache;

import static dev.shepherd.spring.boot.autoconfigure.internal.Settings.setIfPresent;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.shepherd.cache.redis.KeyCodec;
import dev.shepherd.cache.redis.RedisCourier;
import dev.shepherd.spring.boot.autoconfigure.internal.LettuceClients;
import io.lettuce.core.RedisClient;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.util.ClassUtils;

/**
 * A {@link RedisCourier} per clustered cache, on the application's Lettuce client (see {@link
 * LettuceClients}), with JSON values of the cache's {@code value-type} written by the application's
 * Jackson 2 {@code ObjectMapper} bean (a plain one if there is none), and keys by {@link
 * ClusterKeys} unless a {@link ShepherdCacheKeyCodecs} bean gives the cache a codec. Loaded only
 * when cluster mode is on and shepherd-cache-redis, Lettuce and Jackson 2 are on the class path.
 */
final class ClusterCouriers implements CacheClustering {

  private final RedisClient client;
  private final ObjectMapper mapper;
  private final List<ShepherdCacheKeyCodecs> keyCodecs;
  private final ClassLoader classLoader;

  private ClusterCouriers(RedisClient client, ObjectMapper mapper, List<ShepherdCacheKeyCodecs> keyCodecs, ClassLoader classLoader) {
    this.client = client;
    this.mapper = mapper;
    this.keyCodecs = keyCodecs;
    this.classLoader = classLoader;
  }

  /**
   * Finds the client, the mapper and the key codecs, and makes the beans {@code closers} (the
   * manager, and the lifecycle that closes its couriers) stop and close before the client's bean.
   *
   * @throws InvalidConfigurationPropertyValueException naming shepherd.cache.cluster.enabled when
   *     there is no Lettuce client, or the mapper would let the bytes choose classes
   */
  static ClusterCouriers create(BeanFactory beanFactory, ClassLoader classLoader, String... closers) {
    LettuceClients.Found found = LettuceClients.find(beanFactory, kind -> "shepherd.cache.cluster.enabled: Spring Data Redis's Lettuce "
        + "client is a " + kind + "; cluster mode needs a standalone RedisClient (define a RedisClient bean)");
    if (found == null) {
      throw new InvalidConfigurationPropertyValueException("shepherd.cache.cluster.enabled", true, "there is no Redis client to "
          + "reach Redis with: add org.springframework.boot:spring-boot-starter-data-redis (with its Lettuce driver) and its "
          + "spring.data.redis.* settings, or define a Lettuce io.lettuce.core.RedisClient bean");
    }
    for (String closer : closers) {
      LettuceClients.closeBefore(beanFactory, found.bean(), closer);
    }
    ObjectMapper mapper = beanFactory.getBeanProvider(ObjectMapper.class).getIfUnique(ObjectMapper::new);
    return new ClusterCouriers(found.client(), mapper, beanFactory.getBeanProvider(ShepherdCacheKeyCodecs.class).orderedStream().toList(),
        classLoader);
  }

  @Override
  @SuppressWarnings("unchecked")
  public @Nullable Member member(String name, ShepherdCacheProperties.@Nullable ClusterSpec cluster, Function<String, String> property) {
    if (cluster != null && Boolean.FALSE.equals(cluster.enabled())) {
      return null;
    }
    String valueTypeName = cluster == null ? null : cluster.valueType();
    if (valueTypeName == null || valueTypeName.isBlank()) {
      throw new InvalidConfigurationPropertyValueException(property.apply("value-type"), valueTypeName, "cache '" + name
          + "' is clustered (shepherd.cache.cluster.enabled=true) and needs the fully qualified class of its values, which its "
          + "JSON codec reads from Redis; or set " + property.apply("enabled") + "=false to keep it in this JVM"
          + (name.equals(DYNAMIC) ? " (caches created on first use take shepherd.cache.defaults.*; shepherd.cache.dynamic=false "
              + "turns them off)" : ""));
    }
    Class<?> valueType;
    try {
      valueType = ClassUtils.forName(valueTypeName.strip(), classLoader);
    } catch (ClassNotFoundException | LinkageError e) {
      throw new InvalidConfigurationPropertyValueException(property.apply("value-type"), valueTypeName, "cache '" + name
          + "': no class of that name can be loaded (" + e + ")");
    }
    if (mapper.getDeserializationConfig().getDefaultTyper(mapper.constructType(valueType)) != null) {
      throw new InvalidConfigurationPropertyValueException(property.apply("value-type"), valueTypeName, "cache '" + name
          + "': the application's ObjectMapper has default typing on, which would let the bytes in Redis choose the classes to "
          + "instantiate; cluster mode needs a mapper without it");
    }
    KeyCodec<Object> keys = null;
    for (ShepherdCacheKeyCodecs codecs : keyCodecs) {
      keys = (KeyCodec<Object>) codecs.keyCodec(name);
      if (keys != null) {
        break;
      }
    }
    Consumer<Object> keyCheck = null;
    if (keys == null) {
      ClusterKeys own = new ClusterKeys(name);
      keys = own;
      keyCheck = own::check;
    }
    RedisCourier.Builder<Object, Object> builder = RedisCourier.builder(client, keys, new ClusterValues(name, mapper, valueType))
        .name(name);
    if (cluster != null) {
      setIfPresent(property.apply("key-prefix"), cluster.keyPrefix(), builder::keyPrefix);
      setIfPresent(property.apply("lease"), cluster.lease(), builder::lease);
      setIfPresent(property.apply("command-timeout"), cluster.commandTimeout(), builder::commandTimeout);
      setIfPresent(property.apply("max-value-bytes"), cluster.maxValueBytes(), builder::maxValueBytes);
      setIfPresent(property.apply("share-failure-messages"), cluster.shareFailureMessages(), builder::shareFailureMessages);
    }
    RedisCourier<Object, Object> courier = builder.build();
    return new Member(courier, keyCheck, courier);
  }
}
