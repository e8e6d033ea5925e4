package dev.shepherd.pool;

import java.lang.reflect.Constructor;
import java.lang.reflect.Modifier;

/** Instantiates {@link FunctionRegistryFactory} classes, in the parent and in runners. */
final class FunctionRegistries {

  private FunctionRegistries() {}

  /**
   * Builds the registry of a factory class.
   *
   * @param factory a public class with a public no-argument constructor
   * @return the registry it creates
   * @throws IllegalArgumentException if it cannot be instantiated or returns null
   */
  public static FunctionRegistry instantiate(Class<? extends FunctionRegistryFactory> factory) {
    try {
      requirePublic(factory);
      Constructor<? extends FunctionRegistryFactory> constructor = factory.getConstructor();
      FunctionRegistry registry = constructor.newInstance().create();
      if (registry == null) {
        throw new IllegalArgumentException(factory.getName() + ".create() returned null");
      }
      return registry;
    } catch (NoSuchMethodException e) {
      throw new IllegalArgumentException(
          "function registry factory "
              + factory.getName()
              + " needs a public no-argument constructor",
          e);
    } catch (ReflectiveOperationException e) {
      throw new IllegalArgumentException(
          "cannot instantiate function registry factory " + factory.getName() + ": " + e, e);
    }
  }

  /**
   * Builds the registry of a factory class named in a runner's environment.
   *
   * @param className the binary name of the factory class
   * @return the registry it creates
   * @throws IllegalArgumentException if the class is missing, not a factory, or cannot be
   *     instantiated
   */
  public static FunctionRegistry instantiate(String className) {
    Class<?> type;
    try {
      type = Class.forName(className, true, Thread.currentThread().getContextClassLoader());
    } catch (ClassNotFoundException e) {
      throw new IllegalArgumentException(
          "function registry factory class " + className + " is not on the classpath", e);
    }
    if (!FunctionRegistryFactory.class.isAssignableFrom(type)) {
      throw new IllegalArgumentException(
          className + " does not implement " + FunctionRegistryFactory.class.getName());
    }
    return instantiate(type.asSubclass(FunctionRegistryFactory.class));
  }

  private static void requirePublic(Class<?> factory) {
    if (!Modifier.isPublic(factory.getModifiers())) {
      throw new IllegalArgumentException(
          "function registry factory " + factory.getName() + " must be a public class");
    }
  }
}
