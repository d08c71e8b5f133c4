/**
 * An open WebSocket over any transport {@link Connection}: the codec joined to
 * the socket's streams, for either role. The client (`connectWebSocket`) and
 * the server (`acceptWebSocket`) build one after their opening handshake.
 *
 * @module
 */
import {
  ConnectionClosed,
  ConnectionPoisoned,
  ProtocolError,
  SluiceError,
  TimeoutError,
} from "../core/errors.ts";
import { FrameReader } from "../core/ws/frame_reader.ts";
import { FrameWriter } from "../core/ws/frame_writer.ts";
import { isValidCloseCode, type Message, retainMessage } from "../core/ws/message.ts";
import type { ChunkIO, ChunkSink, Connection } from "../transports/types.ts";
import { type Deferred, deferred, timeoutOption, withTimeout } from "./deferred.ts";
import { Outbox } from "./outbox.ts";
import type { CloseInfo, WebSocketConnection } from "./types.ts";

/** Options for an open connection, shared by client and server. */
export interface WebSocketOptions {
  /** Largest message accepted, in bytes; larger ones close the connection with 1009. @default 67108864 (64 MiB) */
  maxMessageSize?: number;
  /**
   * Most frames one message may arrive in; more close the connection with
   * 1009. Fragments cost no memory of their own (they are joined in place),
   * so the default leaves room for Autobahn's 4 MiB in 64-byte fragments (9.3.1).
   * @default 1048576
   */
  maxFragments?: number;
  /**
   * Largest read, in bytes, while a stream of messages arrives. Reads start
   * at 1 KiB and double while they fill up; an idle connection holds no
   * receive buffer (a partial frame borrows one from a shared pool, and gives
   * it back when the frame is done). Frames bigger than this still arrive.
   * @default 65536
   */
  bufferCapacity?: number;
  /** Fail the connection when no byte arrives for this long while reading (ms; 0 = never). @default 0 */
  readTimeout?: number;
  /** How long `close()` waits for the peer's close frame and TCP close (ms; 0 or Infinity = no limit). @default 5000 */
  closeTimeout?: number;
  /**
   * How long `ping()` waits for its pong before it rejects with a
   * `TimeoutError` (ms; 0 or Infinity = no limit). A pong is only seen while
   * the connection is being read (`recv()`, iteration, `messages`, a server's
   * `message` callback): a ping on a connection nobody reads fails after this
   * long and says so, instead of waiting forever. The connection stays open.
   * @default 30000
   */
  pingTimeoutMs?: number;
  /**
   * Answer pings with pongs automatically. When false, `recv()` and iteration
   * hand each ping over (type "ping") for the caller to answer with `pong(data)`.
   * @default true
   */
  autoPong?: boolean;
  /** Split outgoing messages into frames of at most this many payload bytes. @default Infinity */
  maxFrameSize?: number;
  /** Bytes queued for sending above which `writable` applies backpressure. @default 1048576 */
  writeHighWaterMark?: number;
  /**
   * Called after every socket read with the number of bytes read: progress
   * even while a large message is still arriving (heartbeats use it to tell a
   * slow peer from a dead one). Keep it cheap. @default none
   */
  onBytes?: (count: number) => void;
}

/** Payloads at least this big go out as header + payload (server role) instead of being copied into the batch. */
const VECTOR_THRESHOLD = 64 * 1024;
/** After failing a connection, read and drop at most this much while waiting for the peer's TCP close. */
const LINGER_BYTES = 1 << 20;
/** A failing server waits at most this long for the peer to end TCP. */
const SERVER_LINGER_MS = 1000;
/** …and stops as soon as the peer has been quiet this long (its close reply has come by then). */
const SERVER_LINGER_QUIET_MS = 100;
/** The codec's own default (1024) fails Autobahn 9.3.1–9.4.2; see `maxFragments`. */
const DEFAULT_MAX_FRAGMENTS = 1 << 20;
/** The longest delay timers take (2^31 - 1 ms); longer ones fire at once. */
const MAX_TIMER_MS = 0x7fffffff;

interface PendingPing {
  data: Uint8Array;
  sentAt: number;
  done: Deferred<number>;
  /** The pingTimeoutMs timer, cleared when the pong (or the end) settles the ping. */
  timer: ReturnType<typeof setTimeout> | undefined;
}

type State = "open" | "closing" | "closed";

const textEncoder = new TextEncoder();

/** What a wait for a message settles with: the message (or null), or an iterator step. */
type RecvResult = Message | null | IteratorResult<Message, undefined>;

/** The connection's entry point for {@link ReadSink} (module-private key). */
const DELIVER = Symbol("deliver");

/** A {@link ChunkSink} whose methods live on the prototype: one small object per connection, no closure. */
class ReadSink implements ChunkSink {
  readonly #conn: WebSocketConnectionImpl;
  constructor(conn: WebSocketConnectionImpl) {
    this.#conn = conn;
  }
  chunk(data: Uint8Array | null): void {
    this.#conn[DELIVER](data, null);
  }
  error(reason: unknown): void {
    this.#conn[DELIVER](null, reason ?? new Error("transport failed"));
  }
}

/** An iterator step for a received message, or the end for null. */
function toResult(value: Message | null): IteratorResult<Message, undefined> {
  return value === null ? { done: true, value: undefined } : { done: false, value };
}

/** A connection's resolved options. */
interface Settings {
  readonly readTimeout: number;
  readonly closeTimeout: number;
  readonly pingTimeoutMs: number;
  readonly autoPong: boolean;
  readonly highWater: number;
  readonly maxFrame: number;
  readonly onBytes: ((count: number) => void) | undefined;
}

/** Settings by the options object they came from: a server's connections share one. */
const settingsCache = new WeakMap<WebSocketOptions, Settings>();

