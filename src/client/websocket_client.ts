/**
 * The resilient WebSocket client: a connection that comes back by itself,
 * re-authenticates and re-subscribes, tells you what it is doing, and never
 * loses what you gave it to send without telling you.
 *
 * Each connection goes through the same ordered sequence: connect → the
 * handshakers (auth, then subscribe) → only then is the send queue flushed
 * and `connected` emitted, so nothing queued leaves before authentication.
 *
 * @module
 */
import { ConnectionClosed } from "../core/errors.ts";
import type { Message } from "../core/ws/message.ts";
import { connectWebSocket, parseWebSocketUrl } from "../ws/client.ts";
import type { WebSocketConnection } from "../ws/types.ts";
import { resolveClientOptions, type ResolvedClientOptions } from "./client_options.ts";
import type { WebSocketClientOptions } from "./client_options.ts";
import { abortReason, sleep } from "../common/clock.ts";
import { ClientClosed, ClientErrorCode, HandshakerError } from "./errors.ts";
import { Broadcaster, type ConnectionEvent, type SubscribeOptions } from "./events.ts";
import { callHooks, type ConnectionInfo } from "./extensions.ts";
import { chainHandshakes, type HandshakeConnection, runHandshake } from "./handshake.ts";
import type { Outgoing } from "./ledger.ts";
import { RetryTracker } from "./retry_tracker.ts";
import { Inbox } from "./inbox.ts";
import { type SendOptions, SendQueue } from "./send_queue.ts";
import { ownMessage, Session, type SessionEnd } from "./session.ts";
import { type ClientState, StateTracker } from "./state.ts";

/**
 * A `ReadableStream` that is also async-iterable (`for await`) on every
 * runtime, as returned by `messages()` and `events()`.
 *
 * @example Read with a reader or with for-await
 * ```ts
 * import type { IterableStream, Message } from "@sluice/net";
 * async function firstText(stream: IterableStream<Message>): Promise<string | null> {
 *   for await (const m of stream) if (m.type === "text") return m.text;
 *   return null;
 * }
 * ```
 */
export type IterableStream<T> = ReadableStream<T> & AsyncIterable<T>;

/**
 * {@link ClientState} plus the send queue's fill level and what is written
 * but not yet confirmed by a pong.
 *
 * @example A one-line status
 * ```ts
 * import type { WebSocketClientState } from "@sluice/net";
 * const line = (s: WebSocketClientState) =>
 *   `${s.status} ${s.id ?? "-"} reconnects=${s.reconnectCount} queued=${s.queuedMessages} rtt=${s.lastRttMs?.toFixed(1) ?? "?"}ms`;
 * ```
 */
export interface WebSocketClientState extends ClientState {
  /** Messages in the send queue (queued plus being written). */
  readonly queuedMessages: number;
  /** Their payload bytes. */
  readonly queuedBytes: number;
  /** Messages written since the last confirmed point (a pong, or the connect). */
  readonly unconfirmedMessages: number;
}

