/**
 * Options of the resilient {@link WebSocketClient}: what to connect with, how
 * to retry, the heartbeat, the send queue, handshakers and extensions —
 * validated once and frozen — plus two presets, {@link fastReconnect} and
 * {@link stableConnection}.
 *
 * @module
 */
import type { ConnectWebSocketOptions } from "../ws/client.ts";
import { type Clock, systemClock } from "../common/clock.ts";
import type { Extension } from "./extensions.ts";
import type { Handshaker } from "./handshake.ts";
import {
  BackoffPresets,
  exponentialBackoff,
  isRetryable,
  type RetryFunction,
  type RetryStrategy,
  toRetryStrategy,
} from "../common/retry.ts";

/**
 * The per-connection WebSocket options the client passes to `connectWebSocket`
 * on every attempt. `signal` belongs to the client (its shutdown) and pings
 * are always answered, so neither can be set here.
 *
 * @example A subprotocol, a header and short timeouts on every connection
 * ```ts
 * import type { ClientConnectOptions } from "@sluice/net";
 * const connect: ClientConnectOptions = {
 *   protocols: ["feed.v1"],
 *   headers: { "X-Client": "desk-7" },
 *   connectTimeout: 2_000,
 *   handshakeTimeout: 2_000,
 *   closeTimeout: 1_000,
 * };
 * ```
 */
export type ClientConnectOptions = Omit<ConnectWebSocketOptions, "signal" | "autoPong">;

/**
 * Options of `WebSocketClient`. Every field is optional; numbers are in
 * milliseconds where the name says `Ms`. Validated once by the constructor.
 *
 * @example A market-data consumer
 * ```ts
 * import { authHandshake, exponentialBackoff, subscribeHandshake, type WebSocketClientOptions } from "@sluice/net";
 * const options: WebSocketClientOptions = {
 *   handshakers: [authHandshake("token"), subscribeHandshake(["trades.BTC"], { waitConfirmation: true })],
 *   retry: exponentialBackoff({ initialMs: 250, maxMs: 10_000, jitter: "full" }),
 *   pingIntervalMs: 5_000,
 *   pongTimeoutMs: 3_000,
 *   receiveTimeoutMs: 30_000,
 *   sendQueueCapacity: 256,
 * };
 * ```
 */
export interface WebSocketClientOptions {
  /** WebSocket options for every connection: subprotocols, headers, TLS, timeouts, limits. @default {} */
  connect?: ClientConnectOptions;
  /**
   * Application handshakes run in order on every new connection before queued
   * sends flow and `connected` is emitted (authenticate, then subscribe).
   * @default []
   */
  handshakers?: readonly Handshaker[];
  /** When to retry and how long to wait: a strategy object or a function. @default exponentialBackoff(BackoffPresets.standard) */
  retry?: RetryStrategy | RetryFunction;
  /** A connection up at least this long makes the next drop start from attempt 1 again, in ms. @default 5000 */
  resetAfterMs?: number;
  /**
   * Whether a failed connection attempt may be retried at all, asked before
   * the retry strategy. When it says no, `run()` rejects with that error, the
   * `error` event says `willRetry: false`, and queued sends are rejected. The
   * default refuses what the error itself marks `retryable: false` (a 4xx
   * refusal of the upgrade, an untrusted certificate): retrying cannot help.
   * Pass `() => true` to leave every decision to the strategy. Drops of an
   * established connection are always handed to the strategy.
   * @default isRetryable
   */
  retryable?: (error: unknown) => boolean;
  /**
   * Reject `run()` on the first failure — a failed attempt or a connection
   * the client did not close itself — instead of retrying.
   * @default false
   */
  exitOnFirstFailure?: boolean;
  /** Send a ping this often while connected, in ms (0: never; no RTT, no dead-peer detection, no send confirmation). @default 15000 */
  pingIntervalMs?: number;
  /** Declare the peer dead when neither a pong nor data arrived within this long of an unanswered ping, in ms. @default 10000 */
  pongTimeoutMs?: number;
  /** Reconnect when no data message arrived for this long, in ms (0: never), for feeds that should never be quiet. @default 0 */
  receiveTimeoutMs?: number;
  /** Most messages the send queue holds (queued plus being written). @default 1024 */
  sendQueueCapacity?: number;
  /** Most payload bytes the send queue holds. @default 1048576 */
  sendQueueMaxBytes?: number;
  /** While not connected, sends wait in the queue (`buffer`) or fail at once with `NotConnected` (`reject`). @default "buffer" */
  whileDisconnected?: "buffer" | "reject";
  /** Lifecycle hooks and per-connection incoming transforms, applied in order. @default [] */
  extensions?: readonly Extension[];
  /**
   * Most received messages held for `readable` while the application does not
   * read. Past it the client stops reading the socket (backpressure reaches
   * the server through TCP) and suspends its dead-peer and silence checks;
   * nothing is dropped. Also bounds the messages handshakes pass on.
   * @default 1024
   */
  maxBufferedMessages?: number;
  /** The clock for backoff, heartbeat, handshake and send timeouts. @default systemClock */
  clock?: Clock;
}

