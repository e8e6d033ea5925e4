package dev.shepherd.pool.internal;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.jspecify.annotations.Nullable;

/**
 * One framed connection between a pool and a remote runner, used by both ends: small plain frames
 * during the handshake, then frames sealed with the session keys the handshake derived.
 *
 * <p>Plain frame: {@code int length, byte type, body}, at most {@value #MAX_PLAIN_FRAME} bytes
 * after the length; nothing larger is ever allocated before the peer is authenticated. Sealed
 * frame: {@code int length, AES-256-GCM(type || body), 16-byte tag}, where the length is
 * authenticated as associated data and the 12-byte nonce is the frame's sequence number in its
 * direction (never sent). Each direction has its own key, so a frame cannot be reflected back to
 * its sender; the implicit sequence number makes a dropped, replayed, reordered or altered frame
 * fail its tag, and the connection is closed at the first failure.
 *
 * <p>Why sealed frames and not TLS: both ends already share a fresh 256-bit secret per runner,
 * so the handshake can authenticate both sides and derive session keys from it (HKDF over both
 * nonces, see {@link RemoteProtocol#sessionKeys}) without certificates, a key store or a CA per
 * pool, and a sealed frame costs one AES-GCM pass over a few dozen bytes, with no record layer or
 * extra round trips. AES-GCM rather than HMAC alone because it also keeps arguments and results
 * unreadable to anyone watching the network, for the same cost.
 *
 * <p>Thread safety: {@link #send} may be called from many threads (frames are sealed and written
 * whole under one lock, which also orders the sequence numbers); {@link #receive} and {@link
 * #readPlain} from one reader thread only.
 *
 * <p>A socket write has no timeout of its own: a peer that stops reading (a stopped process, a
 * network partition) would keep a sender blocked inside {@link #send}, holding the lock every
 * other sender waits for, until TCP gives up (minutes) or forever. With {@link #writeTimeout} set,
 * whoever watches the channel ({@link #closeIfWriteOverran}, called periodically) closes the
 * socket when a frame is not written within it: the blocked sender and every later one fail with
 * an {@link IOException} that says so, and the reader sees the connection end. A send only
 * stamps when its write began (no timer per frame). A sender with a deadline of its own (a call)
 * uses {@link #send(FrameWriter, long)}, which writes nothing and returns false when another
 * frame's write still holds the channel at that deadline, instead of waiting for the write timeout.
 */
public final class FrameChannel implements AutoCloseable {

  /** The largest plain frame (type and body) accepted before authentication. */
  public static final int MAX_PLAIN_FRAME = 1024;

  private static final int TAG_BITS = 128;
  private static final int TAG_BYTES = TAG_BITS / 8;
  private static final int NONCE_BYTES = 12;

  /** The connection: a {@link SocketChannel} or a {@link Socket}. */
  private final java.io.Closeable socket;
  private final java.util.function.BooleanSupplier open;
  private final DataInputStream in;
  private final OutputStream out;
  private final ReentrantLock writeLock = new ReentrantLock();

  /** The sealed state: set once by {@link #seal}, before any sealed frame. */
  private volatile @Nullable Sealed sealed;
  @GuardedBy("writeLock") private long sendSequence;
  private long receiveSequence; // reader thread only
  private volatile int maxFrameBytes = MAX_PLAIN_FRAME;
  private volatile long writeTimeoutNanos;
  /** When the write in progress began ({@link System#nanoTime}, never 0), or 0 if none is. */
  private volatile long writeStartedNanos;
  private volatile boolean writeStalled;

  /** One cipher per direction: sending under the write lock, receiving on the reader thread. */
  private record Sealed(Cipher send, SecretKeySpec sendKey, Cipher receive, SecretKeySpec receiveKey) {}

  /**
   * Wraps a connected socket channel in blocking mode, over TCP or a Unix domain socket; the
   * channel starts plain.
   *
   * @param socket the connection, closed by {@link #close()}
   */
  public FrameChannel(SocketChannel socket) {
    this.socket = socket;
    this.open = socket::isOpen;
    this.in = new DataInputStream(new BufferedInputStream(new ChannelInput(socket), 64 * 1024));
    this.out = new ChannelOutput(socket);
  }