/** Adds `Symbol.asyncIterator` where the runtime's `ReadableStream` lacks it. */
function iterable<T>(stream: ReadableStream<T>): IterableStream<T> {
  const s = stream as IterableStream<T>;
  if (typeof s[Symbol.asyncIterator] === "function") return s;
  Object.defineProperty(s, Symbol.asyncIterator, {
    value: async function* () {
      const reader = stream.getReader();
      try {
        for (;;) {
          const r = await reader.read();
          if (r.done) return;
          yield r.value;
        }
      } finally {
        reader.releaseLock();
      }
    },
  });
  return s;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A WebSocket client that reconnects with backoff, re-runs its handshakers on
 * every connection, detects dead peers with a heartbeat, and keeps a bounded
 * send queue whose every message either reaches a socket exactly once or is
 * rejected to the caller.
 *
 * Delivery is at-most-once: `send` resolves when the frame is handed to the
 * socket; a message still queued when a connection drops waits for the next
 * one; a message written on a connection that then fails may be lost, and
 * the `disconnected` event counts those written since the last confirmed
 * point (a pong, or the connect) so the application can reconcile.
 *
 * @example Authenticate, subscribe, and read a feed that survives restarts
 * ```ts
 * import { authHandshake, subscribeHandshake, WebSocketClient } from "@sluice/net";
 * const client = new WebSocketClient("ws://127.0.0.1:9001/feed", {
 *   handshakers: [
 *     authHandshake("secret", { reply: (m) => m.type === "text" && m.text.includes('"authenticated"') || undefined }),
 *     subscribeHandshake(["trades.BTC"], { waitConfirmation: true }),
 *   ],
 *   pingIntervalMs: 5_000,
 *   pongTimeoutMs: 3_000,
 * });
 * const running = client.run();
 * for await (const msg of client.messages()) {
 *   if (msg.type === "text") console.log(msg.text);
 * }
 * await running;
 * ```
 */
export class WebSocketClient {
  readonly #url: string;
  readonly #o: ResolvedClientOptions;
  readonly #state: StateTracker;
  readonly #queue: SendQueue;
  readonly #tracker: RetryTracker;
  readonly #events = new Broadcaster<ConnectionEvent>();
  readonly #inbox: Inbox;
  #writable: WritableStream<Outgoing> | null = null;
  readonly #stop = new AbortController();
  #running: Promise<void> | null = null;
  #finished: Promise<void> | null = null;
  #session: Session | null = null;
  /** When (on the clock) any connection last read bytes: liveness during a large message. */
  #bytesAt = Number.NEGATIVE_INFINITY;
  #connectionSeq = 0;
  /** The current streak began with a drop: the first retry after it is attempt 1. */
  #afterDrop = false;
  #rejectedAtStop = { messages: 0, bytes: 0 };
  #closedEmitted = false;

  /**
   * Creates the client; nothing connects until {@link WebSocketClient.run}.
   * Sends made before then wait in the queue (under the `buffer` policy).
   *
   * @param url A `ws://` or `wss://` URL.
   * @param options Handshakers, retry strategy, heartbeat, send queue, extensions, clock.
   * @throws {TypeError} On a URL that is not `ws:`/`wss:`, or a malformed handshaker, extension or clock.
   * @throws {RangeError} On an out-of-range number or an unknown policy.
   */
  constructor(url: string | URL, options: WebSocketClientOptions = {}) {
    parseWebSocketUrl(url);
    this.#url = String(url);
    this.#o = resolveClientOptions(options);
    this.#state = new StateTracker(this.#o.clock);
    this.#queue = new SendQueue({
      maxMessages: this.#o.sendQueueCapacity,
      maxBytes: this.#o.sendQueueMaxBytes,
      whileDisconnected: this.#o.whileDisconnected,
      clock: this.#o.clock,
    });
    this.#tracker = new RetryTracker(this.#o.retry, { resetAfterMs: this.#o.resetAfterMs });
    this.#inbox = new Inbox(this.#o.maxBufferedMessages, () => void this.close());
  }

  /** The URL the client connects to. */
  get url(): string {
    return this.#url;
  }

  /** True while a connection is up and its handshakes passed. */
  get isConnected(): boolean {
    return this.#state.isConnected;
  }

  /**
   * A snapshot of the connection: id, status, attempt, counts, uptime, last
   * error, last ping round-trip time, and the send queue's fill level.
   *
   * @returns A frozen snapshot.
   *
   * @example Report the round-trip time
   * ```ts
   * import { WebSocketClient } from "@sluice/net";
   * const client = new WebSocketClient("ws://127.0.0.1:9001/");
   * const { status, lastRttMs } = client.state();
   * console.log(status, lastRttMs); // "idle" null
   * ```
   */
  state(): WebSocketClientState {
    return Object.freeze({
      ...this.#state.snapshot(),
      queuedMessages: this.#queue.messages,
      queuedBytes: this.#queue.bytes,
      unconfirmedMessages: this.#queue.ledger.unconfirmed.messages,
    });
  }

  /**
   * Connects and keeps connecting until shut down (by {@link WebSocketClient.close}
   * or `signal`) or until the retry strategy gives up.
   *
   * @param signal Shuts the client down gracefully when aborted.
   * @returns Resolves after a graceful shutdown.
   * @throws {ClientClosed} (rejects) With code `CLIENT_GAVE_UP` (the last error as `cause`)
   *   when the retry strategy gives up or `exitOnFirstFailure` is set and a failure happens.
   * @throws {Error} (rejects) When `run()` was already called.
   */
  run(signal?: AbortSignal): Promise<void> {
    if (this.#running) return Promise.reject(new Error("run() was already called on this client"));
    if (signal?.aborted) void this.close();
    else signal?.addEventListener("abort", () => void this.close(), { once: true });
    this.#running = this.#finished ?? this.#loop();
    return this.#running;
  }

  /**
   * Every message received, on every connection, in order, as owned copies:
   * one stream that outlives every reconnect and ends when the client stops.
   * Messages that arrive before anything reads are kept, up to
   * `maxBufferedMessages`; past that the client stops reading the socket, so a
   * slow reader slows the server down instead of losing messages. Cancelling
   * it closes the client. For several consumers, `tee()` it.
   *
   * @example A feed as one pipeline, backpressure from the sink to the socket
   * ```ts
   * import { WebSocketClient } from "@sluice/net";
   * const client = new WebSocketClient("ws://127.0.0.1:9001/");
   * const running = client.run();
   * const parse = new TransformStream({
   *   transform(msg, out) {
   *     if (msg.type === "text") out.enqueue(JSON.parse(msg.text));
   *   },
   * });
   * await client.readable.pipeThrough(parse).pipeTo(new WritableStream({ write: console.log }));
   * await running;
   * ```
   */
  get readable(): ReadableStream<Message> {
    return this.#inbox.readable;
  }

  /**
   * The send side as a stream: strings go as text messages, bytes as binary,
   * through the send queue (so they wait out reconnects under the `buffer`
   * policy). A write resolves as soon as the queue takes the message and
   * waits while the queue is full, which is the stream's backpressure; a
   * failed send errors the stream. Closing it closes the client. Do not
   * modify bytes after writing them.
   *
   * @example Pipe orders into the client
   * ```ts
   * import { WebSocketClient } from "@sluice/net";
   * const client = new WebSocketClient("ws://127.0.0.1:9001/");
   * void client.run();
   * const orders = ReadableStream.from([JSON.stringify({ buy: 1 }), JSON.stringify({ sell: 2 })]);
   * await orders.pipeTo(client.writable, { preventClose: true });
   * ```
   */
  get writable(): WritableStream<Outgoing> {
    this.#writable ??= new WritableStream<Outgoing>({
      write: (message, controller) => {
        const sent = this.#queue.send(message);
        sent.catch((e) => controller.error(e));
        // Waiting for room is backpressure; a message the queue took goes on its own.
        if (this.#queue.waiting > 0) return sent;
      },
      close: () => this.close(),
      abort: () => this.close(),
    });
    return this.#writable;
  }

  /**
   * The messages of {@link WebSocketClient.readable} as an async iterable:
   * a thin view of that one stream, so only one reader at a time (the
   * messages that arrived before the first read are included).
   *
   * @returns `readable`, also async-iterable.
   * @throws {TypeError} When `readable` is already being read; `tee()` it for several consumers.
   */
  messages(): IterableStream<Message> {
    const stream = this.#inbox.readable;
    if (stream.locked) {
      throw new TypeError(
        "messages() is a view of client.readable, which is already being read: " +
          "use client.readable.tee() for several consumers",
      );
    }
    return iterable(stream);
  }

  /**
   * Every {@link ConnectionEvent} from now on: `connecting`, `connected`,
   * `handshakeFailed`, `disconnected`, `reconnectScheduled`, `error`, `closed`.
   * Each call gives an independent subscriber; the stream ends after `closed`.
   *
   * @param options Buffer size, overflow policy, signal.
   * @returns A `ReadableStream<ConnectionEvent>` that is also async-iterable.
   * @throws {RangeError} On an invalid buffer size or policy.
   *
   * @example Log what the connection does
   * ```ts
   * import { WebSocketClient } from "@sluice/net";
   * const client = new WebSocketClient("ws://127.0.0.1:9001/");
   * (async () => {
   *   for await (const e of client.events()) {
   *     if (e.type === "disconnected") console.log(`down: ${e.reason}, ${e.unconfirmedMessages} unconfirmed`);
   *     if (e.type === "reconnectScheduled") console.log(`retry #${e.attempt} in ${e.delayMs} ms`);
   *   }
   * })();
   * ```
   */
  events(options: SubscribeOptions = {}): IterableStream<ConnectionEvent> {
    return iterable(this.#events.subscribe(options));
  }

  /**
   * Queues a message, waiting for room when the queue is full.
   *
   * @param message A string (text message) or bytes (binary); don't modify bytes until settled.
   * @param options A signal to withdraw the message before it is written.
   * @returns Resolves when the frame is handed to a socket.
   * @throws {NotConnected} (rejects) While disconnected under the `reject` policy.
   * @throws {ClientClosed} (rejects) When the client shuts down or gives up first.
   * @throws {RangeError} (rejects) When the message alone exceeds `sendQueueMaxBytes`.
   *
   * @example Send now or after the next reconnect, and learn if it never left
   * ```ts
   * import { ClientClosed, WebSocketClient } from "@sluice/net";
   * const client = new WebSocketClient("ws://127.0.0.1:9001/");
   * client.send(JSON.stringify({ op: "order", id: 42 })).catch((e) => {
   *   if (e instanceof ClientClosed) console.log("not sent:", e.code);
   * });
   * ```
   */
  send(message: Outgoing, options?: SendOptions): Promise<void> {
    return this.#queue.send(message, options);
  }

  /**
   * Queues a message only if there is room now.
   *
   * @param message A string (text message) or bytes (binary).
   * @returns Resolves when the frame is handed to a socket (its rejection is
   *   pre-handled: ignoring it cannot crash the process).
   * @throws {QueueFull} At once, when the queue has no room.
   * @throws {NotConnected} At once, while disconnected under the `reject` policy.
   * @throws {ClientClosed} At once, after shutdown or give-up.
   */
  trySend(message: Outgoing): Promise<void> {
    return this.#queue.trySend(message);
  }

  /**
   * Queues a message that must be handed to a socket within `timeoutMs`
   * (waiting for room included), or be withdrawn and rejected.
   *
   * @param message A string (text message) or bytes (binary).
   * @param timeoutMs The time allowed, in ms, on the client's clock.
   * @param options A signal to withdraw the message earlier.
   * @returns Resolves when the frame is handed to a socket.
   * @throws {TimeoutError} (rejects) With code `CLIENT_SEND_TIMEOUT` when time runs out first.
   * @throws {ClientClosed} (rejects) When the client shuts down or gives up first.
   */
  sendTimeout(message: Outgoing, timeoutMs: number, options?: SendOptions): Promise<void> {
    return this.#queue.sendTimeout(message, timeoutMs, options);
  }

  /**
   * Shuts down gracefully: stops reconnecting, rejects every queued send with
   * `ClientClosed` (`CLIENT_CLOSED`), closes the connection with 1000, then
   * emits `closed` and ends every stream. Idempotent.
   *
   * @returns Resolves once the client has stopped.
   */
  close(): Promise<void> {
    if (!this.#stop.signal.aborted) {
      const before = this.#queue.ledger.totalRejected;
      this.#stop.abort(new ClientClosed(ClientErrorCode.Closed, "the client was shut down"));
      this.#queue.close(this.#stop.signal.reason);
      const after = this.#queue.ledger.totalRejected;
      this.#rejectedAtStop = {
        messages: after.messages - before.messages,
        bytes: after.bytes - before.bytes,
      };
      if (this.#state.status !== "closed") this.#state.closing();
      this.#session?.stop("client shutdown", true);
      if (!this.#running) this.#finished = Promise.resolve(this.#finish("shutdown"));
    }
    return (this.#running ?? this.#finished!).catch(() => {});
  }

  // ---------------------------------------------------------------- the loop

  async #loop(): Promise<void> {
    const { clock } = this.#o;
    const stop = this.#stop.signal;
    for (;;) {
      if (stop.aborted) return this.#finish("shutdown");
      const attempt = this.#tracker.attempt + (this.#afterDrop ? 0 : 1);
      this.#tracker.started(clock.now());
      this.#state.connecting(attempt);
      this.#emit({ type: "connecting", attempt, url: this.#url, at: clock.now() });

      let ws: WebSocketConnection;
      try {
        const userOnBytes = this.#o.connect.onBytes;
        ws = await connectWebSocket(this.#url, {
          ...this.#o.connect,
          autoPong: true,
          signal: stop,
          onBytes: (n) => {
            this.#bytesAt = clock.now();
            userOnBytes?.(n);
          },
        });
      } catch (error) {
        if (stop.aborted) return this.#finish("shutdown");
        await this.#failed(error, attempt, 0);
        continue;
      }
      const id = `c${++this.#connectionSeq}`;
      if (stop.aborted) {
        ws.close(1000).catch(() => {});
        return this.#finish("shutdown");
      }
      this.#state.handshaking(id);
      const early: Message[] = [];
      try {
        await this.#handshake(ws, id, attempt, early);
      } catch (error) {
        if (stop.aborted) {
          ws.close(1000).catch(() => {});
          return this.#finish("shutdown");
        }
        dropSocket(ws);
        const handshaker = error instanceof HandshakerError ? error.handshaker : "handshake";
        this.#emit({ type: "handshakeFailed", id, handshaker, error, attempt, at: clock.now() });
        const least = error instanceof HandshakerError ? error.retryDelayMs : 0;
        await this.#failed(error, attempt, least);
        continue;
      }
      if (stop.aborted) {
        ws.close(1000).catch(() => {});
        return this.#finish("shutdown");
      }
      const end = await this.#connected(ws, id, attempt, early);
      if (stop.aborted || end.local) return this.#finish("shutdown");
      this.#afterDrop = true;
      await this.#failed(end.error ?? new Error(end.reason), attempt, 0, true);
    }
  }

  /** Runs the handshakers on a fresh connection; rejects with a `HandshakerError`. */
  async #handshake(
    ws: WebSocketConnection,
    id: string,
    attempt: number,
    early: Message[],
  ): Promise<void> {
    const steps = this.#o.handshakers;
    if (steps.length === 0) return;
    const controller = new AbortController();
    const onStop = () => controller.abort(abortReason(this.#stop.signal));
    this.#stop.signal.addEventListener("abort", onStop, { once: true });
    ws.closed.then((info) =>
      controller.abort(
        new ConnectionClosed(ClientErrorCode.HandshakeClosed, `connection closed (${info.code})`, {
          retryable: true,
          cause: info.error,
        }),
      )
    );
    const connection: HandshakeConnection = {
      signal: controller.signal,
      sendText: (text) => attemptCall(() => ws.sendText(text)),
      sendBinary: (data) => attemptCall(() => ws.sendBinary(data)),
      recv: () => attemptCall(() => ws.recv()),
      forward: (message) => {
        // Held until the connection is up: bounded like a subscriber's buffer.
        if (early.length >= this.#o.maxBufferedMessages) {
          throw new RangeError(
            `more than maxBufferedMessages (${this.#o.maxBufferedMessages}) messages arrived before ` +
              `the handshakes completed`,
          );
        }
        early.push(ownMessage(message));
      },
    };
    const chain = steps.length === 1 ? steps[0]! : chainHandshakes(...steps);
    try {
      await runHandshake(chain, connection, { attempt, connectionId: id, clock: this.#o.clock });
    } finally {
      this.#stop.signal.removeEventListener("abort", onStop);
    }
  }

  /** Runs one established connection to its end and reports it. */
  async #connected(
    ws: WebSocketConnection,
    id: string,
    attempt: number,
    early: Message[],
  ): Promise<SessionEnd> {
    const { clock } = this.#o;
    const now = clock.now();
    this.#tracker.connected(now);
    this.#afterDrop = false;
    // The connect is a confirmed point: what earlier connections wrote was
    // already reported in their `disconnected` events.
    this.#queue.ledger.confirm();
    const info: ConnectionInfo = { id, url: this.#url, attempt, at: now };
    const session = new Session({
      ws,
      info,
      clock,
      queue: this.#queue,
      inbox: this.#inbox,
      extensions: this.#o.extensions,
      early,
      pingIntervalMs: this.#o.pingIntervalMs,
      pongTimeoutMs: this.#o.pongTimeoutMs,
      lastBytesAt: () => this.#bytesAt,
      receiveTimeoutMs: this.#o.receiveTimeoutMs,
      onRtt: (ms) => this.#state.rtt(ms),
      onExtensionError: (error) => this.#reportError(error, attempt),
    });
    this.#session = session;
    this.#state.connected();
    const reconnect = this.#state.snapshot().connectionCount > 1;
    this.#emit({ type: "connected", id, attempt, reconnect, at: now });
    this.#hookErrors(callHooks(this.#o.extensions, "onConnect", info), attempt);

    const end = await session.ended;
    this.#session = null;
    // Messages taken but never handed to the WebSocket go back to the front.
    this.#queue.requeueInFlight();
    const unconfirmed = this.#queue.ledger.unconfirmed;
    if (!end.local && end.error !== undefined) this.#state.error(end.error);
    const at = clock.now();
    const disconnected = {
      id,
      reason: end.reason,
      code: end.close.code,
      wasClean: end.close.wasClean,
      error: end.error,
      unconfirmedMessages: unconfirmed.messages,
      unconfirmedBytes: unconfirmed.bytes,
      connectedForMs: Math.max(0, at - now),
      at,
    };
    this.#emit({ type: "disconnected", ...disconnected });
    this.#hookErrors(callHooks(this.#o.extensions, "onDisconnect", disconnected), attempt);
    return end;
  }

  /**
   * Records a failed attempt or a drop, then waits out the retry delay, or
   * ends the client when the strategy gives up.
   */
  async #failed(
    error: unknown,
    attempt: number,
    leastDelayMs: number,
    drop = false,
  ): Promise<void> {
    const { clock } = this.#o;
    // Drops always go to the strategy; a failed attempt first has to be retryable at all.
    const retryable = drop || this.#o.retryable(error);
    const decision = retryable ? this.#tracker.failed(error, clock.now()) : null;
    const ends = decision === null || decision.type === "giveUp" || this.#o.exitOnFirstFailure;
    if (!drop) {
      this.#state.error(error);
      this.#emit({ type: "error", error, attempt, willRetry: !ends, at: clock.now() });
      this.#hookErrors(
        callHooks(this.#o.extensions, "onError", error, { attempt, at: clock.now() }),
        attempt,
      );
    }
    if (decision === null) throw this.#notRetryable(error);
    if (ends) throw this.#giveUp(error, decision.attempt);
    const next = decision.attempt + (this.#afterDrop ? 0 : 1);
    const delayMs = Math.max(decision.delayMs, leastDelayMs);
    this.#state.reconnecting();
    this.#emit({ type: "reconnectScheduled", delayMs, attempt: next, at: clock.now() });
    if (delayMs === 0) return;
    try {
      await sleep(delayMs, clock, this.#stop.signal);
    } catch { /* shutdown: the loop notices */ }
  }

  /** Ends the client on a failure retrying cannot fix: `run()` rejects with the failure itself. */
  #notRetryable(error: unknown): unknown {
    this.#stopFor("notRetryable", error, new ClientClosed(
      ClientErrorCode.NotRetryable,
      `the client stopped: ${describe(error)} (not retryable; pass \`retryable: () => true\` ` +
        "to leave the decision to the retry strategy)",
      { cause: error },
    ));
    return error;
  }

  #giveUp(error: unknown, failures: number): ClientClosed {
    const why = this.#o.exitOnFirstFailure
      ? "exitOnFirstFailure is set"
      : `the retry strategy gave up after ${failures} failure${failures === 1 ? "" : "s"}`;
    const gaveUp = new ClientClosed(
      ClientErrorCode.GaveUp,
      `${why}; last error: ${describe(error)}`,
      { cause: error },
    );
    this.#stopFor("gaveUp", error, gaveUp);
    return gaveUp;
  }

  /** Stops for good after `error`: queued sends are rejected with `stopped`, streams end. */
  #stopFor(reason: "gaveUp" | "notRetryable", error: unknown, stopped: ClientClosed): void {
    const rejected = this.#queue.close(stopped);
    this.#state.closed();
    this.#emitClosed({ reason, error, ...rejected });
    this.#inbox.close();
  }

  #finish(reason: "shutdown"): void {
    if (this.#state.status !== "closed") this.#state.closed();
    this.#emitClosed({ reason, ...this.#rejectedAtStop });
    this.#inbox.close();
  }

  #emitClosed(
    e: {
      reason: "shutdown" | "gaveUp" | "notRetryable";
      error?: unknown;
      messages: number;
      bytes: number;
    },
  ) {
    if (this.#closedEmitted) return;
    this.#closedEmitted = true;
    this.#emit({
      type: "closed",
      reason: e.reason,
      error: e.error,
      rejectedMessages: e.messages,
      rejectedBytes: e.bytes,
      at: this.#o.clock.now(),
    });
    this.#events.close();
  }

  #emit(event: ConnectionEvent): void {
    this.#events.publish(event);
  }

  #reportError(error: unknown, attempt: number): void {
    this.#state.error(error);
    this.#emit({ type: "error", error, attempt, willRetry: true, at: this.#o.clock.now() });
  }

  #hookErrors(errors: Error[], attempt: number): void {
    for (const e of errors) this.#reportError(e, attempt);
  }
}

/** Calls a WebSocket method, turning a synchronous throw into a rejection. */
function attemptCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Drops a connection whose handshake failed: no close handshake with a peer we gave up on. */
function dropSocket(ws: WebSocketConnection): void {
  const transport = (ws as { transport?: { close(): void } }).transport;
  try {
    transport?.close();
  } catch { /* already closed */ }
  ws.close(1000).catch(() => {});
}
