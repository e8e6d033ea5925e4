package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

class PayloadCodecTest {

  @Test
  void everySupportedTypeRoundTrips() {
    Map<Object, Object> map = new LinkedHashMap<>();
    map.put("n", null);
    map.put(1, true);
    map.put(2L, false);
    map.put(3.25, "three");
    map.put("list", List.of(1, List.of("deep"), Map.of("k", -7L)));
    Object decoded = PayloadCodec.decode(PayloadCodec.encode(map));
    assertThat(decoded).isEqualTo(map);
    assertThat(new ArrayList<Object>(((Map<?, ?>) decoded).keySet())).containsExactly("n", 1, 2L, 3.25, "list");
    byte[] bytes = {1, 2, 3};
    assertThat((byte[]) PayloadCodec.decode(PayloadCodec.encode(bytes))).containsExactly(1, 2, 3);
    assertThat(PayloadCodec.decode(PayloadCodec.encode(null))).isNull();
  }

  @Property(tries = 200)
  void stringsLongsAndDoublesRoundTrip(
      @ForAll String s, @ForAll long l, @ForAll double d, @ForAll List<Integer> ints) {
    List<Object> value = Arrays.asList(s, l, d, ints);
    assertThat(PayloadCodec.decode(PayloadCodec.encode(value))).isEqualTo(value);
  }

  @Test
  void anUnsupportedTypeIsNamedWithItsPath() {
    assertThatThrownBy(() -> PayloadCodec.encode(Map.of("items", List.of(1, 2, new StringBuilder()))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "cannot encode java.lang.StringBuilder at ${items}[2]; the pool codec carries only null,"
                + " Boolean, Integer, Long, Double, String, byte[], List, Map");
    assertThatThrownBy(() -> PayloadCodec.encode((short) 1))
        .hasMessageStartingWith("cannot encode java.lang.Short at $;");
  }

  @Test
  void nestingDeeperThanTheLimitIsRefused() {
    List<Object> deep = new ArrayList<>();
    List<Object> current = deep;
    for (int i = 0; i < PayloadCodec.MAX_DEPTH + 1; i++) {
      List<Object> next = new ArrayList<>();
      current.add(next);
      current = next;
    }
    assertThatThrownBy(() -> PayloadCodec.encode(deep))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("cannot encode value nested deeper than 64 levels");
  }

  @Test
  void malformedBytesAreRefusedNotTrusted() {
    assertThatThrownBy(() -> PayloadCodec.decode(new byte[] {42}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("malformed payload: unknown tag 42");
    // A list claiming two billion elements in a few bytes is rejected before allocating.
    assertThatThrownBy(() -> PayloadCodec.decode(new byte[] {8, 0x7f, 0, 0, 0}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("malformed payload: bad length");
    assertThatThrownBy(() -> PayloadCodec.decode(new byte[] {4, 0, 0}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("malformed payload: truncated");
    byte[] trailing = Arrays.copyOf(PayloadCodec.encode(1), 6);
    assertThatThrownBy(() -> PayloadCodec.decode(trailing))
        .hasMessage("malformed payload: 1 bytes after the value");
  }
}
