package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

class LsnTest {

  @Test
  void parsesAndPrintsTheServerForm() {
    Lsn lsn = Lsn.parse("16/B374D848");
    assertThat(lsn.value()).isEqualTo(0x16_B374D848L);
    assertThat(lsn).hasToString("16/B374D848");
    assertThat(Lsn.parse("0/0")).isEqualTo(Lsn.ZERO).hasToString("0/0");
    assertThat(Lsn.parse("ffffffff/ffffffff").value()).isEqualTo(-1L);
    assertThat(Lsn.parse("0/1a")).hasToString("0/1A");
  }

  @Test
  void comparesAsUnsignedPositions() {
    assertThat(Lsn.parse("0/10")).isLessThan(Lsn.parse("0/11"));
    assertThat(Lsn.parse("1/0")).isGreaterThan(Lsn.parse("0/FFFFFFFF"));
    assertThat(Lsn.parse("FFFFFFFF/0")).isGreaterThan(Lsn.parse("7FFFFFFF/FFFFFFFF"));
    assertThat(Lsn.parse("0/20").isAtLeast(Lsn.parse("0/20"))).isTrue();
    assertThat(Lsn.parse("0/1F").isAtLeast(Lsn.parse("0/20"))).isFalse();
    assertThat(Lsn.max(Lsn.parse("1/0"), Lsn.parse("0/5"))).isEqualTo(Lsn.parse("1/0"));
    assertThat(Lsn.max(null, Lsn.parse("0/5"))).isEqualTo(Lsn.parse("0/5"));
  }

  @Test
  void subtractsInBytes() {
    assertThat(Lsn.parse("0/20").bytesSince(Lsn.parse("0/10"))).isEqualTo(16);
    assertThat(Lsn.parse("1/0").bytesSince(Lsn.parse("0/FFFFFFFF"))).isEqualTo(1);
    assertThat(Lsn.parse("0/10").bytesSince(Lsn.parse("0/20"))).isEqualTo(-16);
    assertThatThrownBy(() -> Lsn.parse("FFFFFFFF/FFFFFFFF").bytesSince(Lsn.ZERO))
        .isInstanceOf(ArithmeticException.class);
  }

  @Test
  void malformedTextIsRejectedWithAMessageQuotingIt() {
    for (String bad : new String[] {"", "/", "0/", "/0", "12", "0/0/0", "G/0", "0/ 1", "123456789/0",
        "0/123456789", "-1/0", "0x1/0", "\u0661/0"}) {
      assertThatThrownBy(() -> Lsn.parse(bad))
          .as(bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("\"" + bad + "\"");
    }
  }

  @Property
  void printingThenParsingGivesTheSamePosition(@ForAll long value) {
    Lsn lsn = Lsn.of(value);
    assertThat(Lsn.parse(lsn.toString())).isEqualTo(lsn);
    assertThat(Lsn.parse(lsn.toString().toLowerCase(java.util.Locale.ROOT))).isEqualTo(lsn);
  }

  @Property
  void orderAgreesWithUnsignedValues(@ForAll long a, @ForAll long b) {
    assertThat(Integer.signum(Lsn.of(a).compareTo(Lsn.of(b)))).isEqualTo(Integer.signum(Long.compareUnsigned(a, b)));
  }
}
