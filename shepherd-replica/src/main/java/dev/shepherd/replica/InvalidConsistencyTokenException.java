package dev.shepherd.replica;

import dev.shepherd.core.ShepherdException;

/**
 * Thrown by {@link ConsistencyTokenCodec#decode(String)} when a token is malformed, signed with an
 * unknown key, or carries a signature that does not match (forged or altered). A well-formed token
 * of an unknown key throws the subclass {@link UnknownTokenKeyException}, which callers may ignore
 * like an expired token.
 */
public sealed class InvalidConsistencyTokenException extends ShepherdException permits UnknownTokenKeyException {

  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what is wrong with the token, quoting (a bounded prefix of) it
   */
  public InvalidConsistencyTokenException(String message) {
    super(message);
  }
}
