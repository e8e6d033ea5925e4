/** {@code CoalescingCache}: one load per missing key shared by every caller (Caffeine storage). */
module dev.shepherd.cache {
  requires transitive dev.shepherd.core;
  requires com.github.benmanes.caffeine;
  // Type-use annotations (@Nullable) in the API; a compile-time dependency of every user anyway.
  requires static transitive org.jspecify;
  requires static com.google.errorprone.annotations;

  exports dev.shepherd.cache;
}
