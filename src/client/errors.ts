/**
 * Errors of the resilient client: a full send queue, a refused send while
 * disconnected, an application handshake that failed, a client that shut down
 * or gave up, a subscriber that fell behind.
 *
 * Each class extends {@link SluiceError} and adds its own brand under the
 * same `Symbol.for` keys the core uses, so `instanceof` keeps working across
 * two loaded copies of the library.
 *
 * @module
 */
import { SluiceError, type SluiceErrorOptions } from "../core/errors.ts";

const BRAND = Symbol.for("@sluice/net.error");
const KIND = Symbol.for("@sluice/net.error.kind");
type Branded = { [BRAND]?: true; [KIND]?: string[] };

// The core keeps its class-to-kind table private, so subclasses declared here
// append their kind to the instance's list themselves and check it in
// `Symbol.hasInstance`: the same cross-copy test the core classes use.
function addKind(error: SluiceError, kind: string): void {
  const branded = error as Branded;
  const kinds = branded[KIND] ?? [];
  if (!kinds.includes(kind)) branded[KIND] = [kind, ...kinds];
  error.name = kind;
}

function hasKind(value: unknown, kind: string): boolean {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Branded;
  return v[BRAND] === true && (v[KIND]?.includes(kind) ?? false);
}

/** Stable codes of the errors in this module. */
export const ClientErrorCode = {
  /** The send queue has no room for the message (messages or bytes). */
  QueueFull: "CLIENT_QUEUE_FULL",
  /** A send while disconnected under the `reject` policy. */
  NotConnected: "CLIENT_NOT_CONNECTED",
  /** The client was shut down; queued sends were rejected. */
  Closed: "CLIENT_CLOSED",
  /** The retry strategy gave up; queued sends were rejected. */
  GaveUp: "CLIENT_GAVE_UP",
  /** A connection attempt failed in a way retrying cannot fix; queued sends were rejected. */
  NotRetryable: "CLIENT_NOT_RETRYABLE",
  /** A handshaker did not finish within its timeout. */
  HandshakeTimeout: "CLIENT_HANDSHAKE_TIMEOUT",
  /** The server answered a handshaker with a refusal. */
  HandshakeRejected: "CLIENT_HANDSHAKE_REJECTED",
  /** The connection ended while a handshaker ran. */
  HandshakeClosed: "CLIENT_HANDSHAKE_CLOSED",
  /** A handshaker threw. */
  HandshakeFailed: "CLIENT_HANDSHAKE_FAILED",
  /** A send did not reach the socket within its timeout. */
  SendTimeout: "CLIENT_SEND_TIMEOUT",
  /** A `messages()`/`events()` subscriber fell further behind than its buffer. */
  SubscriberOverflow: "CLIENT_SUBSCRIBER_OVERFLOW",
  /** No pong and no data arrived within `pongTimeoutMs` of a ping: the peer is presumed dead. */
  PongTimeout: "CLIENT_PONG_TIMEOUT",
  /** No data message arrived within `receiveTimeoutMs`: the feed went silent. */
  ReceiveTimeout: "CLIENT_RECEIVE_TIMEOUT",
  /** The server ended the connection (with or without a close frame). */
  Disconnected: "CLIENT_DISCONNECTED",
} as const;

/** What the send queue held when a message did not fit. */
export interface QueueFullDetails {
  /** Messages queued (including those being written). */
  readonly queuedMessages: number;
  /** Bytes queued (including those being written). */
  readonly queuedBytes: number;
  /** The queue's message capacity. */
  readonly maxMessages: number;
  /** The queue's byte capacity. */
  readonly maxBytes: number;
}

/**
 * The send queue is full: `trySend` refuses at once instead of waiting.
 * Retryable: room frees up as queued messages are written.
 *
 * @example Fall back to waiting
 * ```ts
 * import { QueueFull, SendQueue } from "@sluice/net";
 * const queue = new SendQueue({ maxMessages: 1 });
 * queue.trySend("a");
 * try {
 *   queue.trySend("b");
 * } catch (e) {
 *   if (e instanceof QueueFull) console.log(e.queuedMessages); // 1
 * }
 * queue.close(new Error("done"));
 * ```
 */
export class QueueFull extends SluiceError implements QueueFullDetails {
  /** Messages queued when the send was refused. */
  readonly queuedMessages: number;
  /** Bytes queued when the send was refused. */
  readonly queuedBytes: number;
  /** The queue's message capacity. */
  readonly maxMessages: number;
  /** The queue's byte capacity. */
  readonly maxBytes: number;

  /**
   * Creates the error from the queue's fill level.
   *
   * @param details What the queue held and its capacity.
   */
  constructor(details: QueueFullDetails) {
    super(
      ClientErrorCode.QueueFull,
      `send queue full: ${details.queuedMessages}/${details.maxMessages} messages, ` +
        `${details.queuedBytes}/${details.maxBytes} bytes`,
      { retryable: true },
    );
    this.queuedMessages = details.queuedMessages;
    this.queuedBytes = details.queuedBytes;
    this.maxMessages = details.maxMessages;
    this.maxBytes = details.maxBytes;
    addKind(this, "QueueFull");
  }