/**
 * Validates and resolves `options` (once per options object): callers check
 * them before connecting, so bad options fail without network traffic.
 */
export function settingsOf(options: WebSocketOptions): Settings {
  let s = settingsCache.get(options);
  if (s !== undefined) return s;
  const hwm = options.writeHighWaterMark ?? 1 << 20;
  if (!Number.isSafeInteger(hwm) || hwm <= 0) {
    throw new RangeError(`writeHighWaterMark must be a positive integer: got ${hwm}`);
  }
  // The reader is made on first data: check its limits now, where the caller hears of them.
  new FrameReader({
    role: "client",
    maxMessageSize: options.maxMessageSize,
    maxFragments: options.maxFragments ?? DEFAULT_MAX_FRAGMENTS,
    bufferCapacity: options.bufferCapacity,
  });
  s = Object.freeze({
    readTimeout: timeoutOption("readTimeout", options.readTimeout, 0),
    closeTimeout: timeoutOption("closeTimeout", options.closeTimeout, 5000),
    pingTimeoutMs: timeoutOption("pingTimeoutMs", options.pingTimeoutMs, 30_000),
    autoPong: options.autoPong ?? true,
    highWater: hwm,
    maxFrame: options.maxFrameSize ?? Infinity,
    onBytes: options.onBytes,
  });
  settingsCache.set(options, s);
  return s;
}

const SHARED_WRITERS = {
  client: new FrameWriter({ role: "client" }),
  server: new FrameWriter({ role: "server" }),
} as const;

/** A rejected promise marked handled, like a {@link Deferred}'s: fire-and-forget sends never crash. */
function rejected(error: Error): Promise<never> {
  const p = Promise.reject(error);
  p.catch(() => {});
  return p;
}

/** A rejection for a control payload over 125 bytes (RFC 6455 §5.5), else null. */
function controlTooLong(kind: string, data: Uint8Array | undefined): Promise<never> | null {
  if (data === undefined || data.length <= 125) return null;
  return rejected(
    new RangeError(`${kind} payload must be at most 125 bytes (RFC 6455 §5.5): got ${data.length}`),
  );
}

/**
 * The {@link WebSocketConnection} implementation. Build it through
 * `connectWebSocket()` or `acceptWebSocket()`, not directly.
 */