/** Options after defaults and validation. */
export interface ResolvedClientOptions {
  readonly connect: ClientConnectOptions;
  readonly handshakers: readonly Handshaker[];
  readonly retry: RetryStrategy;
  readonly resetAfterMs: number;
  readonly exitOnFirstFailure: boolean;
  readonly retryable: (error: unknown) => boolean;
  readonly pingIntervalMs: number;
  readonly pongTimeoutMs: number;
  readonly receiveTimeoutMs: number;
  readonly sendQueueCapacity: number;
  readonly sendQueueMaxBytes: number;
  readonly whileDisconnected: "buffer" | "reject";
  readonly extensions: readonly Extension[];
  readonly maxBufferedMessages: number;
  readonly clock: Clock;
}

function ms(name: string, value: number | undefined, fallback: number, allowZero: boolean): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new RangeError(
      `${name} must be a finite number ${allowZero ? ">= 0" : "> 0"} of milliseconds: got ${value}`,
    );
  }
  return v;
}

function count(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new RangeError(`${name} must be a positive integer: got ${value}`);
  }
  return v;
}

function fn<F>(name: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(`${name} must be a function: got ${String(value)}`);
  }
  return value;
}

/**
 * Applies defaults and checks every option once, naming the bad value.
 *
 * @param options The caller's options.
 * @returns Frozen, complete options.
 * @throws {RangeError} When a number is out of range or a policy unknown.
 * @throws {TypeError} When a handshaker, extension, retry strategy or clock has the wrong shape.
 */