  /**
   * Wraps a connected socket; the channel starts plain.
   *
   * @param socket the connection, closed by {@link #close()}
   * @throws IOException if the socket's streams cannot be opened
   */
  public FrameChannel(Socket socket) throws IOException {
    this.socket = socket;
    this.open = () -> !socket.isClosed();
    this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 64 * 1024));
    this.out = socket.getOutputStream();
  }

  /**
   * Reads a blocking socket channel without the channel's blocking lock, which the streams of
   * {@code Channels.newInputStream} take on some JDKs: a read blocked there would keep every
   * writer of the same channel waiting.
   */
  private static final class ChannelInput extends InputStream {
    private final SocketChannel channel;

    ChannelInput(SocketChannel channel) {
      this.channel = channel;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      java.util.Objects.checkFromIndexSize(off, len, b.length);
      if (len == 0) {
        return 0;
      }
      return channel.read(ByteBuffer.wrap(b, off, len)); // blocks for at least one byte
    }
  }

  /** Writes a blocking socket channel whole, without the channel's blocking lock. */
  private static final class ChannelOutput extends OutputStream {
    private final SocketChannel channel;

    ChannelOutput(SocketChannel channel) {
      this.channel = channel;
    }

    @Override
    public void write(int b) throws IOException {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      ByteBuffer buffer = ByteBuffer.wrap(b, off, len);
      while (buffer.hasRemaining()) {
        channel.write(buffer);
      }
    }
  }

  /**
   * A frame read from the channel.
   *
   * @param type its type, one of {@link RemoteProtocol}'s frame constants
   * @param body a stream over its body, in memory
   */
  public record Frame(byte type, DataInputStream body) {}

  /** Builds the type and body of one frame in memory. */
  public static final class FrameWriter {
    private final Buffer buffer = new Buffer();
    /** Where the body is written. */
    public final DataOutputStream out = new DataOutputStream(buffer);

    /**
     * Starts a frame.
     *
     * @param type its type, one of {@link RemoteProtocol}'s frame constants
     */
    public FrameWriter(byte type) {
      buffer.write(0);
      buffer.write(0);
      buffer.write(0);
      buffer.write(0);
      buffer.write(type);
    }

    /**
     * Returns the size of the frame's type and body, not counting the length prefix.
     *
     * @return the size in bytes
     */
    public int plainLength() {
      return buffer.size() - 4;
    }

    /**
     * Returns the frame as a plain frame goes on the wire, length first.
     *
     * @return the bytes
     * @throws IOException if it is larger than {@value #MAX_PLAIN_FRAME} bytes
     */
    public byte[] plainFrame() throws IOException {
      byte[] bytes = buffer.toByteArray();
      int length = bytes.length - 4;
      if (length > MAX_PLAIN_FRAME) {
        throw new IOException("handshake frame of " + length + " bytes exceeds " + MAX_PLAIN_FRAME);
      }
      putInt(bytes, 0, length);
      return bytes;
    }
  }

  private static final class Buffer extends ByteArrayOutputStream {
    Buffer() {
      super(128);
    }

    byte[] array() {
      return buf;
    }
  }

  /**
   * Writes a plain frame (handshake only).
   *
   * @param frame the frame, at most {@value #MAX_PLAIN_FRAME} bytes
   * @throws IOException if it is too large or the write fails
   */
  public void writePlain(FrameWriter frame) throws IOException {
    byte[] bytes = frame.plainFrame();
    boolean interrupted = Thread.interrupted(); // see send: a pending interrupt would close it
    writeLock.lock();
    try {
      out.write(bytes);
      out.flush();
    } finally {
      writeLock.unlock();
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * Reads a plain frame (handshake only).
   *
   * @return the frame
   * @throws IOException if the connection ends, or the frame is empty or larger than {@value
   *     #MAX_PLAIN_FRAME} bytes (nothing is allocated for it)
   */
  public Frame readPlain() throws IOException {
    int length = in.readInt();
    if (length < 1 || length > MAX_PLAIN_FRAME) {
      throw new IOException(
          "handshake frame of "
              + length
              + " bytes is outside 1.."
              + MAX_PLAIN_FRAME
              + " (nothing larger is read before authentication)");
    }
    byte[] bytes = new byte[length];
    in.readFully(bytes);
    return new Frame(bytes[0], new DataInputStream(new ByteArrayInputStream(bytes, 1, length - 1)));
  }

  /**
   * Switches to sealed frames.
   *
   * @param sendKey the 32-byte key of frames this end sends
   * @param receiveKey the 32-byte key of frames this end receives
   * @param maxFrameBytes the largest frame (type and body) received; see {@link #maxFrameBytes(int)}
   */
  public void seal(byte[] sendKey, byte[] receiveKey, int maxFrameBytes) {
    Sealed state;
    try {
      state =
          new Sealed(
              Cipher.getInstance("AES/GCM/NoPadding"),
              new SecretKeySpec(sendKey, "AES"),
              Cipher.getInstance("AES/GCM/NoPadding"),
              new SecretKeySpec(receiveKey, "AES"));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES/GCM unavailable", e);
    }
    this.maxFrameBytes = maxFrameBytes;
    this.sealed = state;
  }

  /**
   * Sets the largest frame (type and body) this end accepts from now on.
   *
   * @param maxFrameBytes the limit in bytes
   */
  public void maxFrameBytes(int maxFrameBytes) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /**
   * Returns the largest frame (type and body) this end accepts.
   *
   * @return the limit in bytes
   */
  public int maxFrameBytes() {
    return maxFrameBytes;
  }

  /**
   * Bounds how long {@link #send} may wait for the peer to take a frame: past it, {@link
   * #closeIfWriteOverran} closes the socket (see the class comment).
   *
   * @param timeout the most one frame's write may take; zero or negative for no bound
   */
  public void writeTimeout(Duration timeout) {
    this.writeTimeoutNanos = timeout.isNegative() ? 0L : saturatedNanos(timeout);
  }

  /**
   * Closes the socket if a write has been in progress for longer than the write timeout.
   *
   * @param nowNanos the current {@link System#nanoTime}
   * @return true if the socket was closed for it (now or before)
   */
  public boolean closeIfWriteOverran(long nowNanos) {
    long started = writeStartedNanos;
    long timeout = writeTimeoutNanos;
    if (!writeStalled && (started == 0L || timeout <= 0L || nowNanos - started <= timeout)) {
      return false;
    }
    writeStalled = true;
    closeQuietly(socket);
    return true;
  }

  /**
   * Returns whether the socket is closed, by either end's doing or this end's.
   *
   * @return true once closed
   */
  public boolean isClosed() {
    return !open.getAsBoolean();
  }

  private static long saturatedNanos(Duration d) {
    try {
      return d.toNanos();
    } catch (ArithmeticException e) {
      return Long.MAX_VALUE;
    }
  }

  /**
   * Seals and writes one frame.
   *
   * @param frame the frame
   * @throws IOException if the write fails or overruns the write timeout (the caller treats the
   *     connection as lost)
   */
  public void send(FrameWriter frame) throws IOException {
    Sealed state = sealed;
    if (state == null) {
      throw new IllegalStateException("the channel is not sealed yet");
    }
    byte[] wire = wireFor(frame); // allocated before taking the lock
    writeLock.lock();
    try {
      sendLocked(state, frame, wire);
    } finally {
      writeLock.unlock();
    }
  }

  /**
   * Seals and writes one frame, unless another frame's write holds the channel for longer than
   * {@code lockTimeoutNanos}: then nothing is written. A sender with a deadline of its own (a
   * call) does not wait behind a write to a peer that stopped reading for the whole write timeout.
   * An interrupt while waiting does not end the wait (it is restored after, as in {@link #send}).
   *
   * @param frame the frame
   * @param lockTimeoutNanos the most to wait for the write before it to end
   * @return true if the frame was written, false if nothing was because the wait ran out
   * @throws IOException as {@link #send}
   */
  public boolean send(FrameWriter frame, long lockTimeoutNanos) throws IOException {
    Sealed state = sealed;
    if (state == null) {
      throw new IllegalStateException("the channel is not sealed yet");
    }
    byte[] wire = wireFor(frame);
    boolean interrupted = false;
    boolean locked = false;
    long deadline = System.nanoTime() + Math.max(0L, lockTimeoutNanos);
    try {
      while (!locked) {
        try {
          locked = writeLock.tryLock(Math.max(0L, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
          if (!locked) {
            return false;
          }
        } catch (InterruptedException e) {
          interrupted = true; // set aside: an interrupt must not cut the wait, nor close the socket
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
    try {
      sendLocked(state, frame, wire);
      return true;
    } finally {
      writeLock.unlock();
    }
  }

  /** A buffer for the sealed frame: its length, then the ciphertext and tag, filled under the lock. */
  private static byte[] wireFor(FrameWriter frame) {
    int plainLength = frame.plainLength();
    byte[] wire = new byte[4 + plainLength + TAG_BYTES];
    putInt(wire, 0, plainLength + TAG_BYTES);
    return wire;
  }

  @GuardedBy("writeLock")
  private void sendLocked(Sealed state, FrameWriter frame, byte[] wire) throws IOException {
    int plainLength = frame.plainLength();
    byte[] plain = frame.buffer.array();
    Cipher cipher = state.send();
    try {
      cipher.init(Cipher.ENCRYPT_MODE, state.sendKey(), nonce(sendSequence++));
      cipher.updateAAD(wire, 0, 4);
      cipher.doFinal(plain, 4, plainLength, wire, 4);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("sealing a frame failed", e);
    }
    if (writeStalled) {
      throw new IOException(
          "connection closed: an earlier frame overran the write timeout of "
              + Duration.ofNanos(writeTimeoutNanos));
    }
    writeStartedNanos = System.nanoTime() | 1L;
    // A SocketChannel closes itself when the thread doing I/O on it is interrupted, even if the
    // interrupt was pending before the write began: one caller's interrupt would end the
    // connection and every other call on it. The pending interrupt is set aside for the write
    // and restored after (an interrupt that arrives while a write is blocked still closes it:
    // the frame is then cut in the middle, and the connection could not go on anyway).
    boolean interrupted = Thread.interrupted();
    try {
      out.write(wire);
      out.flush();
    } catch (IOException e) {
      if (writeStalled) {
        throw new IOException(
            "the peer took no frame for longer than the write timeout of "
                + Duration.ofNanos(writeTimeoutNanos)
                + " (a "
                + wire.length
                + "-byte frame was being written): connection closed",
            e);
      }
      throw e;
    } finally {
      writeStartedNanos = 0L;
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * Reads and opens one sealed frame.
   *
   * @return the frame
   * @throws IOException if the connection ends, the frame is larger than the limit (named in the
   *     message), or it fails authentication (altered, replayed, reordered or not from the peer)
   */
  public Frame receive() throws IOException {
    Sealed state = sealed;
    if (state == null) {
      throw new IllegalStateException("the channel is not sealed yet");
    }
    int length;
    try {
      length = in.readInt();
    } catch (IOException e) {
      if (writeStalled) {
        throw new IOException(
            "connection closed: the peer took no frame for longer than the write timeout of "
                + Duration.ofNanos(writeTimeoutNanos),
            e);
      }
      throw e;
    }
    int limit = maxFrameBytes;
    if (length < 1 + TAG_BYTES || length - TAG_BYTES > limit) {
      throw new IOException(
          "frame of "
              + (length - TAG_BYTES)
              + " bytes is outside 1.."
              + limit
              + " (maxFrameBytes="
              + limit
              + ")");
    }
    byte[] wire = new byte[length];
    in.readFully(wire);
    byte[] header = new byte[4];
    putInt(header, 0, length);
    byte[] plain;
    Cipher cipher = state.receive();
    try {
      cipher.init(Cipher.DECRYPT_MODE, state.receiveKey(), nonce(receiveSequence++));
      cipher.updateAAD(header);
      plain = cipher.doFinal(wire);
    } catch (javax.crypto.AEADBadTagException e) {
      throw new IOException(
          "frame "
              + (receiveSequence - 1)
              + " failed authentication (altered, replayed, out of order, or not from the peer)",
          e);
    } catch (GeneralSecurityException e) {
      throw new IOException("opening frame " + (receiveSequence - 1) + " failed", e);
    }
    return new Frame(
        plain[0], new DataInputStream(new ByteArrayInputStream(plain, 1, plain.length - 1)));
  }

  private static GCMParameterSpec nonce(long sequence) {
    byte[] nonce = new byte[NONCE_BYTES];
    for (int i = 0; i < 8; i++) {
      nonce[NONCE_BYTES - 1 - i] = (byte) (sequence >>> (8 * i));
    }
    return new GCMParameterSpec(TAG_BITS, nonce);
  }

  private static void putInt(byte[] bytes, int at, int value) {
    bytes[at] = (byte) (value >>> 24);
    bytes[at + 1] = (byte) (value >>> 16);
    bytes[at + 2] = (byte) (value >>> 8);
    bytes[at + 3] = (byte) value;
  }

  @Override
  public void close() {
    closeQuietly(socket);
  }

  /**
   * Closes a socket, ignoring a failure to close.
   *
   * @param socket the socket
   */
  public static void closeQuietly(Socket socket) {
    try {
      socket.close();
    } catch (IOException e) {
      // closing anyway
    }
  }

  /**
   * Closes a channel or selector, ignoring a failure to close.
   *
   * @param closeable what to close
   */
  public static void closeQuietly(java.io.Closeable closeable) {
    try {
      closeable.close();
    } catch (IOException e) {
      // closing anyway
    }
  }
}