export class WebSocketConnectionImpl implements WebSocketConnection {
  readonly protocol: string;
  readonly extensions = "";
  /** Settles once the connection is fully closed; never rejects. Made on first use. */
  get closed(): Promise<CloseInfo> {
    return this.#closedPromise ??= this.#closedInfo !== null
      ? Promise.resolve(this.#closedInfo)
      : new Promise((resolve) => this.#resolveClosed = resolve);
  }

  readonly #conn: Connection;
  readonly #io: ChunkIO;
  /** The codec, made when the first bytes after the handshake arrive (an idle socket has none). */
  #framesObj: FrameReader | null = null;
  readonly #role: "client" | "server";
  readonly #readerOptions: WebSocketOptions;
  get #frames(): FrameReader {
    return this.#framesObj ??= new FrameReader({
      role: this.#role,
      maxMessageSize: this.#readerOptions.maxMessageSize,
      maxFragments: this.#readerOptions.maxFragments ?? DEFAULT_MAX_FRAGMENTS,
      bufferCapacity: this.#readerOptions.bufferCapacity,
    });
  }
  readonly #encoder: FrameWriter;
  readonly #server: boolean;
  /** The resolved options: one object shared by every connection made with the same options. */
  readonly #cfg: Settings;

  #state: State = "open";
  #closeSent = false;
  #closeReceived: { code: number; reason: string } | null = null;
  #closeInitiator: "local" | "remote" | "none" = "none";
  #closedPromise: Promise<CloseInfo> | null = null;
  #resolveClosed: ((info: CloseInfo) => void) | null = null;
  #closedInfo: CloseInfo | null = null;
  /** The first failure; later calls fail with ConnectionPoisoned caused by it. */
  #error: Error | null = null;

  /** The send side: batching, the write queue, shared frames (made on the first send). */
  #outbox: Outbox | null = null;

  #out(): Outbox {
    return this.#outbox ??= new Outbox(this.#io, (e) => void this.#fail(e));
  }

  // Receive side.
  #reading = false;
  #draining: Promise<void> | null = null;
  /** A close frame or protocol error met by the synchronous path, for the async one. */
  #stashedClose: { code: number; reason: string } | null = null;
  #stashedError: unknown = null;
  /** Pings waiting for their pong (made on the first ping). */
  #pings: PendingPing[] | null = null;
  #pingSeq = 0;
  #lastRtt = NaN;
  #bytesIn = 0;

  #readable: ReadableStream<Message> | null = null;
  #writable: WritableStream<string | Uint8Array> | null = null;

  /**
   * Wraps a transport connection whose opening handshake is done.
   *
   * @param conn The transport connection.
   * @param io Its chunk I/O, taken with `takeIo` before the handshake.
   * @param role "client" (masks its frames) or "server".
   * @param protocol The negotiated subprotocol ("" for none).
   * @param leftover Bytes read past the handshake head: the first frames.
   * @param options Limits and timeouts.
   */
  constructor(
    conn: Connection,
    io: ChunkIO,
    role: "client" | "server",
    protocol: string,
    leftover: Uint8Array | null,
    options: WebSocketOptions = {},
  ) {
    this.#conn = conn;
    this.#server = role === "server";
    this.protocol = protocol;
    this.#role = role;
    this.#readerOptions = options;
    // Writers hold no state of their own (slab and mask keys are shared): one per role serves all.
    this.#encoder = options.maxFrameSize === undefined || options.maxFrameSize === Infinity
      ? SHARED_WRITERS[role]
      : new FrameWriter({ role, maxFrameSize: options.maxFrameSize });
    this.#cfg = settingsOf(options);
    this.#io = io;

    if (leftover && leftover.length > 0) {
      this.#bytesIn = leftover.length;
      this.#frames.push(leftover);
    }
  }

  /** Bytes handed to `send*` and not yet written to the socket. */
  get bufferedAmount(): number {
    return this.#outbox?.buffered ?? 0;
  }

  /** "open"; "closing" once a close frame was sent or the connection failed; "closed" when the socket is gone. */
  get readyState(): "open" | "closing" | "closed" {
    if (this.#state === "closed") return "closed";
    return this.#state === "closing" || this.#closeSent || this.#error ? "closing" : "open";
  }

  /**
   * Drops the connection at once, with no close handshake (the peer sees
   * 1006). Pending and later calls fail; `closed` resolves with code 1006.
   *
   * @param reason Why, kept as the error's cause.
   */
  abort(reason?: unknown): void {
    if (this.#state === "closed") return;
    const error = new ConnectionClosed("WS_ABORTED", "the WebSocket was aborted locally", {
      cause: reason,
      retryable: true,
    });
    this.#error ??= error;
    this.#finish({ code: 1006, reason: "", wasClean: false, initiatedBy: "local", error });
  }

  /** Bytes read from the peer so far (frames and headers); grows during a large message. */
  get bytesReceived(): number {
    return this.#bytesIn;
  }

  /** The last ping round-trip time in ms (NaN before the first pong). */
  get lastRtt(): number {
    return this.#lastRtt;
  }

  /** The transport connection underneath (addresses, ALPN…). */
  get transport(): Connection {
    return this.#conn;
  }

  // ---------------------------------------------------------------- receive

  /**
   * Resolves with the next text or binary message (borrowed: valid until the
   * next call), or `null` once the connection closed cleanly. Pings are
   * answered (or, with `autoPong: false`, returned) and pongs matched to
   * `ping()` calls on the way.
   *
   * @returns The next data message, or null after a clean close.
   * @throws {ProtocolError} When the peer broke the protocol (the connection is then failed).
   * @throws {ConnectionClosed} When the connection dropped without a close handshake.
   * @throws {TimeoutError} When `readTimeout` passed with no data.
   * @throws {ConnectionPoisoned} On any call after such a failure.
   */
  recv(): Promise<Message | null> {
    const ready = this.#tryRecvSync();
    if (ready !== null) return Promise.resolve(ready);
    return this.#recvWait(false) as Promise<Message | null>;
  }

  /**
   * Waits for the next message. With `asResult`, settles with an iterator
   * result instead (saving iteration a promise per message).
   */
  #recvWait(asResult: boolean): Promise<RecvResult> {
    const fast = this.#cfg.readTimeout === 0 && this.#io.readInto === undefined && this.#canReadDirect();
    if (fast && this.#io.readWith !== undefined) {
      // The common wait on Node and Bun: the socket's data event hands the
      // chunk over, it is parsed there and then, and the message settles the
      // one promise the caller holds.
      return new Promise((resolve) => {
        this.#waiter = { resolve, asResult };
        this.#reading = true;
        this.#io.readWith!(this.#sink);
      });
    }
    // Pull transports read into the codec's buffer, other push-based ones take
    // a chunk: one read and one `.then`, instead of nested async functions.
    const pull = this.#cfg.readTimeout === 0 && this.#io.readInto !== undefined &&
      this.#canReadDirect();
    const p: Promise<Message | null> = pull
      ? (this.#reading = true,
        this.#io.readInto!(this.#frames.spare()).then(this.#afterInto, this.#afterReadError))
      : fast
      ? (this.#reading = true, this.#io.read().then(this.#afterRead, this.#afterReadError))
      : this.#recvSlow();
    return asResult ? p.then(toResult) : p;
  }

  /** Where {@link ChunkIO.readWith} delivers; a trampoline, so synchronous deliveries don't recurse. */
  #sinkObj: ChunkSink | null = null;
  /** Where {@link ChunkIO.readWith} delivers (made on the first such read). */
  get #sink(): ChunkSink {
    return this.#sinkObj ??= new ReadSink(this);
  }

  /** Where {@link ReadSink} delivers. */
  [DELIVER](data: Uint8Array | null, error: unknown): void {
    this.#delivered(data, error);
  }
  #waiter: {
    resolve(v: RecvResult | PromiseLike<RecvResult>): void;
    asResult: boolean;
  } | null = null;
  #sinkBusy = false;
  #sinkNext: { data: Uint8Array | null; error: unknown } | null = null;

  #delivered(data: Uint8Array | null, error: unknown): void {
    if (this.#sinkBusy) {
      // Delivered from inside readWith below: the loop picks it up.
      this.#sinkNext = { data, error };
      return;
    }
    this.#sinkBusy = true;
    try {
      for (;;) {
        this.#reading = false;
        const settled = this.#takeChunk(data, error);
        if (settled !== undefined) {
          if (this.#listener === null || settled instanceof Promise) return this.#settleWaiter(settled);
          // Listening: hand this message and every other buffered one over
          // here, then read on (or stop while an async listener works).
          if (!this.#dispatch(settled)) return;
          for (let more = this.#tryRecvSync(); more !== null; more = this.#tryRecvSync()) {
            if (!this.#dispatch(more)) return;
          }
          if (!this.#canReadDirect()) return this.#settleWaiter(this.#recvSlow());
        }
        // No complete message yet: wait for more, unless this turn already has it.
        this.#sinkNext = null;
        this.#reading = true;
        this.#io.readWith!(this.#sink);
        const next = this.#sinkNext as { data: Uint8Array | null; error: unknown } | null;
        if (next === null) return;
        this.#sinkNext = null;
        data = next.data;
        error = next.error;
      }
    } catch (e) {
      // Unexpected: never let it escape into the socket's event handler.
      this.#reading = false;
      this.#stashedError ??= e;
      this.#settleWaiter(this.#recvSlow());
    } finally {
      this.#sinkBusy = false;
    }
  }

  /**
   * Feeds one delivered chunk to the codec. Returns what the waiting call
   * settles with — a message, or the slow path's promise for the end, an error
   * or a close — or undefined when more bytes are needed.
   */
  #takeChunk(data: Uint8Array | null, error: unknown): Message | Promise<Message | null> | undefined {
    if (error !== null) {
      this.#stashedError = error;
      return this.#recvSlow();
    }
    if (data === null) return this.#recvSlow(); // the end: the full path sorts it out
    this.#bytesIn += data.length;
    this.#cfg.onBytes?.(data.length);
    try {
      this.#frames.push(data);
    } catch (e) {
      this.#stashedError = e;
      return this.#recvSlow();
    }
    return this.#afterBytes();
  }

  /** {@link #takeChunk} for pull transports: `n` bytes were read into the codec's spare() (null: the end). */
  #takeFilled(n: number | null): Message | Promise<Message | null> | undefined {
    if (n === null) return this.#recvSlow();
    this.#bytesIn += n;
    this.#cfg.onBytes?.(n);
    try {
      this.#frames.filled(n);
    } catch (e) {
      this.#stashedError = e;
      return this.#recvSlow();
    }
    return this.#afterBytes();
  }

  /** After new bytes reached the codec: a message, the slow path's promise, or undefined for "read more". */
  #afterBytes(): Message | Promise<Message | null> | undefined {
    if (this.#error || this.#state !== "open") return this.#recvSlow();
    const ready = this.#tryRecvSync();
    if (ready !== null) return ready;
    return this.#canReadDirect() ? undefined : this.#recvSlow();
  }

  #settleWaiter(value: Message | Promise<Message | null>): void {
    if (this.#listener !== null) {
      if (value instanceof Promise) value.then(this.#listenResumed, () => {});
      else if (this.#dispatch(value)) this.#listenStep();
      return;
    }
    const w = this.#waiter;
    this.#waiter = null;
    if (w === null) return;
    if (!w.asResult) w.resolve(value);
    else if (value instanceof Promise) w.resolve(value.then(toResult));
    else w.resolve({ done: false, value });
  }

  // ------------------------------------------------------- listening (push)

  #listener: ((msg: Message, ws: this) => void | Promise<void>) | null = null;
  #onListenerError: ((error: unknown) => void) | null = null;
  #listenResumedFn: ((msg: Message | null) => void) | null = null;
  get #listenResumed(): (msg: Message | null) => void {
    return this.#listenResumedFn ??= (msg) => {
      if (msg !== null && this.#dispatch(msg)) this.#listenStep();
    };
  }

  /**
   * Reads for good, handing every data message to `onMessage` as it arrives,
   * without a promise per message or a waiting call: the lightest way to keep
   * many sockets reading (a server's `message` callback). Pings are answered
   * and the close handshake is done as with `recv()`. A message is borrowed:
   * valid while `onMessage` runs, or until the promise it returns settles;
   * while such a promise is pending no further message is handed over (and
   * reading waits), so an async listener gets backpressure.
   *
   * @param onMessage Gets each data message (and this connection, so one function can serve many).
   * @param onError Told when `onMessage` throws or rejects; the connection is then closed with 1011.
   * @throws {TypeError} When the connection is already being read (recv, iteration or listen).
   */
  listen(
    onMessage: (msg: Message, ws: this) => void | Promise<void>,
    onError?: (error: unknown) => void,
  ): void {
    if (this.#listener !== null || this.#reading || this.#waiter !== null) {
      throw new TypeError("listen() needs the connection to itself: it is already being read");
    }
    this.#listener = onMessage;
    this.#onListenerError = onError ?? null;
    this.#listenStep();
  }

  /** Hands over what is buffered, then waits for more. */
  #listenStep(): void {
    for (let msg = this.#tryRecvSync(); msg !== null; msg = this.#tryRecvSync()) {
      if (!this.#dispatch(msg)) return;
    }
    if (this.#state === "closed" || this.#draining) return;
    const fast = this.#cfg.readTimeout === 0 && this.#io.readInto === undefined && this.#canReadDirect();
    if (fast && this.#io.readWith !== undefined) {
      this.#reading = true;
      this.#io.readWith(this.#sink);
      return;
    }
    if (this.#cfg.readTimeout === 0 && this.#io.readInto !== undefined && this.#canReadDirect()) {
      // Deno: straight into the codec's buffer, no suspended async function per socket.
      this.#reading = true;
      this.#io.readInto(this.#frames.spare()).then(this.#listenFilled, this.#listenReadFailed);
      return;
    }
    this.#recvSlow().then(this.#listenResumed, () => {});
  }

  #listenFilledFn: ((n: number | null) => void) | null = null;
  get #listenFilled(): (n: number | null) => void {
    return this.#listenFilledFn ??= (n) => {
      this.#reading = false;
      const r = this.#takeFilled(n);
      if (r === undefined) this.#listenStep();
      else if (r instanceof Promise) r.then(this.#listenResumed, () => {});
      else if (this.#dispatch(r)) this.#listenStep();
    };
  }
  #listenReadFailedFn: ((e: unknown) => void) | null = null;
  get #listenReadFailed(): (e: unknown) => void {
    return this.#listenReadFailedFn ??= (e) => {
      this.#reading = false;
      this.#stashedError = e ?? new Error("the transport's read failed");
      this.#recvSlow().then(this.#listenResumed, () => {});
    };
  }

  /** Gives `msg` to the listener; false when it returned a promise (the loop resumes when it settles) or failed. */
  #dispatch(msg: Message): boolean {
    let r: void | Promise<void>;
    try {
      r = this.#listener!(msg, this);
    } catch (e) {
      this.#listenerFailed(e);
      return false;
    }
    if (r === undefined || typeof (r as { then?: unknown }).then !== "function") return true;
    (r as Promise<void>).then(() => this.#listenStep(), (e) => this.#listenerFailed(e));
    return false;
  }

  #listenerFailed(e: unknown): void {
    this.#onListenerError?.(e);
    this.close(1011).catch(() => {});
  }

  #canReadDirect(): boolean {
    return !this.#error && !this.#draining && !this.#reading && this.#state === "open" &&
      !this.#closeSent &&
      this.#stashedError === null && this.#stashedClose === null;
  }

  #afterReadFn: ((chunk: Uint8Array | null) => Promise<Message | null> | Message | null) | null =
    null;
  #afterReadErrorFn: ((e: unknown) => Promise<Message | null>) | null = null;
  /** The read continuations of pull-style transports, made on first use (Node and Bun use readWith). */
  get #afterRead(): (chunk: Uint8Array | null) => Promise<Message | null> | Message | null {
    return this.#afterReadFn ??= (chunk) => this.#afterReadChunk(chunk);
  }
  #afterIntoFn: ((n: number | null) => Promise<Message | null> | Message | null) | null = null;
  get #afterInto(): (n: number | null) => Promise<Message | null> | Message | null {
    return this.#afterIntoFn ??= (n) => {
      this.#reading = false;
      return this.#takeFilled(n) ?? this.recv();
    };
  }
  get #afterReadError(): (e: unknown) => Promise<Message | null> {
    return this.#afterReadErrorFn ??= (e) => this.#afterReadFailed(e);
  }

  #afterReadChunk(chunk: Uint8Array | null): Promise<Message | null> | Message | null {
    this.#reading = false;
    return this.#takeChunk(chunk, null) ?? this.recv();
  }

  #afterReadFailed(e: unknown): Promise<Message | null> {
    this.#reading = false;
    return this.#takeChunk(null, e ?? new Error("the transport's read failed")) as Promise<Message | null>;
  }

  /**
   * A data message already complete in the receive buffer, or null when
   * getting one needs I/O or other asynchronous work (close, failure). The
   * fast path of `recv()` and iteration: no async function, no extra hops.
   */
  #tryRecvSync(): Message | null {
    if (this.#error || this.#draining || this.#reading || this.#state === "closed") return null;
    if (this.#stashedError !== null || this.#stashedClose !== null) return null;
    return this.#pollBuffered(false);
  }

  async #recvSlow(): Promise<Message | null> {
    if (this.#error) throw this.#poisoned();
    if (this.#draining) {
      await this.#draining;
      if (this.#error) throw this.#poisoned();
      return null;
    }
    if (this.#reading) {
      throw new TypeError(
        "recv() is already waiting: read the connection from one place at a time",
      );
    }
    if (this.#state === "closed") return null;
    this.#reading = true;
    try {
      return await this.#readMessage(false);
    } finally {
      this.#reading = false;
    }
  }

  /**
   * Processes buffered frames without I/O: answers pings, settles pongs, and
   * returns the first data message. Returns null when the buffer holds no
   * complete data message; a close frame or a protocol error met on the way is
   * stashed for the asynchronous path to handle.
   */
  #pollBuffered(discard: boolean): Message | null {
    for (;;) {
      let msg: Message | null;
      const frames = this.#framesObj;
      if (frames === null) return null; // nothing received yet
      try {
        msg = frames.next();
      } catch (e) {
        this.#stashedError = e;
        return null;
      }
      if (msg === null) return null;
      switch (msg.type) {
        case "text":
        case "binary":
          if (discard) continue;
          return msg;
        case "ping":
          if (!this.#cfg.autoPong) {
            if (discard) continue;
            return msg;
          }
          if (!this.#closeSent) this.#enqueueControl("pong", msg.data);
          continue;
        case "pong":
          this.#onPong(msg.data);
          continue;
        case "close":
          this.#stashedClose = { code: msg.code, reason: msg.reason };
          return null;
      }
    }
  }

  /** Reads until a data message (returned) or the close (null). With `discard`, data is dropped. */
  async #readMessage(discard: boolean): Promise<Message | null> {
    for (;;) {
      const msg = this.#pollBuffered(discard);
      if (msg !== null) return msg;
      if (this.#stashedError !== null) {
        const e = this.#stashedError;
        this.#stashedError = null;
        throw await this.#fail(e);
      }
      if (this.#stashedClose !== null) {
        const { code, reason } = this.#stashedClose;
        this.#stashedClose = null;
        await this.#onPeerClose(code, reason);
        return null;
      }
      if (this.#state === "closed") {
        if (this.#error) throw this.#poisoned();
        return null;
      }
      // After the peer's close frame nothing more is read here: a client's
      // #awaitEof owns the socket's reads until the server ends TCP.
      if (this.#closeReceived !== null) return null;
      // Pull-based transports read straight into the codec's buffer (no copy);
      // push-based ones hand over fresh chunks that the codec parses in place.
      let got: Uint8Array | number | null;
      try {
        const io = this.#io;
        const read: Promise<Uint8Array | number | null> = io.readInto !== undefined
          ? io.readInto(this.#frames.spare())
          : io.read();
        got = this.#cfg.readTimeout > 0
          ? await withTimeout(
            read,
            this.#cfg.readTimeout,
            "READ_TIMEOUT",
            `no data from the peer for ${this.#cfg.readTimeout} ms (readTimeout)`,
          )
          : await read;
      } catch (e) {
        throw await this.#fail(e);
      }
      if (got === null) {
        if (this.#error) throw this.#poisoned();
        if (this.#closeReceived || (this.#state as State) === "closed") return null;
        throw await this.#fail(
          new ConnectionClosed(
            "WS_ABNORMAL_CLOSURE",
            "the peer closed the connection without a close frame (1006)",
            { retryable: true },
          ),
        );
      }
      const count = typeof got === "number" ? got : got.length;
      this.#bytesIn += count;
      this.#cfg.onBytes?.(count);
      try {
        if (typeof got === "number") this.#frames.filled(got);
        else this.#frames.push(got);
      } catch (e) {
        throw await this.#fail(e);
      }
    }
  }

  /** Iterates data messages until the connection closes; each is valid until the next step. */
  [Symbol.asyncIterator](): AsyncIterator<Message, undefined> {
    // A plain iterator over recv(): an async generator would add several
    // promise hops to every message.
    return {
      next: () => {
        const ready = this.#tryRecvSync();
        if (ready !== null) return Promise.resolve({ done: false, value: ready });
        return this.#recvWait(true) as Promise<IteratorResult<Message, undefined>>;
      },
      return: (): Promise<IteratorResult<Message, undefined>> =>
        Promise.resolve({ done: true, value: undefined }),
    };
  }

  /** Data messages as a stream, pulled from the socket only when read; messages are copies. */
  get readable(): ReadableStream<Message> {
    this.#readable ??= new ReadableStream<Message>({
      pull: async (controller) => {
        const msg = await this.recv();
        if (msg === null) controller.close();
        else controller.enqueue(retainMessage(msg));
      },
      cancel: async () => {
        await this.close(1000);
      },
    }, { highWaterMark: 0 });
    return this.#readable;
  }

  // ---------------------------------------------------------------- send

  /**
   * Sends a text message. Frames sent in the same turn of the event loop leave
   * in one socket write.
   *
   * @param text The message.
   * @returns Resolves when the frame is handed to the socket.
   * @throws {ConnectionPoisoned} (as a rejection) After a failure; {@link ConnectionClosed} once closing.
   */
  sendText(text: string): Promise<void> {
    const refused = this.#refusal();
    if (refused !== null) return refused;
    const batch = this.#out().batch();
    const before = batch.length;
    if (this.#cfg.maxFrame === Infinity) this.#encoder.appendText(batch, text);
    else batch.write(this.#encoder.text(text));
    return this.#out().added(batch.length - before);
  }

  /**
   * Sends a binary message. A large payload from a server is written as it is:
   * don't modify it until the returned promise resolves.
   *
   * @param data The message payload.
   * @returns Resolves when the frame is handed to the socket.
   * @throws {ConnectionPoisoned} (as a rejection) After a failure; {@link ConnectionClosed} once closing.
   */
  sendBinary(data: Uint8Array): Promise<void> {
    const refused = this.#refusal();
    if (refused !== null) return refused;
    if (this.#server && data.length >= VECTOR_THRESHOLD && this.#cfg.maxFrame === Infinity) {
      return this.#out().vectored(this.#encoder.header("binary", data.length), data);
    }
    const batch = this.#out().batch();
    const before = batch.length;
    if (this.#cfg.maxFrame === Infinity) this.#encoder.appendFrame(batch, "binary", data);
    else batch.write(this.#encoder.binary(data));
    return this.#out().added(batch.length - before);
  }

  /**
   * Sends a ping and resolves with the round-trip time (ms) when the matching
   * pong arrives. The pong is only seen while the connection is being read;
   * after `pingTimeoutMs` (30 s by default) without it the ping rejects.
   *
   * @param data Up to 125 bytes; by default a unique 8-byte id.
   * @returns The round-trip time in milliseconds.
   * @throws {RangeError} (as a rejection) When `data` is longer than 125 bytes; like `sendText` once closing or failed.
   * @throws {TimeoutError} (as a rejection, code `WS_PING_TIMEOUT`) When no pong came within `pingTimeoutMs`.
   */
  ping(data?: Uint8Array): Promise<number> {
    const refused = this.#refusal() ?? controlTooLong("ping", data);
    if (refused !== null) return refused;
    let payload = data;
    if (payload === undefined) {
      payload = new Uint8Array(8);
      const seq = ++this.#pingSeq;
      new DataView(payload.buffer).setUint32(4, seq);
      new DataView(payload.buffer).setUint32(0, Math.floor(seq / 0x100000000));
    } else payload = payload.slice();
    this.#enqueueControl("ping", payload);
    const done = deferred<number>();
    const pending: PendingPing = { data: payload, sentAt: performance.now(), done, timer: undefined };
    const limit = this.#cfg.pingTimeoutMs;
    if (limit > 0 && limit !== Infinity) {
      pending.timer = setTimeout(() => this.#pingTimedOut(pending), Math.min(limit, MAX_TIMER_MS));
    }
    (this.#pings ??= []).push(pending);
    return done.promise;
  }

  /** `pending` got no pong within pingTimeoutMs: it alone fails, the connection stays. */
  #pingTimedOut(pending: PendingPing): void {
    const pings = this.#pings;
    const i = pings === null ? -1 : pings.indexOf(pending);
    if (i < 0) return;
    pings!.splice(i, 1);
    const limit = this.#cfg.pingTimeoutMs;
    const unread = !this.#reading && this.#listener === null && this.#waiter === null;
    pending.done.reject(
      new TimeoutError(
        "WS_PING_TIMEOUT",
        unread
          ? `no pong within ${limit} ms (pingTimeoutMs), and nothing is reading the connection: ` +
            "pongs are only seen while it is read, so read it (recv(), for await, messages) while you ping"
          : `no pong within ${limit} ms (pingTimeoutMs): the peer or the network may be gone`,
      ),
    );
  }

  /**
   * Sends an unsolicited pong: a one-way heartbeat (RFC 6455 §5.5.3).
   *
   * @param data Up to 125 bytes. @default empty
   * @returns Resolves when the frame is handed to the socket.
   * @throws {RangeError} (as a rejection) When `data` is longer than 125 bytes; like `sendText` once closing or failed.
   */
  pong(data: Uint8Array = new Uint8Array(0)): Promise<void> {
    const refused = this.#refusal() ?? controlTooLong("pong", data);
    if (refused !== null) return refused;
    return this.#enqueueControl("pong", data);
  }

  /** Send side as a stream: strings as text, bytes as binary, backpressure in bytes. */
  get writable(): WritableStream<string | Uint8Array> {
    this.#writable ??= new WritableStream<string | Uint8Array>({
      write: (chunk) => {
        const refused = this.#refusal();
        if (refused !== null) return refused;
        this.#out().viaStream = true;
        let sent: Promise<void>;
        try {
          sent = typeof chunk === "string" ? this.sendText(chunk) : this.sendBinary(chunk);
        } finally {
          this.#out().viaStream = false;
        }
        // Resolve at once while under the high-water mark so writes in one turn batch together.
        if (this.#out().buffered > this.#cfg.highWater) return sent;
      },
      close: async () => {
        await this.close(1000);
      },
      abort: async () => {
        await this.close(1001);
      },
    });
    return this.#writable;
  }

  /**
   * The send methods' only check: null while sending is possible, else a
   * rejected promise (promise-returning methods reject rather than throw, so
   * `ws.sendText(x).catch(…)` and `await` see the same failure).
   */
  /**
   * Queues a complete frame shared with other connections (a published
   * message, encoded once), after everything sent so far: no copy and no
   * promise per connection. Used by the server's topics.
   *
   * @param frame Unmasked frame bytes nobody modifies any more.
   * @param maxBufferedBytes Refuse when more than this would wait unsent.
   * @returns "sent"; "full" (nothing queued) when over the bound; "closed" once closing.
   */
  sendShared(frame: Uint8Array, maxBufferedBytes: number): "sent" | "full" | "closed" {
    if (!this.#server) throw new TypeError("shared frames are server frames: this is a client");
    if (this.#error !== null || this.#closeSent || this.#state !== "open") return "closed";
    if ((this.#outbox?.buffered ?? 0) + frame.length > maxBufferedBytes) return "full";
    this.#out().shared(frame);
    return "sent";
  }

  /** Called once when the connection has closed: subclasses let go of what they hold. */
  protected released(_info: CloseInfo): void {}

  #refusal(): Promise<never> | null {
    if (this.#error === null && !this.#closeSent && this.#state === "open") return null;
    if (this.#error !== null) return rejected(this.#poisoned());
    return rejected(
      new ConnectionClosed(
        "WS_CLOSED",
        "the WebSocket is closing or closed: nothing more can be sent",
        { retryable: false },
      ),
    );
  }

  #enqueueControl(kind: "ping" | "pong", data: Uint8Array): Promise<void> {
    const batch = this.#out().batch();
    const before = batch.length;
    this.#encoder.appendFrame(batch, kind, data);
    return this.#out().added(batch.length - before);
  }

  // ---------------------------------------------------------------- close

  /**
   * Starts (or joins) the close handshake: sends a close frame, waits up to
   * `closeTimeout` for the peer's, then ends the socket (RFC 6455 §7.1.2).
   *
   * @param code A code valid on the wire. @default 1000
   * @param reason At most 123 UTF-8 bytes. @default ""
   * @returns How the connection closed.
   * @throws {RangeError} On an invalid code or a reason too long.
   */
  async close(code = 1000, reason = ""): Promise<CloseInfo> {
    if (!isValidCloseCode(code)) {
      throw new RangeError(`close code must be 1000-1003, 1007-1014 or 3000-4999: got ${code}`);
    }
    if (textEncoder.encode(reason).length > 123) {
      throw new RangeError("close reason must be at most 123 UTF-8 bytes");
    }
    if (this.#state !== "open" || this.#closeSent || this.#error) return this.closed;
    this.#state = "closing";
    this.#closeInitiator = "local";
    this.#sendClose(code, reason);
    if (!this.#reading) {
      // Nobody is reading: read (and drop data) until the peer's close frame.
      this.#draining = this.#drain();
    }
    // 0 and Infinity mean no limit, as in every other timeout option (a bare
    // setTimeout(fn, Infinity) fires at once); longer ones are clamped.
    const limit = this.#cfg.closeTimeout;
    const timer = limit > 0 && limit !== Infinity
      ? setTimeout(() => {
        this.#finish({
          code: 1006,
          reason: "",
          wasClean: false,
          initiatedBy: "local",
          error: new TimeoutError(
            "WS_CLOSE_TIMEOUT",
            `the peer did not complete the close handshake within ${this.#cfg.closeTimeout} ms`,
          ),
        });
      }, Math.min(limit, MAX_TIMER_MS))
      : undefined;
    try {
      return await this.closed;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  async #drain(): Promise<void> {
    try {
      while ((await this.#readMessage(true)) !== null) { /* dropping data while closing */ }
    } catch { /* the failure is recorded in #error and closed */ }
  }

  #sendClose(code: number | undefined, reason: string): void {
    this.#closeSent = true;
    const frame = code === undefined ? this.#encoder.close() : this.#encoder.close(code, reason);
    this.#out().batch().write(frame);
    void this.#out().added(frame.length);
  }

  async #onPeerClose(code: number, reason: string): Promise<void> {
    this.#closeReceived = { code, reason };
    if (!this.#closeSent) {
      this.#closeInitiator = "remote";
      this.#state = "closing";
      // Echo the status code (RFC 6455 §5.5.1); an empty close is answered empty.
      this.#sendClose(code === 1005 ? undefined : code, "");
    }
    const info: CloseInfo = { code, reason, wasClean: true, initiatedBy: this.#closeInitiator };
    try {
      await withTimeout(
        this.#out().drain(),
        this.#cfg.closeTimeout,
        "WS_CLOSE_TIMEOUT",
        "close frame could not be written in time",
      );
    } catch { /* the socket is going away either way */ }
    if (this.#server) {
      // The server ends TCP first (RFC 6455 §7.1.1).
      this.#finish(info);
    } else {
      // The client waits for the server to end TCP, then ends it itself.
      void this.#awaitEof(info);
    }
  }

  /**
   * Reads and discards until the peer ends TCP (bounded by `limitMs` and
   * LINGER_BYTES), then finishes. Reading matters: closing a socket with
   * unread bytes makes the kernel send RST and drop our queued close frame.
   */
  async #awaitEof(info: CloseInfo, limitMs = this.#cfg.closeTimeout, quietMs = 0): Promise<void> {
    let discarded = 0;
    const drain = async () => {
      for (;;) {
        const read = this.#io.read();
        // With quietMs, stop once the peer has said nothing for that long.
        const chunk = quietMs > 0
          ? await Promise.race([read, new Promise<null>((r) => setTimeout(() => r(null), quietMs))])
          : await read;
        if (chunk === null) return;
        discarded += chunk.length;
        if (discarded > LINGER_BYTES) return;
      }
    };
    try {
      await withTimeout(drain(), limitMs, "WS_CLOSE_TIMEOUT", "the peer did not close TCP");
    } catch { /* close it ourselves */ }
    this.#finish(info);
  }

  /**
   * Fails the connection (RFC 6455 §7.1.7): records the first error, sends a
   * close frame for protocol errors, and ends the socket. Returns the error
   * the current caller should see.
   */
  async #fail(e: unknown): Promise<Error> {
    if (this.#error) return this.#poisoned();
    const error = e instanceof Error
      ? e
      : new SluiceError("WS_IO_ERROR", String(e), { cause: e, retryable: true });
    this.#error = error;
    let code = 1006;
    if (error instanceof ProtocolError) {
      code = error.closeCode;
      if (!this.#closeSent) {
        try {
          this.#sendClose(code, error.message.length <= 100 ? error.message : "");
        } catch {
          // e.g. message bytes over 123: send the code alone.
          this.#sendClose(code, "");
        }
        try {
          await withTimeout(this.#out().drain(), 1000, "WS_CLOSE_TIMEOUT", "close frame write");
        } catch { /* ending anyway */ }
      }
    } else if (error instanceof TimeoutError && !this.#closeSent) {
      this.#closeSent = true;
    }
    const info: CloseInfo = {
      code,
      reason: "",
      wasClean: false,
      initiatedBy: this.#closeInitiator === "none" && code !== 1006
        ? "local"
        : this.#closeInitiator,
      error,
    };
    if (error instanceof ProtocolError) {
      // Every call fails at once, but the socket lingers: a failing client lets
      // the server end TCP first (RFC 6455 §7.1.1, §7.1.7), bounded by
      // closeTimeout; a failing server drains the peer's answer for a short
      // while so its close frame is not lost to an RST.
      this.#rejectPings(error);
      const limit = this.#cfg.closeTimeout > 0 && this.#cfg.closeTimeout < SERVER_LINGER_MS
        ? this.#cfg.closeTimeout
        : SERVER_LINGER_MS;
      if (this.#server) void this.#awaitEof(info, limit, SERVER_LINGER_QUIET_MS);
      else void this.#awaitEof(info, this.#cfg.closeTimeout);
    } else this.#finish(info);
    return error;
  }

  #poisoned(): Error {
    const cause = this.#error!;
    return new ConnectionPoisoned(
      "CONNECTION_POISONED",
      `the WebSocket failed earlier: ${cause.message}`,
      { cause, retryable: cause instanceof SluiceError ? cause.retryable : false },
    );
  }

  /** Ends everything once: resolves `closed`, ends the socket, settles every waiter. */
  #finish(info: CloseInfo): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    const reason = info.error ??
      new ConnectionClosed("WS_CLOSED", `the WebSocket closed (${info.code})`, { retryable: true });
    this.#rejectPings(reason);
    this.#outbox?.abandon(reason);
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#closedInfo = info;
    this.released(info);
    this.#resolveClosed?.(info);
  }

  #rejectPings(reason: Error): void {
    const pings = this.#pings;
    if (pings === null) return;
    this.#pings = null;
    for (const p of pings) {
      clearTimeout(p.timer);
      p.done.reject(reason);
    }
  }

  #onPong(data: Uint8Array): void {
    const pings = this.#pings;
    if (pings === null) return; // unsolicited pong: a heartbeat, nothing to settle
    const i = pings.findIndex((p) =>
      p.data.length === data.length && p.data.every((b, j) => b === data[j])
    );
    if (i < 0) return; // unsolicited pong: a heartbeat, nothing to settle
    const now = performance.now();
    const answered = pings.splice(0, i + 1);
    this.#lastRtt = now - answered[i]!.sentAt;
    // A pong answers its ping and, implicitly, every earlier one (RFC 6455 §5.5.3).
    for (const p of answered) {
      clearTimeout(p.timer);
      p.done.resolve(now - p.sentAt);
    }
  }
}
