package dev.shepherd.idempotency.servlet;

import java.util.List;

/**
 * Parses the {@code Idempotency-Key} header as an RFC 9651 Structured Field Item whose bare item
 * is an sf-string, and, in lenient mode, also a bare token.
 *
 * <p>Strict grammar (RFC 9651 section 3.3.3 and 4.2): {@code sf-string = DQUOTE *( unescaped / "%"
 * / bs-escaped ) DQUOTE}, where {@code unescaped} is printable ASCII ({@code %x20-7E}) except
 * {@code "} and {@code \}, and the only escapes are {@code \"} and {@code \\}. The item may carry
 * parameters ({@code ;name=value}), which are parsed by the RFC 9651 rules and ignored, as RFC 9651
 * asks of unknown parameters. Leading and trailing spaces are discarded; anything else after the item
 * (for example a comma, which is what two header lines folded into one look like) is malformed.
 *
 * <p>Lenient mode also takes {@code 1*( tchar / ":" / "/" )}: an RFC 9110 token extended with the
 * two extra characters of an sf-token. Unlike an sf-token it may start with a digit, so an unquoted
 * UUID is accepted.
 *
 * <p>The unescaped key must have 1 to 255 characters (the IETF draft and Stripe's limit).
 * Stateless and thread-safe.
 */
final class KeyHeaderParser {

  /** The longest accepted key, in characters after unescaping. */
  static final int MAX_KEY_LENGTH = 255;

  /** The result of parsing the header lines of one request. */
  sealed interface Result {}

  /** No {@code Idempotency-Key} header line at all. */
  record Missing() implements Result {}

  /** More than one {@code Idempotency-Key} header line. */
  record Several(int count) implements Result {}

  /** A header that does not parse; {@code reason} says why, for the problem detail. */
  record Malformed(String reason) implements Result {}

  /** A well-formed key. */
  record Key(String value) implements Result {}

  private final boolean lenient;

  KeyHeaderParser(boolean lenient) {
    this.lenient = lenient;
  }

  /** Parses every line of the header in a request (as the container hands them over). */
  Result parse(List<String> lines) {
    return switch (lines.size()) {
      case 0 -> new Missing();
      case 1 -> parse(lines.get(0));
      default -> new Several(lines.size());
    };
  }

  /** Parses one header value. */
  Result parse(String value) {
    Cursor in = new Cursor(value);
    in.skipSpaces();
    if (in.atEnd()) {
      return new Malformed("the header is empty");
    }
    String key;
    try {
      if (in.peek() == '"') {
        key = in.string();
      } else if (lenient && isLenientChar(in.peek())) {
        key = in.lenientToken();
      } else {
        return new Malformed(
            lenient
                ? "the value must be a quoted string (RFC 9651 sf-string) or a bare token"
                : "the value must be a quoted string (RFC 9651 sf-string), for example \"8e03\"");
      }
      in.parameters();
      in.skipSpaces();
      if (!in.atEnd()) {
        return new Malformed(
            in.peek() == ','
                ? "the header holds a list; send exactly one key"
                : "unexpected character at position " + in.position() + " after the key");
      }
    } catch (SyntaxException e) {
      return new Malformed(String.valueOf(e.getMessage()));
    }
    if (key.isEmpty()) {
      return new Malformed("the key is empty; it must have 1 to " + MAX_KEY_LENGTH + " characters");
    }
    if (key.length() > MAX_KEY_LENGTH) {
      return new Malformed(
          "the key has " + key.length() + " characters; at most " + MAX_KEY_LENGTH + " are allowed");
    }
    return new Key(key);
  }

  private static boolean isTchar(char c) {
    return (c >= 'a' && c <= 'z')
        || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9')
        || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
  }

  private static boolean isLenientChar(char c) {
    return isTchar(c) || c == ':' || c == '/';
  }

  /** A syntax error; the message is shown to the client in the problem detail. */
  private static final class SyntaxException extends Exception {
    private static final long serialVersionUID = 1L;

    SyntaxException(String message) {
      super(message, null, false, false);
    }
  }

  /** A position in the header value with the RFC 9651 parsing steps that move it. */
  private static final class Cursor {
    private final String s;
    private int i;

    Cursor(String s) {
      this.s = s;
    }

    boolean atEnd() {
      return i >= s.length();
    }

    char peek() {
      return s.charAt(i);
    }

    int position() {
      return i;
    }

    void skipSpaces() {
      while (i < s.length() && (s.charAt(i) == ' ' || s.charAt(i) == '\t')) {
        i++;
      }
    }

