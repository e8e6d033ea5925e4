package dev.shepherd.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class EtcdServerTest {

  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  @Test
  void returnsAValueThatWasPut() {
    etcd.put("shepherd/smoke", "hello");
    assertThat(etcd.get("shepherd/smoke")).contains("hello");
    assertThat(etcd.get("shepherd/absent")).isEmpty();
  }

  @Test
  void keepsDataAcrossRestartAndLosesItAfterWipe() {
    etcd.put("shepherd/durable", "kept");
    etcd.restart();
    assertThat(etcd.get("shepherd/durable")).contains("kept");
    etcd.stop();
    etcd.wipe();
    etcd.restart();
    assertThat(etcd.get("shepherd/durable")).isEmpty();
  }

  @Test
  void separateServerLeavesNoProcessNorDirectoryAfterClose() {
    EtcdServer other = EtcdServer.create();
    other.start();
    int port = other.port();
    Path data = other.dataDirectory();
    other.put("k", "v");
    assertThat(other.get("k")).contains("v");
    other.close();
    assertThat(ServerSupport.isPortFree(port)).isTrue();
    assertThat(Files.exists(data.getParent())).isFalse();
  }
}
