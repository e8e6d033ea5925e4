package dev.shepherd.pool;

import dev.shepherd.pool.internal.FrameChannel;
import dev.shepherd.pool.internal.RemoteProtocol;
import java.io.DataInputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.util.Base64;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The runner side of the remote protocol (see {@link RemoteBackend} and {@link RemoteProtocol}).
 *
 * <p>It ends, and {@link #run} returns, when: the connection closes (the parent is gone or retired
 * it); the parent process id (if given) is no longer alive; a SHUTDOWN frame's grace has passed
 * or its calls are done; it has been idle past the WELCOME's backstop. Each call runs on its own
 * virtual thread; CANCEL interrupts it.
 */
final class RemoteRunner {

  private static final int CONNECT_TIMEOUT_MILLIS = 10_000;
  private static final long WATCH_INTERVAL_MILLIS = 200;

  private final String id;
  private final SocketChannel socket;
  private final FrameChannel channel;
  private final FunctionRegistry functions;
  private volatile CodecLimits codecLimits = CodecLimits.defaults();
  private final Map<Long, Thread> running = new ConcurrentHashMap<>();
  private final AtomicInteger active = new AtomicInteger();
  private final CountDownLatch ended = new CountDownLatch(1);
  private volatile long lastActivityNanos = System.nanoTime();
  private volatile boolean shuttingDown;
  private volatile String endReason = "";
  /** Whether losing the parent halts the JVM at once (true for {@link RunnerMain}). */
  private volatile boolean exitOnParentLoss;

  private RemoteRunner(String id, SocketChannel socket, FunctionRegistry functions) {
    this.id = id;
    this.socket = socket;
    this.functions = functions;
    this.channel = new FrameChannel(socket);
  }

  /**
   * Runs a runner from its environment until it ends.
   *
   * @param env the variables of {@link RunnerEnvironment}
   * @return the exit status: 0 after a normal end, 2 for a bad environment, 3 if the connection or
   *     the handshake failed (including a parent that did not prove the secret)
   */
  public static int run(Map<String, String> env) {
    return run(env, false);
  }

  /**
   * Runs a runner from its environment until it ends.
   *
   * @param env the variables of {@link RunnerEnvironment}
   * @param haltOnParentLoss whether to halt the JVM at once when the parent is gone (only for a
   *     JVM that is nothing but this runner)
   * @return the exit status, as {@link #run(Map)}
   */
  public static int run(Map<String, String> env, boolean haltOnParentLoss) {
    String parent = env.get(RunnerEnvironment.PARENT);
    String id = env.get(RunnerEnvironment.RUNNER_ID);
    String secretText = env.get(RunnerEnvironment.SECRET);
    String functionsClass = env.get(RunnerEnvironment.FUNCTIONS);
    if (parent == null || id == null || secretText == null || functionsClass == null) {
      System.err.println(
          "shepherd runner: missing environment; need "
              + RunnerEnvironment.PARENT
              + ", "
              + RunnerEnvironment.RUNNER_ID
              + ", "
              + RunnerEnvironment.SECRET
              + ", "
              + RunnerEnvironment.FUNCTIONS);
      return 2;
    }
    SocketAddress address;
    try {
      address = parentAddress(parent);
    } catch (IllegalArgumentException e) {
      System.err.println("shepherd runner: " + RunnerEnvironment.PARENT + " " + parent + ": " + e.getMessage());
      return 2;
    }
    byte[] secret;
    FunctionRegistry functions;
    try {
      secret = Base64.getUrlDecoder().decode(secretText);
      functions = FunctionRegistries.instantiate(functionsClass);
    } catch (IllegalArgumentException e) {
      System.err.println("shepherd runner " + id + ": " + e.getMessage());
      return 2;
    }
    String parentPid = env.get(RunnerEnvironment.PARENT_PID);
    if (parentPid != null) {
      watchParentProcess(parentPid);
    }
    RemoteRunner runner;
    long idleBackstopMillis;
    try {
      runner = connect(id, address, secret, functions);
    } catch (IOException | RuntimeException e) {
      System.err.println("shepherd runner " + id + ": cannot reach parent " + parent + ": " + e);
      return 3;
    }
    try {
      runner.exitOnParentLoss = haltOnParentLoss;
      idleBackstopMillis = runner.finishHandshake(secret);
    } catch (IOException | RuntimeException e) {
      System.err.println("shepherd runner " + id + ": refusing parent " + parent + ": " + e);
      RemoteRunnerServer.closeQuietly(runner.socket);
      return 3;
    }
    return runner.serve(idleBackstopMillis);
  }

