package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A child JVM maps its class-data sharing archive without verifying the classes in it again, so
 * whoever can write that file runs code in every child. The default options only name an archive
 * in a directory of this user's own that nobody else can write.
 */
class ArchiveDirectoryTest {

  @TempDir Path tmp;
  private String jarClasspath;
  private UserPrincipal me;

  @BeforeEach
  void setUp() throws IOException {
    jarClasspath = Files.createFile(tmp.resolve("app.jar")).toString();
    me = Files.getOwner(tmp);
  }

  @Test
  void theArchiveLivesInAnOwnerOnlyDirectoryMadeForThisUser() throws IOException {
    List<String> options = ProcessLauncher.defaultJvmOptions(jarClasspath, tmp, "ann", me);

    Path directory = tmp.resolve("shepherd-pool-cds-ann");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(directory)))
        .isEqualTo("rwx------");
    assertThat(archiveOption(options)).startsWith("-XX:SharedArchiveFile=" + directory + "/");
    assertThat(options).contains("-XX:+AutoCreateSharedArchive");
    // made once, then found and trusted again
    assertThat(ProcessLauncher.defaultJvmOptions(jarClasspath, tmp, "ann", me))
        .isEqualTo(options);
  }

  @Test
  void aDirectoryOthersCanWriteIsNotUsed() throws IOException {
    Path directory = Files.createDirectory(tmp.resolve("shepherd-pool-cds-ann"));
    Files.setPosixFilePermissions(directory, PosixFilePermissions.fromString("rwxrwxrwx"));

    List<String> options = ProcessLauncher.defaultJvmOptions(jarClasspath, tmp, "ann", me);

    assertThat(options).noneMatch(o -> o.contains("SharedArchive"));
    assertThat(options).contains("-Xshare:auto");
  }

  @Test
  void aDirectoryOfAnotherUserIsNotUsed() throws IOException {
    Path directory = Files.createDirectory(tmp.resolve("shepherd-pool-cds-ann"));
    Files.setPosixFilePermissions(directory, PosixFilePermissions.fromString("rwx------"));
    UserPrincipal someoneElse =
        FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByName("nobody");
    assertThat(someoneElse).isNotEqualTo(me);

    assertThat(ProcessLauncher.archiveDirectory(tmp, "ann", someoneElse)).isNull();
    assertThat(ProcessLauncher.archiveDirectory(tmp, "ann", null)).isNull();
    assertThat(ProcessLauncher.archiveDirectory(tmp, "ann", me)).isEqualTo(directory);
  }

  @Test
  void aLinkInPlaceOfTheDirectoryIsNotFollowed() throws IOException {
    Path elsewhere = Files.createDirectory(tmp.resolve("attacker"));
    Files.setPosixFilePermissions(elsewhere, PosixFilePermissions.fromString("rwx------"));
    Path link = Files.createSymbolicLink(tmp.resolve("shepherd-pool-cds-ann"), elsewhere);

    List<String> options = ProcessLauncher.defaultJvmOptions(jarClasspath, tmp, "ann", me);

    assertThat(options).noneMatch(o -> o.contains("SharedArchive"));
    assertThat(Files.isSymbolicLink(link)).isTrue();
    try (var inside = Files.list(elsewhere)) {
      assertThat(inside).isEmpty();
    }
  }

  @Test
  void aUserNameCannotLeadOutOfTheTemporaryDirectory() throws IOException {
    Path directory = ProcessLauncher.archiveDirectory(tmp, "../../etc/x y", me);

    assertThat(directory).isEqualTo(tmp.resolve("shepherd-pool-cds-.._.._etc_x_y"));
    assertThat(Files.isDirectory(directory, LinkOption.NOFOLLOW_LINKS)).isTrue();
  }

  private static String archiveOption(List<String> options) {
    return options.stream()
        .filter(o -> o.startsWith("-XX:SharedArchiveFile="))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no archive option in " + options));
  }
}
