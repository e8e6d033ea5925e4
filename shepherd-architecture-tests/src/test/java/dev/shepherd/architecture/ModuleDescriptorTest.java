package dev.shepherd.architecture;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.module.ModuleDescriptor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.jar.JarFile;
import java.util.zip.ZipEntry;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Reads the module descriptor ({@code module-info.class}) of every Shepherd module this test
 * depends on, as built (a jar, or the classes directory inside the reactor), and checks that no
 * internal package is visible to application code: a package with an {@code internal} segment is
 * exported or opened only to named Shepherd modules, and every qualified export names Shepherd
 * modules only (an API package may be opened to a framework that reflects on it, as the test kit
 * is to JUnit).
 */
class ModuleDescriptorTest {

  /** Every published module with a descriptor. */
  private static final Set<String> MODULES_WITH_DESCRIPTOR = Set.of(
      "dev.shepherd.core",
      "dev.shepherd.cache",
      "dev.shepherd.cache.redis",
      "dev.shepherd.idempotency",
      "dev.shepherd.idempotency.servlet",
      "dev.shepherd.idempotency.redis",
      "dev.shepherd.idempotency.testkit",
      "dev.shepherd.watch",
      "dev.shepherd.watch.etcd",
      "dev.shepherd.replica",
      "dev.shepherd.pool",
      "dev.shepherd.pool.kubernetes",
      "dev.shepherd.micrometer",
      "dev.shepherd.testing");

  private static final Map<String, ModuleDescriptor> descriptors = new TreeMap<>();

  @BeforeAll
  static void readDescriptors() {
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      ModuleDescriptor descriptor = descriptorOf(Path.of(entry));
      if (descriptor != null && descriptor.name().startsWith("dev.shepherd.")) {
        descriptors.put(descriptor.name(), descriptor);
      }
    }
  }

  @Test
  void everyPublishedModuleHasADescriptor() {
    assertThat(descriptors.keySet()).containsExactlyInAnyOrderElementsOf(MODULES_WITH_DESCRIPTOR);
  }

  @Test
  void internalPackagesAreExportedToShepherdModulesOnly() {
    List<String> problems = new ArrayList<>();
    descriptors.values().forEach(module -> problems.addAll(visibilityProblems(module)));
    assertThat(problems).as("internal packages visible outside Shepherd").isEmpty();
  }

  @Test
  void noShepherdModuleIsOpenToEveryone() {
    assertThat(descriptors.values()).filteredOn(ModuleDescriptor::isOpen)
        .extracting(ModuleDescriptor::name).isEmpty();
  }

  @Test
  void theCheckFindsAnUnqualifiedExportOfAnInternalPackage() {
    ModuleDescriptor leaky = ModuleDescriptor.newModule("dev.shepherd.leaky")
        .packages(Set.of("dev.shepherd.leaky", "dev.shepherd.leaky.internal",
            "dev.shepherd.leaky.internal.wire"))
        .exports("dev.shepherd.leaky")
        .exports("dev.shepherd.leaky.internal")
        .exports(Set.of(), "dev.shepherd.leaky.internal.wire", Set.of("com.example.app"))
        .opens("dev.shepherd.leaky.internal.wire")
        .opens(Set.of(), "dev.shepherd.leaky", Set.of("org.junit.platform.commons"))
        .build();

    assertThat(visibilityProblems(leaky)).containsExactlyInAnyOrder(
        "dev.shepherd.leaky exports dev.shepherd.leaky.internal to everyone",
        "dev.shepherd.leaky exports dev.shepherd.leaky.internal.wire to com.example.app",
        "dev.shepherd.leaky opens dev.shepherd.leaky.internal.wire to everyone");
  }

  /** What in the module's exports and opens makes an internal package visible outside Shepherd. */
  static List<String> visibilityProblems(ModuleDescriptor module) {
    List<String> problems = new ArrayList<>();
    for (ModuleDescriptor.Exports export : module.exports()) {
      check(module.name(), "exports", export.source(), export.targets(), problems);
    }
    for (ModuleDescriptor.Opens open : module.opens()) {
      if (isInternal(open.source())) {
        check(module.name(), "opens", open.source(), open.targets(), problems);
      }
    }
    return problems;
  }

  private static void check(String module, String verb, String pkg, Set<String> targets,
      List<String> problems) {
    if (targets.isEmpty()) {
      if (isInternal(pkg)) {
        problems.add(module + " " + verb + " " + pkg + " to everyone");
      }
      return;
    }
    targets.stream().filter(target -> !target.startsWith("dev.shepherd.")).sorted()
        .forEach(target -> problems.add(module + " " + verb + " " + pkg + " to " + target));
  }

  private static boolean isInternal(String pkg) {
    return List.of(pkg.split("\\.")).contains("internal");
  }

  private static ModuleDescriptor descriptorOf(Path entry) {
    try {
      if (Files.isDirectory(entry)) {
        Path file = entry.resolve("module-info.class");
        if (!Files.isRegularFile(file)) {
          return null;
        }
        try (InputStream in = Files.newInputStream(file)) {
          return ModuleDescriptor.read(in);
        }
      }
      if (!Files.isRegularFile(entry) || !entry.toString().endsWith(".jar")) {
        return null;
      }
      try (JarFile jar = new JarFile(entry.toFile())) {
        ZipEntry file = jar.getEntry("module-info.class");
        if (file == null) {
          return null;
        }
        try (InputStream in = jar.getInputStream(file)) {
          return ModuleDescriptor.read(in);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the module descriptor in " + entry, e);
    }
  }
}