  /**
   * Parses {@link RunnerEnvironment#PARENT}: {@code host:port}, or {@code unix:} and the path of
   * a Unix domain socket.
   *
   * @throws IllegalArgumentException naming what is wrong with it
   */
  static SocketAddress parentAddress(String parent) {
    if (parent.startsWith(RemoteRunnerServer.Options.UNIX_PREFIX)) {
      String path = parent.substring(RemoteRunnerServer.Options.UNIX_PREFIX.length());
      if (path.isEmpty()) {
        throw new IllegalArgumentException("no path after " + RemoteRunnerServer.Options.UNIX_PREFIX);
      }
      return UnixDomainSocketAddress.of(path);
    }
    int colon = parent.lastIndexOf(':');
    if (colon <= 0) {
      throw new IllegalArgumentException("must be host:port or unix:<path>");
    }
    int port;
    try {
      port = Integer.parseInt(parent.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("the port is not a number", e);
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("the port is not from 1 to 65535");
    }
    return new InetSocketAddress(parent.substring(0, colon), port);
  }

  /** Exits the JVM as soon as the parent process is gone, even if the socket lingers. */
  private static void watchParentProcess(String pidText) {
    long pid;
    try {
      pid = Long.parseLong(pidText);
    } catch (NumberFormatException e) {
      return;
    }
    Optional<ProcessHandle> parent = ProcessHandle.of(pid);
    if (parent.isEmpty()) {
      System.exit(0);
    }
    ProcessHandle handle = parent.get();
    Thread.ofPlatform()
        .daemon()
        .name("shepherd-runner-parent-watch")
        .start(
            () -> {
              while (true) {
                if (!isRunning(handle)) {
                  Runtime.getRuntime().halt(0);
                }
                try {
                  Thread.sleep(WATCH_INTERVAL_MILLIS);
                } catch (InterruptedException e) {
                  return;
                }
              }
            });
  }

  /**
   * Returns whether a process is alive and not a zombie ({@link ProcessHandle#isAlive()} counts a
   * killed process that its own parent has not reaped yet as alive).
   *
   * @param process the process
   * @return true if it runs
   */
  public static boolean isRunning(ProcessHandle process) {
    if (!process.isAlive()) {
      return false;
    }
    try {
      String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/" + process.pid() + "/stat"));
      int end = stat.lastIndexOf(')');
      char state = end >= 0 && end + 2 < stat.length() ? stat.charAt(end + 2) : 'R';
      return state != 'Z' && state != 'X';
    } catch (IOException | RuntimeException e) {
      return process.isAlive(); // no /proc (not Linux): trust isAlive
    }
  }

  /**
   * Connects and knocks until the parent answers with a CHALLENGE, for at most {@value
   * #CONNECT_TIMEOUT_MILLIS} ms in all. A parent under a flood of unauthenticated connections
   * cuts the oldest of them to make room, and a runner whose KNOCK reached it too late can be
   * among them; so can a connection refused while the parent's listen backlog is full. Both are
   * tried again, backing off from 20 ms to 500 ms. What the parent answers, once it answers, is
   * not retried.
   */
  private static RemoteRunner connect(
      String id, SocketAddress parent, byte[] secret, FunctionRegistry functions)
      throws IOException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CONNECT_TIMEOUT_MILLIS);
    long backoffMillis = 20;
    int attempts = 0;
    IOException lastCut = null;
    boolean unix = parent instanceof UnixDomainSocketAddress;
    while (true) {
      attempts++;
      // The KNOCK is built before the connection exists and written the moment it does: a parent
      // under a flood cuts a connection that has sent nothing for long, and the first use of the
      // JVM's crypto takes tens of milliseconds.
      byte[] runnerNonce = new byte[RemoteProtocol.NONCE_BYTES];
      new java.security.SecureRandom().nextBytes(runnerNonce);
      FrameChannel.FrameWriter knock = new FrameChannel.FrameWriter(RemoteProtocol.KNOCK);
      knock.out.writeByte(RemoteProtocol.VERSION);
      RemoteProtocol.writeString(knock.out, id);
      knock.out.write(runnerNonce);
      knock.out.write(RemoteProtocol.knockTag(secret, runnerNonce, id));
      SocketChannel socket = unix ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
      // A socket channel has no connect or read timeout: the deadline closes it instead.
      Deadline timer = new Deadline(socket, deadline);
      try {
        if (!unix) {
          socket.setOption(StandardSocketOptions.TCP_NODELAY, true);
        }
        socket.connect(parent);
        RemoteRunner runner = new RemoteRunner(id, socket, functions);
        runner.knock(knock, runnerNonce);
        if (!timer.disarm()) {
          throw new java.nio.channels.AsynchronousCloseException(); // closed at the deadline
        }
        if (attempts > 1) {
          System.err.println(
              "shepherd runner " + id + ": reached the parent on attempt " + attempts
                  + " (the earlier connections were refused or cut before its CHALLENGE; the last: "
                  + lastCut + ")");
        }
        return runner;
      } catch (IOException | RuntimeException e) {
        timer.disarm();
        RemoteRunnerServer.closeQuietly(socket);
        if (timer.fired()) {
          throw new IOException(
              "no CHALLENGE from the parent within " + CONNECT_TIMEOUT_MILLIS + " ms in " + attempts
                  + " attempts (the last timed out" + (lastCut == null ? "" : "; the one before: " + lastCut)
                  + ")", e);
        }
        if (!(e instanceof java.net.SocketException
            || e instanceof java.io.EOFException
            || e instanceof ParentBusyException)) {
          throw e;
        }
        // Refused, reset or cut before the CHALLENGE (the parent never looked at this KNOCK, or
        // another connection of this runner's is still in its handshake): try again.
        lastCut = (IOException) e;
        long left = remainingMillis(deadline);
        if (left <= 1) {
          throw new IOException(
              "no CHALLENGE from the parent within " + CONNECT_TIMEOUT_MILLIS + " ms in "
                  + attempts + " attempts; the last: " + e, e);
        }
        try {
          Thread.sleep(Math.min(backoffMillis, left));
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          throw new IOException("interrupted while connecting", interrupted);
        }
        backoffMillis = Math.min(500, backoffMillis * 2);
      }
    }
  }

  /**
   * Closes a connection when a deadline passes unless disarmed first: the runner's only bound on
   * connecting and on the handshake, since a socket channel has neither a connect nor a read
   * timeout. States: armed, then either disarmed (by the runner) or fired (by its timer thread),
   * decided by one compare-and-set, so a runner that disarmed knows the connection was not
   * closed under it.
   */
  private static final class Deadline {
    private static final int ARMED = 0;
    private static final int DISARMED = 1;
    private static final int FIRED = 2;

    private final AtomicInteger state = new AtomicInteger(ARMED);
    private final Thread timer;

    Deadline(SocketChannel connection, long deadlineNanos) {
      this.timer =
          Thread.ofPlatform()
              .daemon()
              .name("shepherd-runner-handshake-deadline")
              .start(
                  () -> {
                    long left;
                    while (state.get() == ARMED && (left = deadlineNanos - System.nanoTime()) > 0) {
                      LockSupport.parkNanos(this, left);
                    }
                    if (state.compareAndSet(ARMED, FIRED)) {
                      RemoteRunnerServer.closeQuietly(connection);
                    }
                  });
    }

    /** Stops the timer; returns false if it had already closed the connection. */
    boolean disarm() {
      boolean disarmed = state.compareAndSet(ARMED, DISARMED);
      LockSupport.unpark(timer);
      return disarmed || state.get() == DISARMED;
    }

    boolean fired() {
      return state.get() == FIRED;
    }
  }

  /** The parent is handling another connection of this runner's: worth another try. */
  private static final class ParentBusyException extends IOException {
    private static final long serialVersionUID = 1L;

    ParentBusyException(String message) {
      super(message);
    }
  }

  private static int remainingMillis(long deadlineNanos) {
    long left = TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime());
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, left));
  }

  /** The nonces of this connection's handshake, set by {@link #knock}. */
  private byte[] runnerNonce = new byte[0];

  private byte[] parentNonce = new byte[0];

  /**
   * Sends the KNOCK (this runner's id and nonce, tagged with the secret) and reads the parent's
   * CHALLENGE.
   *
   * @throws java.net.SocketException or {@link java.io.EOFException} if the parent cut the
   *     connection first (worth another try)
   * @throws IOException if the parent answered with something else or another version
   */
  private void knock(FrameChannel.FrameWriter knock, byte[] nonce) throws IOException {
    runnerNonce = nonce;
    channel.writePlain(knock);
    FrameChannel.Frame challengeFrame = channel.readPlain(); // the deadline ends the attempts
    if (challengeFrame.type() == RemoteProtocol.REFUSED) {
      boolean tryAgain = challengeFrame.body().readBoolean();
      String reason =
          RemoteProtocol.printable(RemoteProtocol.readString(challengeFrame.body()), 200);
      if (tryAgain) {
        throw new ParentBusyException("the parent refused this connection for now: " + reason);
      }
      throw new IOException("the parent refused this runner: " + reason);
    }
    if (challengeFrame.type() != RemoteProtocol.CHALLENGE) {
      throw new IOException("expected CHALLENGE, got frame type " + challengeFrame.type());
    }
    byte version = challengeFrame.body().readByte();
    if (version != RemoteProtocol.VERSION) {
      throw new IOException(
          "the parent speaks protocol version " + version + ", this runner " + RemoteProtocol.VERSION);
    }
    parentNonce = new byte[RemoteProtocol.NONCE_BYTES];
    challengeFrame.body().readFully(parentNonce);
  }

  /**
   * Proves the secret to the parent and checks the parent's proof: the WELCOME must open under the
   * session key derived from the secret, so a listener that does not know it is refused before
   * this runner reads a single call.
   */
  private long finishHandshake(byte[] secret) throws IOException {
    Deadline timer =
        new Deadline(socket, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CONNECT_TIMEOUT_MILLIS));
    try {
      FrameChannel.FrameWriter proof = new FrameChannel.FrameWriter(RemoteProtocol.PROOF);
      proof.out.write(RemoteProtocol.runnerProof(secret, parentNonce, runnerNonce, id));
      channel.writePlain(proof);
      byte[][] keys = RemoteProtocol.sessionKeys(secret, parentNonce, runnerNonce, id);
      channel.seal(keys[1], keys[0], FrameChannel.MAX_PLAIN_FRAME);
      FrameChannel.Frame welcome;
      try {
        welcome = channel.receive();
      } catch (IOException e) {
        if (timer.fired()) {
          throw new IOException(
              "the parent sent no WELCOME within " + CONNECT_TIMEOUT_MILLIS + " ms", e);
        }
        throw new IOException("the parent did not prove the secret (" + e.getMessage() + ")", e);
      }
      if (welcome.type() != RemoteProtocol.WELCOME) {
        throw new IOException("expected WELCOME, got frame type " + welcome.type());
      }
      DataInputStream body = welcome.body();
      long idleMillis = body.readLong();
      body.readInt(); // maxConcurrency: the parent enforces it
      RemoteProtocol.readString(body); // the pool's name
      int maxFrameBytes = body.readInt();
      codecLimits = new CodecLimits(body.readInt(), body.readInt(), body.readInt());
      channel.maxFrameBytes(maxFrameBytes);
      if (!timer.disarm()) {
        throw new IOException("the handshake took longer than " + CONNECT_TIMEOUT_MILLIS + " ms");
      }
      return idleMillis;
    } finally {
      timer.disarm();
    }
  }

  private int serve(long idleBackstopMillis) {
    if (idleBackstopMillis >= 0) {
      Thread.ofPlatform().daemon().name("shepherd-runner-idle-watch").start(
          () -> watchIdle(idleBackstopMillis));
    }
    Thread reader = Thread.ofPlatform().daemon().name("shepherd-runner-reader").start(this::readLoop);
    try {
      ended.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    reader.interrupt();
    System.err.println("shepherd runner " + id + " exiting: " + endReason);
    return 0;
  }

  private void end(String reason) {
    if (ended.getCount() > 0) {
      endReason = reason;
      RemoteRunnerServer.closeQuietly(socket);
      ended.countDown();
    }
  }

  private void watchIdle(long idleMillis) {
    long idleNanos = TimeUnit.MILLISECONDS.toNanos(idleMillis);
    long interval = Math.max(10, Math.min(1000, idleMillis / 4));
    while (ended.getCount() > 0) {
      if (active.get() == 0 && System.nanoTime() - lastActivityNanos >= idleNanos) {
        end("idle for " + idleMillis + " ms");
        return;
      }
      try {
        Thread.sleep(interval);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  private void readLoop() {
    try {
      while (true) {
        FrameChannel.Frame frame = channel.receive();
        DataInputStream body = frame.body();
        switch (frame.type()) {
          case RemoteProtocol.CALL -> {
            long callId = body.readLong();
            String function = RemoteProtocol.readString(body);
            byte[] payload = RemoteProtocol.readBytes(body);
            startCall(callId, function, payload);
          }
          case RemoteProtocol.CANCEL ->
              // Under the map's lock: once runCall has removed its entry, no cancel reaches it.
              running.computeIfPresent(
                  body.readLong(),
                  (callId, thread) -> {
                    thread.interrupt();
                    return thread;
                  });
          case RemoteProtocol.SHUTDOWN -> {
            long graceMillis = body.readLong();
            shutdown(graceMillis);
          }
          default -> throw new IOException("unexpected frame type " + frame.type());
        }
      }
    } catch (IOException | RuntimeException e) {
      if (!shuttingDown && exitOnParentLoss) {
        // The parent is gone (or dropped us): no orphan may linger, so skip the orderly exit
        // (shutdown hooks, logging to a closed pipe) and stop the JVM now.
        Runtime.getRuntime().halt(0);
      }
      end(shuttingDown ? "shut down" : "connection to parent closed (" + e + ")");
    }
  }

  private void shutdown(long graceMillis) {
    shuttingDown = true;
    Thread.ofPlatform().daemon().name("shepherd-runner-shutdown").start(() -> {
      long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMillis);
      while (active.get() > 0 && System.nanoTime() - deadline < 0) {
        try {
          Thread.sleep(10);
        } catch (InterruptedException e) {
          break;
        }
      }
      end("shutdown requested");
    });
  }

  private void startCall(long callId, String function, byte[] payload) {
    active.incrementAndGet();
    lastActivityNanos = System.nanoTime();
    Thread thread =
        Thread.ofVirtual().name("shepherd-runner-call-" + callId).unstarted(
            () -> runCall(callId, function, payload));
    running.put(callId, thread);
    thread.start();
  }

  private void runCall(long callId, String function, byte[] payload) {
    try {
      FrameChannel.FrameWriter frame;
      try {
        frame = answer(callId, function, payload);
      } finally {
        running.remove(callId);
        // No cancel can interrupt this thread any more (see readLoop); clear the flag a late one
        // left: a virtual thread's socket write that has to wait while interrupted closes the
        // socket, which would end this runner and every other call on it.
        Thread.interrupted();
      }
      try {
        channel.send(frame);
      } catch (IOException e) {
        end("cannot write to parent (" + e + ")");
      }
    } finally {
      lastActivityNanos = System.nanoTime();
      active.decrementAndGet();
    }
  }

  /** The frame that answers a call; never throws, so every call gets its answer. */
  private FrameChannel.FrameWriter answer(long callId, String function, byte[] payload) {
    try {
      if (shuttingDown) {
        return failure(callId, RemoteProtocol.FAILURE_REJECTED,
            new IllegalStateException("runner " + id + " is shutting down"));
      } else if (!functions.contains(function)) {
        return failure(callId, RemoteProtocol.FAILURE_REJECTED, functions.unknown(function));
      }
      return execute(callId, functions.get(function), payload);
    } catch (Throwable t) {
      // Encoding the result threw (a collection changed while it was encoded, a map key whose
      // toString throws, an OutOfMemoryError): the call fails instead of never being answered.
      return failure(callId, RemoteProtocol.FAILURE_THREW,
          new IllegalStateException("cannot return the result of \"" + function + "\"", t));
    }
  }

  private FrameChannel.FrameWriter execute(long callId, RunnerFunction fn, byte[] payload) {
    Object result;
    try {
      Object argument = PayloadCodec.decode(payload, codecLimits);
      result = fn.apply(argument);
    } catch (Throwable t) {
      boolean cancelled = Thread.interrupted();
      return failure(callId, cancelled ? RemoteProtocol.FAILURE_CANCELLED : RemoteProtocol.FAILURE_THREW, t);
    }
    if (Thread.interrupted()) {
      return failure(callId, RemoteProtocol.FAILURE_CANCELLED, new InterruptedException("cancelled"));
    }
    try {
      byte[] encoded = PayloadCodec.encode(result, codecLimits);
      int limit = channel.maxFrameBytes();
      if ((long) encoded.length + RemoteProtocol.RESULT_OVERHEAD > limit) {
        return failure(callId, RemoteProtocol.FAILURE_THREW,
            new IllegalArgumentException(
                "cannot return the result: " + encoded.length + " bytes encoded exceed the frame"
                    + " limit maxFrameBytes=" + limit));
      }
      FrameChannel.FrameWriter frame = new FrameChannel.FrameWriter(RemoteProtocol.RESULT);
      frame.out.writeLong(callId);
      RemoteProtocol.writeBytes(frame.out, encoded);
      return frame;
    } catch (IllegalArgumentException e) {
      return failure(callId, RemoteProtocol.FAILURE_THREW,
          new IllegalArgumentException("cannot return the result: " + e.getMessage(), e));
    } catch (IOException e) {
      return failure(callId, RemoteProtocol.FAILURE_THREW, e);
    }
  }

  /**
   * A FAILURE frame for {@code t}, within the frame limit: if the whole chain is too large (or
   * encoding it throws, say from a {@code getMessage} that throws), only the outermost exception's
   * class and message are sent, without stack frames or causes, and the message says so.
   */
  private FrameChannel.FrameWriter failure(long callId, byte kind, Throwable t) {
    int limit = channel.maxFrameBytes();
    try {
      FrameChannel.FrameWriter whole = failureFrame(callId, kind, t);
      if (whole.plainLength() <= limit) {
        return whole;
      }
    } catch (RuntimeException | StackOverflowError e) {
      // a throwable whose own methods throw: sent bare below
    }
    String message;
    try {
      message = t.getMessage();
    } catch (RuntimeException e) {
      message = null;
    }
    String bare =
        (message == null ? "" : RemoteProtocol.printable(message, RemoteProtocol.MAX_TEXT / 2) + " ")
            + "(stack trace and causes left out: they exceed the frame limit maxFrameBytes="
            + limit + " or could not be encoded)";
    return failureFrame(
        callId,
        kind,
        new RemoteException(
            t instanceof RemoteException r ? r.remoteClassName() : t.getClass().getName(),
            bare,
            new StackTraceElement[0],
            null));
  }

  private static FrameChannel.FrameWriter failureFrame(long callId, byte kind, Throwable t) {
    try {
      FrameChannel.FrameWriter frame = new FrameChannel.FrameWriter(RemoteProtocol.FAILURE);
      frame.out.writeLong(callId);
      frame.out.writeByte(kind);
      RemoteException.write(frame.out, t, 0);
      return frame;
    } catch (IOException e) {
      throw new IllegalStateException("cannot encode a failure in memory", e);
    }
  }

  @Override
  public String toString() {
    return "RemoteRunner[" + id + "]";
  }
}
