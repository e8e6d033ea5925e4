package dev.shepherd.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class RedisServerTest {

  @RegisterExtension static final RedisServer redis = RedisServer.create();

  @Test
  void answersPing() {
    assertThat(redis.ping()).isEqualTo("+PONG");
    assertThat(redis.uri()).isEqualTo("redis://127.0.0.1:" + redis.port());
  }

  @Test
  void stopsAndRestartsOnTheSamePort() {
    int port = redis.port();
    redis.stop();
    assertThatThrownBy(redis::ping).isInstanceOf(UncheckedIOException.class);
    redis.restart();
    assertThat(redis.port()).isEqualTo(port);
    assertThat(redis.ping()).isEqualTo("+PONG");
  }

  @Test
  void separateServerLeavesNoProcessNorDirectoryAfterClose() {
    RedisServer other = RedisServer.create();
    other.start();
    int port = other.port();
    Path directory = other.directory();
    assertThat(other.ping()).isEqualTo("+PONG");
    other.close();
    assertThat(ServerSupport.isPortFree(port)).isTrue();
    assertThat(Files.exists(directory)).isFalse();
  }
}