    /** RFC 9651 4.2.5: a String. The cursor is on the opening quote. */
    String string() throws SyntaxException {
      i++;
      StringBuilder out = new StringBuilder(Math.min(s.length(), MAX_KEY_LENGTH + 1));
      while (i < s.length()) {
        char c = s.charAt(i++);
        if (c == '\\') {
          if (i >= s.length()) {
            throw new SyntaxException("the string ends inside an escape");
          }
          char next = s.charAt(i++);
          if (next != '"' && next != '\\') {
            throw new SyntaxException(
                "invalid escape \\" + printable(next) + "; only \\\" and \\\\ are allowed");
          }
          c = next;
        } else if (c == '"') {
          return out.toString();
        } else if (c < 0x20 || c > 0x7e) {
          throw new SyntaxException(
              "character " + printable(c) + " at position " + (i - 1)
                  + " is not printable ASCII");
        }
        out.append(c);
      }
      throw new SyntaxException("the string has no closing quote");
    }

    String lenientToken() throws SyntaxException {
      int start = i;
      while (i < s.length() && isLenientChar(s.charAt(i))) {
        i++;
      }
      if (i < s.length() && s.charAt(i) != ';' && s.charAt(i) != ' ' && s.charAt(i) != '\t') {
        throw new SyntaxException(
            "character " + printable(s.charAt(i)) + " at position " + i
                + " is not allowed in a bare token");
      }
      return s.substring(start, i);
    }

    /** RFC 9651 4.2.3.2: parameters, parsed for validity and dropped. */
    void parameters() throws SyntaxException {
      while (i < s.length() && s.charAt(i) == ';') {
        i++;
        while (i < s.length() && s.charAt(i) == ' ') {
          i++;
        }
        key();
        if (i < s.length() && s.charAt(i) == '=') {
          i++;
          bareItem();
        }
      }
    }

    private void key() throws SyntaxException {
      if (atEnd() || !(isLcalpha(peek()) || peek() == '*')) {
        throw new SyntaxException("a parameter name must start with a-z or *");
      }
      while (i < s.length()) {
        char c = s.charAt(i);
        if (isLcalpha(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'
            || c == '*') {
          i++;
        } else {
          break;
        }
      }
    }

    private void bareItem() throws SyntaxException {
      if (atEnd()) {
        throw new SyntaxException("a parameter has no value after =");
      }
      char c = peek();
      if (c == '-' || (c >= '0' && c <= '9')) {
        number();
      } else if (c == '"') {
        string();
      } else if (c == '*' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        i++;
        while (i < s.length() && (isTchar(s.charAt(i)) || s.charAt(i) == ':'
            || s.charAt(i) == '/')) {
          i++;
        }
      } else if (c == ':') {
        i++;
        while (i < s.length() && s.charAt(i) != ':') {
          char b = s.charAt(i++);
          boolean base64 = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
              || (b >= '0' && b <= '9') || b == '+' || b == '/' || b == '=';
          if (!base64) {
            throw new SyntaxException("invalid byte sequence in a parameter");
          }
        }
        if (atEnd()) {
          throw new SyntaxException("a byte sequence parameter has no closing colon");
        }
        i++;
      } else if (c == '?') {
        i++;
        if (atEnd() || (peek() != '0' && peek() != '1')) {
          throw new SyntaxException("a boolean parameter must be ?0 or ?1");
        }
        i++;
      } else if (c == '@') {
        i++;
        number();
      } else if (c == '%') {
        displayString();
      } else {
        throw new SyntaxException("invalid parameter value at position " + i);
      }
    }

    private void number() throws SyntaxException {
      if (peek() == '-') {
        i++;
      }
      int digits = 0;
      int fraction = -1;
      while (i < s.length()) {
        char c = s.charAt(i);
        if (c >= '0' && c <= '9') {
          i++;
          if (fraction >= 0) {
            fraction++;
          } else {
            digits++;
          }
        } else if (c == '.' && fraction < 0) {
          i++;
          fraction = 0;
        } else {
          break;
        }
      }
      boolean ok = fraction < 0 ? digits >= 1 && digits <= 15
          : digits >= 1 && digits <= 12 && fraction >= 1 && fraction <= 3;
      if (!ok) {
        throw new SyntaxException("invalid number in a parameter");
      }
    }

    private void displayString() throws SyntaxException {
      i++;
      if (atEnd() || peek() != '"') {
        throw new SyntaxException("a display string parameter must start with %\"");
      }
      i++;
      while (i < s.length()) {
        char c = s.charAt(i++);
        if (c == '"') {
          return;
        }
        if (c < 0x20 || c > 0x7e) {
          throw new SyntaxException("invalid character in a display string parameter");
        }
        if (c == '%') {
          if (i + 2 > s.length() || !isLowerHex(s.charAt(i)) || !isLowerHex(s.charAt(i + 1))) {
            throw new SyntaxException("invalid percent escape in a display string parameter");
          }
          i += 2;
        }
      }
      throw new SyntaxException("a display string parameter has no closing quote");
    }

    private static boolean isLowerHex(char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    }

    private static boolean isLcalpha(char c) {
      return c >= 'a' && c <= 'z';
    }
  }

  private static String printable(char c) {
    return c >= 0x21 && c <= 0x7e ? "'" + c + "'" : String.format("U+%04X", (int) c);
  }
}
