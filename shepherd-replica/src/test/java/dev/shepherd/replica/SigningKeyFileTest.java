package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SigningKeyFileTest {

  @TempDir Path directory;

  @Test
  void aMissingFileIsCreatedOwnerOnlyAndTheSameKeyComesBackAfterARestart() throws Exception {
    Path file = directory.resolve("state/shepherd-demo/consistency-token.key");
    byte[] first = SigningKeyFile.loadOrCreate(file);
    assertThat(first).hasSize(ConsistencyTokenCodec.MIN_SECRET_BYTES);
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file.getParent()))).isEqualTo("rwx------");
    assertThat(SigningKeyFile.loadOrCreate(file)).isEqualTo(first);
    try (var files = Files.list(file.getParent())) {
      assertThat(files).containsExactly(file); // no temporary file left behind
    }
    // A token signed before the "restart" verifies with a codec built from the file again.
    String token = ConsistencyTokenCodec.builder().signingKey("demo-1", first).build().encode(ConsistencyToken.of(Lsn.parse("0/10")));
    byte[] again = SigningKeyFile.loadOrCreate(file);
    assertThat(ConsistencyTokenCodec.builder().signingKey("demo-1", again).build().decode(token).lsn()).isEqualTo(Lsn.parse("0/10"));
  }

  @Test
  void processesStartingAtOnceShareOneKey() throws Exception {
    Path file = directory.resolve("shared.key");
    List<Future<byte[]>> results = new ArrayList<>();
    try (ExecutorService threads = Executors.newFixedThreadPool(8)) {
      for (int i = 0; i < 32; i++) {
        results.add(threads.submit(() -> SigningKeyFile.loadOrCreate(file)));
      }
    }
    byte[] expected = SigningKeyFile.loadOrCreate(file);
    for (Future<byte[]> result : results) {
      assertThat(result.get()).isEqualTo(expected);
    }
  }

  @Test
  void anUnsafeOrInvalidFileIsRefusedNamingTheProblem() throws Exception {
    Path readable = directory.resolve("readable.key");
    Files.writeString(readable, Base64.getEncoder().encodeToString(new byte[32]), StandardCharsets.US_ASCII);
    Files.setPosixFilePermissions(readable, PosixFilePermissions.fromString("rw-r--r--"));
    assertThatThrownBy(() -> SigningKeyFile.loadOrCreate(readable))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("rw-r--r--").hasMessageContaining("chmod 600");

    Path shortKey = directory.resolve("short.key");
    Files.writeString(shortKey, Base64.getEncoder().encodeToString(new byte[16]), StandardCharsets.US_ASCII);
    Files.setPosixFilePermissions(shortKey, PosixFilePermissions.fromString("rw-------"));
    assertThatThrownBy(() -> SigningKeyFile.loadOrCreate(shortKey))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("16 bytes");

    Path notBase64 = directory.resolve("text.key");
    Files.writeString(notBase64, "not base64 at all!", StandardCharsets.US_ASCII);
    Files.setPosixFilePermissions(notBase64, PosixFilePermissions.fromString("rw-------"));
    assertThatThrownBy(() -> SigningKeyFile.loadOrCreate(notBase64))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("base64");

    Path huge = directory.resolve("huge.key");
    Files.writeString(huge, "A".repeat(SigningKeyFile.MAX_FILE_BYTES + 1), StandardCharsets.US_ASCII);
    Files.setPosixFilePermissions(huge, PosixFilePermissions.fromString("rw-------"));
    assertThatThrownBy(() -> SigningKeyFile.loadOrCreate(huge))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("more than " + SigningKeyFile.MAX_FILE_BYTES);

    assertThatThrownBy(() -> SigningKeyFile.loadOrCreate(directory))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("not a regular file");
  }
}
