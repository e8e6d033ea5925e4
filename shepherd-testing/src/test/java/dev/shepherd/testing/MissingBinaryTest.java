package dev.shepherd.testing;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class MissingBinaryTest {

  @Test
  void missingBinaryFailsWithTheInstallCommand() {
    assertThatThrownBy(() -> ServerSupport.binary("no-such-server-binary", "no-such-package", "/nonexistent"))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("no-such-server-binary is not installed")
        .hasMessageContaining("apt-get install -y no-such-package");
  }
}
