package dev.shepherd.idempotency.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.CharRange;
import net.jqwik.api.constraints.StringLength;
import org.junit.jupiter.api.Test;

/** The Idempotency-Key header grammar: RFC 9651 sf-string, lenient bare tokens, and limits. */
class KeyHeaderParserTest {

  private final KeyHeaderParser strict = new KeyHeaderParser(false);
  private final KeyHeaderParser lenient = new KeyHeaderParser(true);

  /** Serializes a string as RFC 9651 section 4.1.6 does. */
  static String serialize(String key) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : key.toCharArray()) {
      if (c == '"' || c == '\\') {
        out.append('\\');
      }
      out.append(c);
    }
    return out.append('"').toString();
  }

  @Provide
  Arbitrary<String> printableKeys() {
    return Arbitraries.strings().withCharRange((char) 0x20, (char) 0x7e).ofMinLength(1)
        .ofMaxLength(255);
  }

  @Property
  void everySerializedPrintableKeyParsesBackToItself(@ForAll("printableKeys") String key) {
    assertThat(strict.parse(serialize(key))).isEqualTo(new KeyHeaderParser.Key(key));
    assertThat(lenient.parse(serialize(key))).isEqualTo(new KeyHeaderParser.Key(key));
  }

  @Property
  void surroundingSpacesAndParametersDoNotChangeTheKey(@ForAll("printableKeys") String key,
      @ForAll @StringLength(max = 3) @CharRange(from = ' ', to = ' ') String spaces) {
    assertThat(strict.parse(spaces + serialize(key) + ";v=1;ttl=2.5;x" + spaces))
        .isEqualTo(new KeyHeaderParser.Key(key));
  }

  @Property
  void aCharacterOutsidePrintableAsciiIsMalformed(@ForAll("printableKeys") String key,
      @ForAll char c) {
    if (c >= 0x20 && c <= 0x7e) {
      return;
    }
    String value = serialize(key);
    String broken = value.substring(0, value.length() - 1) + c + "\"";
    assertThat(strict.parse(broken)).isInstanceOf(KeyHeaderParser.Malformed.class);
  }

  @Property(tries = 200)
  void keysLongerThan255AreMalformed(
      @ForAll @StringLength(min = 256, max = 2000) @CharRange(from = 'a', to = 'z') String key) {
    assertThat(strict.parse(serialize(key))).isInstanceOf(KeyHeaderParser.Malformed.class);
  }

  @Property
  void anythingThatParsesIsOneTo255PrintableCharacters(@ForAll String header) {
    if (lenient.parse(header) instanceof KeyHeaderParser.Key(String key)) {
      assertThat(key).hasSizeBetween(1, 255);
      assertThat(key.chars()).allMatch(c -> c >= 0x20 && c <= 0x7e);
    }
  }

  @Test
  void escapesUnescape() {
    assertThat(strict.parse("\"a\\\"b\\\\c\"")).isEqualTo(new KeyHeaderParser.Key("a\"b\\c"));
  }

  @Test
  void otherEscapesAreMalformed() {
    assertThat(strict.parse("\"a\\nb\"")).isInstanceOf(KeyHeaderParser.Malformed.class);
    assertThat(strict.parse("\"a\\")).isInstanceOf(KeyHeaderParser.Malformed.class);
  }

  @Test
  void unterminatedStringIsMalformed() {
    assertThat(strict.parse("\"abc")).isInstanceOf(KeyHeaderParser.Malformed.class);
  }

  @Test
  void emptyStringAndEmptyHeaderAreMalformed() {
    assertThat(strict.parse("\"\"")).isInstanceOf(KeyHeaderParser.Malformed.class);
    assertThat(strict.parse("")).isInstanceOf(KeyHeaderParser.Malformed.class);
    assertThat(strict.parse("   ")).isInstanceOf(KeyHeaderParser.Malformed.class);
  }

  @Test
  void exactly255CharactersIsAccepted() {
    String key = "k".repeat(255);
    assertThat(strict.parse(serialize(key))).isEqualTo(new KeyHeaderParser.Key(key));
  }

  @Test
  void listsAndTrailingGarbageAreMalformed() {
    assertThat(strict.parse("\"a\", \"b\"")).isInstanceOf(KeyHeaderParser.Malformed.class);
    assertThat(strict.parse("\"a\" b")).isInstanceOf(KeyHeaderParser.Malformed.class);
  }

  @Test
  void badParametersAreMalformed() {
    assertThat(strict.parse("\"a\";Upper=1")).isInstanceOf(KeyHeaderParser.Malformed.class);
    assertThat(strict.parse("\"a\";x=")).isInstanceOf(KeyHeaderParser.Malformed.class);
    assertThat(strict.parse("\"a\";x=1.2345")).isInstanceOf(KeyHeaderParser.Malformed.class);
  }

  @Test
  void everyBareItemTypeIsAcceptedAsParameter() {
    assertThat(strict.parse("\"a\";s=\"x\";t=tok/en:1;b=?1;n=-12.5;d=@1700000000;"
        + "y=:aGk=:;ds=%\"caf%c3%a9\""))
        .isEqualTo(new KeyHeaderParser.Key("a"));
  }

  @Test
  void bareTokenIsMalformedWhenStrict() {
    assertThat(strict.parse("8e03978e-40d5")).isInstanceOf(KeyHeaderParser.Malformed.class);
  }

  @Test
  void bareTokenIsAcceptedWhenLenientEvenStartingWithADigit() {
    assertThat(lenient.parse("8e03978e-40d5-43e8")).isEqualTo(
        new KeyHeaderParser.Key("8e03978e-40d5-43e8"));
    assertThat(lenient.parse("urn:key/1;p=1")).isEqualTo(new KeyHeaderParser.Key("urn:key/1"));
    assertThat(lenient.parse("has space")).isInstanceOf(KeyHeaderParser.Malformed.class);
    assertThat(lenient.parse("a=b")).isInstanceOf(KeyHeaderParser.Malformed.class);
  }

  @Test
  void headerLinesAreCounted() {
    assertThat(strict.parse(List.of())).isEqualTo(new KeyHeaderParser.Missing());
    assertThat(strict.parse(List.of("\"a\"", "\"a\""))).isEqualTo(new KeyHeaderParser.Several(2));
    assertThat(strict.parse(List.of("\"a\""))).isEqualTo(new KeyHeaderParser.Key("a"));
  }
}
