package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A child's stdout and stderr are pumped into the parent's log line by line; a child that writes
 * without newlines must not make the parent hold the whole "line" in memory.
 */
class ChildOutputLinesTest {

  /** Writes {@code size} bytes of 'x' without a newline, made as read, never held whole. */
  private static InputStream endlessLine(long size) {
    return new InputStream() {
      long left = size;

      @Override
      public int read() {
        if (left == 0) {
          return -1;
        }
        left--;
        return 'x';
      }

      @Override
      public int read(byte[] b, int off, int len) {
        if (left == 0) {
          return -1;
        }
        int n = (int) Math.min(len, left);
        java.util.Arrays.fill(b, off, off + n, (byte) 'x');
        left -= n;
        return n;
      }
    };
  }

  private static InputStream text(String s) {
    return new ByteArrayInputStream(s.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void aLineOfTensOfMegabytesIsCutAtTheLimitWithoutBeingHeldInMemory() throws IOException {
    long size = 64L * 1024 * 1024;
    InputStream output = new SequenceInputStream(endlessLine(size), text("\nnext line\n"));
    List<String> lines = new ArrayList<>();
    var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long before = threads.getCurrentThreadAllocatedBytes();

    ProcessLauncher.forEachLine(output, ProcessLauncher.MAX_LINE_BYTES, lines::add);

    long allocated = threads.getCurrentThreadAllocatedBytes() - before;
    assertThat(lines).hasSize(2);
    assertThat(lines.get(0))
        .startsWith("x".repeat(ProcessLauncher.MAX_LINE_BYTES))
        .endsWith("...(" + (size - ProcessLauncher.MAX_LINE_BYTES) + " more bytes left out)");
    assertThat(lines.get(1)).isEqualTo("next line");
    // Reading it as one String would allocate hundreds of megabytes (a char per byte, and growth).
    assertThat(allocated).isLessThan(4L * 1024 * 1024);
  }

  @Test
  void linesEndAtNewlinesWithTheirCarriageReturnsDroppedAndTheLastOneNeedsNoNewline()
      throws IOException {
    List<String> lines = new ArrayList<>();

    ProcessLauncher.forEachLine(text("one\r\ntwo\n\nthr\u00e9e"), 16, lines::add);

    assertThat(lines).containsExactly("one", "two", "", "thr\u00e9e");
  }
}
