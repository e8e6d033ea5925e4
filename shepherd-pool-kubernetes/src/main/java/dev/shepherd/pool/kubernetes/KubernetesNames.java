package dev.shepherd.pool.kubernetes;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Validation and sanitising of the names Kubernetes accepts: DNS-1123 labels for Pod names and
 * prefixes, and label keys and values.
 */
final class KubernetesNames {

  /** The longest Pod name this backend generates: a Pod's hostname is its name cut to 63. */
  static final int MAX_POD_NAME = 63;

  /** The longest label value Kubernetes accepts. */
  static final int MAX_LABEL_VALUE = 63;

  private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  private static final Pattern LABEL_VALUE =
      Pattern.compile("([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?");
  private static final Pattern LABEL_NAME = Pattern.compile("[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?");
  private static final Pattern DNS_SUBDOMAIN =
      Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");

  private KubernetesNames() {}

  /** Whether {@code s} is a DNS-1123 label (lower case alphanumerics and '-', at most 63). */
  static boolean isDnsLabel(String s) {
    return s.length() <= 63 && DNS_LABEL.matcher(s).matches();
  }

  /** Whether {@code s} is a valid label value (empty, or at most 63 of [-A-Za-z0-9_.], alnum ends). */
  static boolean isLabelValue(String s) {
    return s.length() <= MAX_LABEL_VALUE && LABEL_VALUE.matcher(s).matches();
  }

  /** Whether {@code key} is a valid label or annotation key: optional DNS prefix '/', then a name. */
  static boolean isQualifiedKey(String key) {
    int slash = key.indexOf('/');
    String name = slash < 0 ? key : key.substring(slash + 1);
    if (slash >= 0) {
      String prefix = key.substring(0, slash);
      if (prefix.isEmpty() || prefix.length() > 253 || !DNS_SUBDOMAIN.matcher(prefix).matches()) {
        return false;
      }
    }
    return !name.isEmpty() && name.length() <= 63 && LABEL_NAME.matcher(name).matches();
  }

  /**
   * Turns any text into a DNS-1123 label fragment of at most {@code max} characters: lower case,
   * every other character replaced by '-', runs of '-' collapsed, no '-' at either end; "x" if
   * nothing is left.
   */
  static String toDnsLabel(String s, int max) {
    String lower = s.toLowerCase(Locale.ROOT);
    StringBuilder out = new StringBuilder(Math.min(lower.length(), max));
    for (int i = 0; i < lower.length() && out.length() < max; i++) {
      char c = lower.charAt(i);
      boolean ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      if (ok) {
        out.append(c);
      } else if (out.length() > 0 && out.charAt(out.length() - 1) != '-') {
        out.append('-');
      }
    }
    while (out.length() > 0 && out.charAt(out.length() - 1) == '-') {
      out.setLength(out.length() - 1);
    }
    return out.length() == 0 ? "x" : out.toString();
  }

  /**
   * Turns any text into a valid label value, distinct for distinct texts: a text that is already
   * a valid label value is kept as it is; any other has the characters outside [-A-Za-z0-9_.]
   * replaced by '_', is cut, has non-alphanumeric ends trimmed, and gets '-' and 8 hex digits of
   * its SHA-256 (of the original text, so that "отчёты" and "отчеты", or two long names with a
   * common prefix, do not share a label and a NetworkPolicy on one does not admit the other).
   */
  static String toLabelValue(String s) {
    if (!s.isEmpty() && isLabelValue(s)) {
      return s;
    }
    StringBuilder out = new StringBuilder(Math.min(s.length(), MAX_LABEL_VALUE));
    for (int i = 0; i < s.length() && out.length() < MAX_LABEL_VALUE - HASH_SUFFIX; i++) {
      char c = s.charAt(i);
      boolean alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      out.append(alnum || c == '-' || c == '.' || c == '_' ? c : '_');
    }
    int start = 0;
    int end = out.length();
    while (start < end && !isAsciiAlnum(out.charAt(start))) {
      start++;
    }
    while (end > start && !isAsciiAlnum(out.charAt(end - 1))) {
      end--;
    }
    String hash = hash(s);
    return start == end ? hash : out.substring(start, end) + "-" + hash;
  }

  /** '-' and 8 hex digits. */
  private static final int HASH_SUFFIX = 9;

  private static boolean isAsciiAlnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  }

  private static String hash(String s) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(d, 0, 4);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform has SHA-256", e);
    }
  }
}
