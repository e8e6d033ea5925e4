package dev.shepherd.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Dependencies between the packages of every Shepherd module's main classes (tests excluded):
 * no package cycle, and no capability depends on another capability. A capability is a module
 * family: the core capability module and its integrations for one store or platform (the cache
 * and its Redis cluster mode; the idempotency tracker, its Redis store and its servlet filter;
 * the watcher and its etcd source; the replica module; the pool and its Kubernetes backend).
 * The integration modules (Micrometer, Spring Boot, the test kit, the test fixtures, the demo)
 * may use any capability.
 */
class PackageDependencyTest {

  /** Capability name: the packages under {@code dev.shepherd.<name>}. */
  private static final List<String> CAPABILITIES =
      List.of("cache", "idempotency", "watch", "replica", "pool");

  /** Packages of modules that wire capabilities together, which capabilities must not use. */
  private static final List<String> INTEGRATIONS =
      List.of("micrometer", "spring", "testing", "demo", "benchmarks", "architecture");

  private static JavaClasses classes;

  @BeforeAll
  static void importMainClasses() {
    classes = new ClassFileImporter()
        .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
        .importPackages("dev.shepherd");
  }

  @Test
  void mainClassesOfEveryModuleAreImported() {
    Stream.concat(Stream.of("core", "demo", "spring.boot.autoconfigure", "micrometer", "testing",
            "idempotency.testkit"), CAPABILITIES.stream())
        .forEach(name -> assertThat(classes.containPackage("dev.shepherd." + name))
            .as("classes of dev.shepherd.%s imported", name).isTrue());
    assertThat(classes.stream().map(c -> c.getSimpleName()))
        .as("test classes stay out").noneMatch(name -> name.endsWith("Test"));
  }

  /**
   * Every package of every module, each a slice of its own: no package cycle, without exception.
   * The pool's packages, for one, depend one way: {@code dev.shepherd.pool} on its SPI and on its
   * wire format, and neither of those on anything else of the pool.
   */
  @Test
  void noPackageCycle() {
    slices().matching("dev.shepherd.(**)").should().beFreeOfCycles().check(classes);
  }

  static Stream<String> capabilities() {
    return CAPABILITIES.stream();
  }

  @ParameterizedTest
  @MethodSource("capabilities")
  void aCapabilityDependsOnNoOtherCapabilityNorOnAnIntegration(String capability) {
    // The idempotency test kit is an integration (a test library) inside the idempotency family.
    String[] forbidden = Stream.concat(
            CAPABILITIES.stream().filter(other -> !other.equals(capability)),
            INTEGRATIONS.stream())
        .map(other -> "dev.shepherd." + other + "..")
        .toArray(String[]::new);
    ArchRule rule = noClasses()
        .that().resideInAPackage("dev.shepherd." + capability + "..")
        .and().resideOutsideOfPackage("dev.shepherd.idempotency.testkit..")
        .should().dependOnClassesThat().resideInAnyPackage(forbidden)
        .because("a capability module is used alone; only integration modules combine them");
    rule.check(classes);
  }
}
