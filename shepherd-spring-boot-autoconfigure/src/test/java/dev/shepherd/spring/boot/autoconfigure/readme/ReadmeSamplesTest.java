package dev.shepherd.spring.boot.autoconfigure.readme;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.spring.boot.autoconfigure.cache.ShepherdCacheProperties;
import dev.shepherd.spring.boot.autoconfigure.idempotency.ShepherdIdempotencyProperties;
import dev.shepherd.spring.boot.autoconfigure.pool.ShepherdPoolProperties;
import dev.shepherd.spring.boot.autoconfigure.replica.ShepherdReplicaProperties;
import dev.shepherd.spring.boot.autoconfigure.watch.ShepherdWatchProperties;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.bind.handler.NoUnboundElementsBindHandler;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

/**
 * The README's samples: every Java block is, verbatim, part of {@link ReadmeSamples} (so it
 * compiles with the tests), and every {@code shepherd.*} property of the properties blocks binds
 * to the auto-configuration's properties classes with no unknown name and no bad value.
 */
class ReadmeSamplesTest {

  private static final Path README = Path.of("README.md");
  private static final Path SAMPLES = Path.of("src/test/java/dev/shepherd/spring/boot/autoconfigure/readme/ReadmeSamples.java");

  private static List<String> blocks(String language) throws Exception {
    Matcher m = Pattern.compile("```" + language + "\\n(.*?)```", Pattern.DOTALL).matcher(Files.readString(README));
    List<String> blocks = new ArrayList<>();
    while (m.find()) {
      blocks.add(m.group(1));
    }
    return blocks;
  }

  private static String normalized(String code) {
    return code.lines().map(String::strip).filter(l -> !l.isEmpty()).collect(Collectors.joining("\n"));
  }

  @Test
  void everyJavaSampleIsCompiledCodeVerbatim() throws Exception {
    List<String> java = blocks("java");
    assertThat(java).hasSize(5);
    String samples = normalized(Files.readString(SAMPLES));
    for (String block : java) {
      assertThat(samples).as("README sample in ReadmeSamples.java").contains(normalized(block));
    }
  }

  @Test
  void everyShepherdPropertyOfTheReadmeBindsWithoutUnknownNames() throws Exception {
    Map<String, String> properties = new LinkedHashMap<>();
    for (String block : blocks("properties")) {
      for (String line : block.lines().toList()) {
        if (line.isBlank() || line.startsWith("#")) {
          continue;
        }
        int eq = line.indexOf('=');
        properties.put(line.substring(0, eq).strip(), line.substring(eq + 1).strip());
      }
    }
    assertThat(properties).containsKeys("shepherd.replica.replicas.replica-1.url", "shepherd.cache.caches.prices.time-to-live");
    Binder binder = new Binder(new MapConfigurationPropertySource(properties));
    Map<String, Class<?>> prefixes = Map.of(
        "shepherd.cache", ShepherdCacheProperties.class,
        "shepherd.idempotency", ShepherdIdempotencyProperties.class,
        "shepherd.replica", ShepherdReplicaProperties.class,
        "shepherd.watch", ShepherdWatchProperties.class,
        "shepherd.pool", ShepherdPoolProperties.class);
    prefixes.forEach((prefix, type) ->
        assertThat(binder.bind(prefix, Bindable.of(type), new NoUnboundElementsBindHandler(org.springframework.boot.context.properties.bind.BindHandler.DEFAULT)).isBound()).as(prefix).isTrue());
    assertThat(properties.keySet()).allMatch(k -> k.startsWith("management.")
        || prefixes.keySet().stream().anyMatch(p -> k.startsWith(p + ".")));
    ShepherdReplicaProperties replica = binder.bind("shepherd.replica", ShepherdReplicaProperties.class).get();
    assertThat(replica.replicas().get("replica-1").url()).isEqualTo("jdbc:postgresql://replica-1:5432/shop");
  }
}