export function resolveClientOptions(options: WebSocketClientOptions = {}): ResolvedClientOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object: got ${String(options)}`);
  }
  const handshakers = [...(options.handshakers ?? [])];
  for (const [i, h] of handshakers.entries()) {
    if (typeof h?.run !== "function" || typeof h.name !== "string") {
      throw new TypeError(`handshakers[${i}] is not a Handshaker: got ${String(h)}`);
    }
  }
  const extensions = [...(options.extensions ?? [])];
  for (const [i, e] of extensions.entries()) {
    if (typeof e !== "object" || e === null || typeof e.name !== "string") {
      throw new TypeError(`extensions[${i}] is not an Extension (needs a name): got ${String(e)}`);
    }
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== "function" || typeof clock.setTimeout !== "function") {
    throw new TypeError("clock must have now(), setTimeout() and clearTimeout()");
  }
  const policy = options.whileDisconnected ?? "buffer";
  if (policy !== "buffer" && policy !== "reject") {
    throw new RangeError(`whileDisconnected must be "buffer" or "reject": got ${policy}`);
  }
  const pingIntervalMs = ms("pingIntervalMs", options.pingIntervalMs, 15_000, true);
  const pongTimeoutMs = ms("pongTimeoutMs", options.pongTimeoutMs, 10_000, false);
  return Object.freeze({
    connect: Object.freeze({ ...options.connect }),
    handshakers: Object.freeze(handshakers),
    retry: toRetryStrategy(options.retry ?? exponentialBackoff(BackoffPresets.standard)),
    resetAfterMs: ms("resetAfterMs", options.resetAfterMs, 5_000, true),
    exitOnFirstFailure: options.exitOnFirstFailure ?? false,
    retryable: fn("retryable", options.retryable) ?? isRetryable,
    pingIntervalMs,
    pongTimeoutMs,
    receiveTimeoutMs: ms("receiveTimeoutMs", options.receiveTimeoutMs, 0, true),
    sendQueueCapacity: count("sendQueueCapacity", options.sendQueueCapacity, 1024),
    sendQueueMaxBytes: count("sendQueueMaxBytes", options.sendQueueMaxBytes, 1_048_576),
    whileDisconnected: policy,
    extensions: Object.freeze(extensions),
    maxBufferedMessages: count("maxBufferedMessages", options.maxBufferedMessages, 1024),
    clock,
  });
}

function merge(
  preset: WebSocketClientOptions,
  overrides: WebSocketClientOptions,
): WebSocketClientOptions {
  return { ...preset, ...overrides, connect: { ...preset.connect, ...overrides.connect } };
}

/**
 * Options for a latency-critical feed on a nearby server: retry within about
 * 100 ms (backoff `fast`: 100 ms ×1.5 up to 5 s, full jitter), notice a dead
 * peer within 3–5 s (ping every 2 s, 3 s pong timeout), reset the attempt
 * count after 1 s up, and give up on a connect or opening handshake after 3 s.
 *
 * @param overrides Options that replace the preset's (`connect` is merged).
 * @returns Fresh options (with its own retry strategy) for `new WebSocketClient`.
 *
 * @example A feed client that comes back fast
 * ```ts
 * import { authHandshake, fastReconnect, WebSocketClient } from "@sluice/net";
 * const client = new WebSocketClient("ws://127.0.0.1:9001/feed", fastReconnect({
 *   handshakers: [authHandshake("token")],
 * }));
 * ```
 */
export function fastReconnect(overrides: WebSocketClientOptions = {}): WebSocketClientOptions {
  return merge({
    retry: exponentialBackoff({ ...BackoffPresets.fast, jitter: "full" }),
    resetAfterMs: 1_000,
    pingIntervalMs: 2_000,
    pongTimeoutMs: 3_000,
    connect: { connectTimeout: 3_000, handshakeTimeout: 3_000 },
  }, overrides);
}

/**
 * Options for a long-lived connection to a shared or rate-limited service:
 * patient retries (backoff `conservative`: 2 s ×2 up to 120 s, full jitter),
 * a ping every 30 s with a 10 s pong timeout, and the attempt count reset
 * only after a minute up, so a flapping server is not hammered.
 *
 * @param overrides Options that replace the preset's (`connect` is merged).
 * @returns Fresh options (with its own retry strategy) for `new WebSocketClient`.
 *
 * @example A patient connection to a shared service
 * ```ts
 * import { stableConnection, WebSocketClient } from "@sluice/net";
 * const client = new WebSocketClient("wss://example.com/stream", stableConnection());
 * ```
 */
export function stableConnection(overrides: WebSocketClientOptions = {}): WebSocketClientOptions {
  return merge({
    retry: exponentialBackoff({ ...BackoffPresets.conservative, jitter: "full" }),
    resetAfterMs: 60_000,
    pingIntervalMs: 30_000,
    pongTimeoutMs: 10_000,
    connect: { connectTimeout: 10_000, handshakeTimeout: 10_000 },
  }, overrides);
}