  /** Cross-copy `instanceof`. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasKind(value, "QueueFull");
  }
}

/**
 * The client is not connected and its send policy is `reject`. Retryable once
 * the client is connected again.
 *
 * @example
 * ```ts
 * import { NotConnected } from "@sluice/net";
 * const err = new NotConnected("not connected (status reconnecting)");
 * console.log(err.code, err.retryable); // "CLIENT_NOT_CONNECTED" true
 * ```
 */
export class NotConnected extends SluiceError {
  /**
   * Creates the error.
   *
   * @param message What the client was doing instead of being connected.
   */
  constructor(message: string) {
    super(ClientErrorCode.NotConnected, message, { retryable: true });
    addKind(this, "NotConnected");
  }

  /** Cross-copy `instanceof`. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasKind(value, "NotConnected");
  }
}

/**
 * The client shut down (`CLIENT_CLOSED`), its retry strategy gave up
 * (`CLIENT_GAVE_UP`, with the last connection error as `cause`), or an
 * attempt failed in a way retrying cannot fix (`CLIENT_NOT_RETRYABLE`, with
 * that failure as `cause`). Every send
 * still queued is rejected with it, and every later send fails with it.
 *
 * @example
 * ```ts
 * import { ClientClosed } from "@sluice/net";
 * const err = new ClientClosed("CLIENT_GAVE_UP", "gave up after 5 attempts", { cause: new Error("refused") });
 * console.log(err.code); // "CLIENT_GAVE_UP"
 * ```
 */
export class ClientClosed extends SluiceError {
  /**
   * Creates the error.
   *
   * @param code `"CLIENT_CLOSED"`, `"CLIENT_GAVE_UP"` or `"CLIENT_NOT_RETRYABLE"`.
   * @param message Why the client stopped.
   * @param options The last connection error as `cause`, when giving up.
   */
  constructor(
    code:
      | typeof ClientErrorCode.Closed
      | typeof ClientErrorCode.GaveUp
      | typeof ClientErrorCode.NotRetryable,
    message: string,
    options: SluiceErrorOptions = {},
  ) {
    super(code, message, { cause: options.cause, retryable: false });
    addKind(this, "ClientClosed");
  }

  /** Cross-copy `instanceof`. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasKind(value, "ClientClosed");
  }
}

/**
 * An application handshake (authentication, subscription…) failed after the
 * WebSocket was open. The attempt counts as a failed connection attempt; the
 * client waits at least `retryDelayMs` before the next one.
 *
 * @example
 * ```ts
 * import { HandshakerError } from "@sluice/net";
 * const err = new HandshakerError("CLIENT_HANDSHAKE_REJECTED", "auth refused", { handshaker: "auth" });
 * console.log(err.handshaker, err.retryable); // "auth" true
 * ```
 */
export class HandshakerError extends SluiceError {
  /** The name of the handshaker that failed. */
  readonly handshaker: string;
  /** The least delay before the next connection attempt, in ms. */
  readonly retryDelayMs: number;

  /**
   * Creates the error.
   *
   * @param code One of the `CLIENT_HANDSHAKE_*` codes.
   * @param message What went wrong.
   * @param details The handshaker's name, its retry delay, and the cause.
   */
  constructor(
    code: string,
    message: string,
    details: { handshaker: string; retryDelayMs?: number; cause?: unknown },
  ) {
    super(code, message, { cause: details.cause, retryable: true });
    this.handshaker = details.handshaker;
    this.retryDelayMs = details.retryDelayMs ?? 0;
    addKind(this, "HandshakerError");
  }

  /** Cross-copy `instanceof`. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasKind(value, "HandshakerError");
  }
}

/**
 * A subscriber of a broadcast stream fell more than its buffer behind; under
 * the `error` overflow policy its stream errors with this, and the other
 * subscribers go on.
 *
 * @example
 * ```ts
 * import { SubscriberOverflow } from "@sluice/net";
 * const err = new SubscriberOverflow(256);
 * console.log(err.bufferSize); // 256
 * ```
 */
export class SubscriberOverflow extends SluiceError {
  /** The subscriber's buffer size that was exceeded. */
  readonly bufferSize: number;

  /**
   * Creates the error.
   *
   * @param bufferSize The buffer size that was exceeded.
   */
  constructor(bufferSize: number) {
    super(
      ClientErrorCode.SubscriberOverflow,
      `subscriber fell behind by more than its buffer of ${bufferSize} items; read faster or ` +
        `raise bufferSize`,
    );
    this.bufferSize = bufferSize;
    addKind(this, "SubscriberOverflow");
  }

  /** Cross-copy `instanceof`. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasKind(value, "SubscriberOverflow");
  }
}
