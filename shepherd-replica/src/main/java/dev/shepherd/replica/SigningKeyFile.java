package dev.shepherd.replica;

import dev.shepherd.core.internal.Require;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.EnumSet;
import java.util.Set;

/**
 * A {@link ConsistencyTokenCodec} secret kept in a file, so that a service signs with the same key
 * after a restart and the tokens its clients hold (cookies above all) stay valid.
 *
 * <pre>{@code
 * byte[] secret = SigningKeyFile.loadOrCreate(Path.of("/var/lib/orders/consistency-token.key"));
 * ConsistencyTokenCodec codec = ConsistencyTokenCodec.builder().signingKey("orders-1", secret).build();
 * }</pre>
 *
 * <p>The file holds one line, the base64 of the secret. When it does not exist, 32 bytes from
 * {@link SecureRandom} are written to a new file readable and writable by its owner only
 * ({@code 0600}; the directories missing on the way are made {@code 0700}), through a temporary file
 * linked into place, so two processes starting at once end up with the same key and none ever reads
 * a half-written one. An existing file is refused when anyone but its owner may read or write it,
 * when it is larger than {@value #MAX_FILE_BYTES} bytes, or when its secret is shorter than
 * {@value ConsistencyTokenCodec#MIN_SECRET_BYTES} bytes; the message names the file and the fix.
 * On file systems without POSIX permissions the permission checks are skipped.
 *
 * <p>To rotate: sign with a new file's key under a new key id and keep the old file's key as a
 * {@linkplain ConsistencyTokenCodec.Builder#verificationKey verification key} for the
 * {@linkplain ConsistencyTokenPolicy#maxAge() maximum token age}.
 */
public final class SigningKeyFile {

  /** The largest key file read. */
  public static final int MAX_FILE_BYTES = 1024;

  private static final Set<PosixFilePermission> OWNER_ONLY =
      EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);

  private SigningKeyFile() {}

  /**
   * Returns the secret in {@code file}, creating the file with a new random secret if it does not
   * exist.
   *
   * @param file the key file
   * @return the secret, at least {@value ConsistencyTokenCodec#MIN_SECRET_BYTES} bytes
   * @throws NullPointerException if {@code file} is null
   * @throws IllegalStateException if the file exists but is not a safe, valid key file
   * @throws IOException if the file or its directory cannot be read or written
   */
  public static byte[] loadOrCreate(Path file) throws IOException {
    Require.nonNull(file, "file");
    Path absolute = file.toAbsolutePath();
    if (!Files.exists(absolute, LinkOption.NOFOLLOW_LINKS)) {
      create(absolute);
    }
    return load(absolute);
  }

  private static void create(Path file) throws IOException {
    Path directory = file.getParent();
    if (directory == null) {
      throw new IOException("the signing key file " + file + " has no parent directory");
    }
    boolean posix = Files.getFileAttributeView(directory.getRoot(), PosixFileAttributeView.class) != null;
    if (!Files.isDirectory(directory)) {
      if (posix) {
        Files.createDirectories(directory, PosixFilePermissions.asFileAttribute(
            EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE)));
      } else {
        Files.createDirectories(directory);
      }
    }
    byte[] secret = new byte[ConsistencyTokenCodec.MIN_SECRET_BYTES];
    new SecureRandom().nextBytes(secret);
    Path temporary = posix
        ? Files.createTempFile(directory, ".key-", ".tmp", PosixFilePermissions.asFileAttribute(OWNER_ONLY))
        : Files.createTempFile(directory, ".key-", ".tmp");
    try {
      Files.writeString(temporary, Base64.getEncoder().encodeToString(secret) + "\n", StandardCharsets.US_ASCII);
      try {
        Files.createLink(file, temporary); // fails if another process created it first: then use theirs
      } catch (FileAlreadyExistsException raced) {
        // keep the file that won
      } catch (UnsupportedOperationException | IOException noLinks) {
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
          Files.copy(temporary, file); // no hard links here: copy, still refusing to overwrite
        }
      }
    } finally {
      Files.deleteIfExists(temporary);
    }
  }

  private static byte[] load(Path file) throws IOException {
    if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
      throw new IllegalStateException("signing key file " + file + " is not a regular file");
    }
    PosixFileAttributeView view = Files.getFileAttributeView(file, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
    if (view != null) {
      Set<PosixFilePermission> permissions = view.readAttributes().permissions();
      if (!OWNER_ONLY.containsAll(permissions)) {
        throw new IllegalStateException("signing key file " + file + " has permissions "
            + PosixFilePermissions.toString(permissions) + ": anyone who reads it can forge consistency tokens; "
            + "run chmod 600 " + file);
      }
    }
    long size = Files.size(file);
    if (size > MAX_FILE_BYTES) {
      throw new IllegalStateException("signing key file " + file + " is " + size + " bytes, more than "
          + MAX_FILE_BYTES + ": not a key file");
    }
    String text = Files.readString(file, StandardCharsets.US_ASCII).strip();
    byte[] secret;
    try {
      secret = Base64.getDecoder().decode(text);
    } catch (IllegalArgumentException e) {
      throw new IllegalStateException("signing key file " + file + " does not hold base64 text: " + e.getMessage(), e);
    }
    if (secret.length < ConsistencyTokenCodec.MIN_SECRET_BYTES) {
      throw new IllegalStateException("signing key file " + file + " holds " + secret.length
          + " bytes, fewer than " + ConsistencyTokenCodec.MIN_SECRET_BYTES + "; delete it to have a new key made");
    }
    return secret;
  }
}
