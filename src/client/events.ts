/**
 * What the resilient client tells its users about its connection, as a
 * discriminated union on `type`, and the broadcaster that hands every event
 * (or message) to several independent subscribers, each as a bounded
 * `ReadableStream`.
 *
 * @module
 */
import { SubscriberOverflow } from "./errors.ts";

/** An attempt to open a connection begins. */
export interface ConnectingEvent {
  /** Discriminant. */
  readonly type: "connecting";
  /**
   * Number of this attempt in the current streak: 1 for the first try, and
   * for the first try after a connection that stayed up `resetAfterMs`; after
   * a shorter-lived connection the streak (and its backoff) goes on.
   */
  readonly attempt: number;
  /** The URL being connected to. */
  readonly url: string;
  /** When, in ms since the epoch. */
  readonly at: number;
}

/** The connection is open, every handshaker passed, and queued sends flow again. */
export interface ConnectedEvent {
  /** Discriminant. */
  readonly type: "connected";
  /** This connection's id (also in `state()`). */
  readonly id: string;
  /** The attempt that succeeded. */
  readonly attempt: number;
  /** True for every connection after the first. */
  readonly reconnect: boolean;
  /** When, in ms since the epoch. */
  readonly at: number;
}

/** The WebSocket opened but an application handshaker failed; the attempt counts as failed. */
export interface HandshakeFailedEvent {
  /** Discriminant. */
  readonly type: "handshakeFailed";
  /** The id the connection would have had. */
  readonly id: string;
  /** The name of the handshaker that failed. */
  readonly handshaker: string;
  /** The failure (a `HandshakerError`). */
  readonly error: unknown;
  /** The attempt that failed. */
  readonly attempt: number;
  /** When, in ms since the epoch. */
  readonly at: number;
}

/**
 * An established connection ended. `unconfirmedMessages`/`unconfirmedBytes`
 * count what was written on it after the last confirmed point (a pong, or
 * the connect): after an abnormal close those may not have arrived.
 */
export interface DisconnectedEvent {
  /** Discriminant. */
  readonly type: "disconnected";
  /** The id of the connection that ended. */
  readonly id: string;
  /** A short human explanation ("peer closed: 1001 going away", "pong timeout"…). */
  readonly reason: string;
  /** The close code received, or 1006 when the connection dropped without one. */
  readonly code: number;
  /** True when both sides exchanged close frames. */
  readonly wasClean: boolean;
  /** The failure behind an abnormal close, if any. */
  readonly error?: unknown;
  /** Messages written since the last confirmed point. */
  readonly unconfirmedMessages: number;
  /** Bytes written since the last confirmed point. */
  readonly unconfirmedBytes: number;
  /** How long the connection was up, in ms. */
  readonly connectedForMs: number;
  /** When, in ms since the epoch. */
  readonly at: number;
}

/** The next attempt is scheduled. */
export interface ReconnectScheduledEvent {
  /** Discriminant. */
  readonly type: "reconnectScheduled";
  /** The wait before it, in ms. */
  readonly delayMs: number;
  /** The number the next attempt will have. */
  readonly attempt: number;
  /** When, in ms since the epoch. */
  readonly at: number;
}

/** An attempt failed, or a hook or extension threw. */
export interface ClientErrorEvent {
  /** Discriminant. */
  readonly type: "error";
  /** The failure. */
  readonly error: unknown;
  /** The attempt during which it happened. */
  readonly attempt: number;
  /**
   * False when this failure ends the client: it is not retryable (see the
   * `retryable` option) or the strategy gave up; a `closed` event follows.
   * True for a failed attempt that will be retried, and for a hook or
   * extension error, which ends nothing.
   */
  readonly willRetry: boolean;
  /** When, in ms since the epoch. */
  readonly at: number;
}

/** The client stopped for good; nothing follows this event. */
export interface ClosedEvent {
  /** Discriminant. */
  readonly type: "closed";
  /**
   * `shutdown` (asked to stop), `gaveUp` (the retry strategy gave up) or
   * `notRetryable` (a connection attempt failed in a way retrying cannot fix,
   * such as a 404 refusal of the upgrade; see the `retryable` option).
   */
  readonly reason: "shutdown" | "gaveUp" | "notRetryable";
  /** The last connection error when giving up or not retrying. */
  readonly error?: unknown;
  /** Queued sends rejected at shutdown. */
  readonly rejectedMessages: number;
  /** Their bytes. */
  readonly rejectedBytes: number;
  /** When, in ms since the epoch. */
  readonly at: number;
}

/**
 * Everything the client reports about its connection, discriminated on `type`.
 *
 * @example Log reconnects
 * ```ts
 * import type { ConnectionEvent } from "@sluice/net";
 * function log(e: ConnectionEvent): string {
 *   switch (e.type) {
 *     case "connected": return `up as ${e.id}`;
 *     case "disconnected": return `down: ${e.reason}, ${e.unconfirmedMessages} unconfirmed`;
 *     case "reconnectScheduled": return `retry #${e.attempt} in ${e.delayMs} ms`;
 *     default: return e.type;
 *   }
 * }
 * ```
 */
export type ConnectionEvent =
  | ConnectingEvent
  | ConnectedEvent
  | HandshakeFailedEvent
  | DisconnectedEvent
  | ReconnectScheduledEvent
  | ClientErrorEvent
  | ClosedEvent;

/** Options of {@link Broadcaster.subscribe}. */
export interface SubscribeOptions {
  /** Most items held for this subscriber while it does not read. @default 1024 */
  bufferSize?: number;
  /**
   * When the buffer is full: `error` ends this subscriber's stream with a
   * `SubscriberOverflow` (nothing is lost unnoticed); `dropOldest` discards
   * the oldest item and reports it through `onDrop`.
   * @default "error"
   */
  overflow?: "error" | "dropOldest";
  /** Called with the running total of dropped items (under `dropOldest`). */
  onDrop?: (dropped: number) => void;
  /** Ends the subscription (the stream closes) when aborted. */
  signal?: AbortSignal;
}

interface Subscriber<T> {
  buffer: T[];
  head: number;
  size: number;
  overflow: "error" | "dropOldest";
  dropped: number;
  onDrop?: ((dropped: number) => void) | undefined;
  controller: ReadableStreamDefaultController<T>;
  /** Resolves a pending pull. */
  wake: (() => void) | null;
  detach: () => void;
}

/**
 * Hands every published item to every subscriber. Each subscriber is its own
 * `ReadableStream` with its own bounded buffer, so a slow reader never holds
 * back the others, and never makes memory grow without bound.
 *
 * Items are shared, not copied: publish values that stay valid (retain a
 * borrowed WebSocket message first).
 *
 * @example Two independent readers
 * ```ts
 * import { Broadcaster } from "@sluice/net";
 * const hub = new Broadcaster<number>();
 * const a = hub.subscribe().getReader();
 * const b = hub.subscribe().getReader();
 * hub.publish(1);
 * hub.close();
 * console.log((await a.read()).value, (await b.read()).value); // 1 1
 * ```
 */
export class Broadcaster<T> {
  #subscribers = new Set<Subscriber<T>>();
  #ended: { error: unknown } | "closed" | null = null;

  /** How many subscribers are attached. */
  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /**
   * Adds a subscriber that receives every item published from now on.
   *
   * @param options Buffer size, overflow policy and a cancelling signal.
   * @returns A stream of the items; cancel it to unsubscribe.
   * @throws {RangeError} When `bufferSize` is not a positive integer or `overflow` is unknown.
   */
  subscribe(options: SubscribeOptions = {}): ReadableStream<T> {
    const size = options.bufferSize ?? 1024;
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new RangeError(`bufferSize must be a positive integer: got ${options.bufferSize}`);
    }
    const overflow = options.overflow ?? "error";
    if (overflow !== "error" && overflow !== "dropOldest") {
      throw new RangeError(`overflow must be "error" or "dropOldest": got ${overflow}`);
    }
    const signal = options.signal;
    let sub!: Subscriber<T>;
    const stream = new ReadableStream<T>({
      start: (controller) => {
        const onAbort = () => this.#end(sub, "closed");
        sub = {
          buffer: [],
          head: 0,
          size,
          overflow,
          dropped: 0,
          onDrop: options.onDrop,
          controller,
          wake: null,
          detach: () => signal?.removeEventListener("abort", onAbort),
        };
        if (this.#ended || signal?.aborted) {
          this.#end(sub, this.#ended ?? "closed");
          return;
        }
        this.#subscribers.add(sub);
        signal?.addEventListener("abort", onAbort, { once: true });
      },
      pull: () => {
        if (sub.head < sub.buffer.length) {
          sub.controller.enqueue(sub.buffer[sub.head++]);
          if (sub.head === sub.buffer.length) {
            sub.buffer = [];
            sub.head = 0;
          } else if (sub.head >= sub.size) {
            sub.buffer = sub.buffer.slice(sub.head);
            sub.head = 0;
          }
          return;
        }
        if (!this.#subscribers.has(sub)) return;
        return new Promise<void>((resolve) => (sub.wake = resolve));
      },
      cancel: () => {
        this.#subscribers.delete(sub);
        sub.detach();
        sub.wake?.();
      },
    }, { highWaterMark: 0 });
    return stream;
  }

  /**
   * Hands `item` to every subscriber: directly to one waiting for it,
   * otherwise into its buffer (applying its overflow policy when full).
   *
   * @param item The item; shared between subscribers, not copied.
   * @throws {Error} After {@link Broadcaster.close} or {@link Broadcaster.error}.
   */
  publish(item: T): void {
    if (this.#ended) throw new Error("publish() after the broadcaster ended");
    for (const sub of this.#subscribers) {
      if (sub.wake) {
        const wake = sub.wake;
        sub.wake = null;
        sub.controller.enqueue(item);
        wake();
        continue;
      }
      if (sub.buffer.length - sub.head >= sub.size) {
        if (sub.overflow === "error") {
          this.#end(sub, { error: new SubscriberOverflow(sub.size) });
          continue;
        }
        sub.head++;
        sub.dropped++;
        if (sub.head >= sub.size) {
          // Keep the array from growing: drop the dead prefix now and then.
          sub.buffer = sub.buffer.slice(sub.head);
          sub.head = 0;
        }
        try {
          sub.onDrop?.(sub.dropped);
        } catch { /* a reporting callback must not stop delivery to others */ }
      }
      sub.buffer.push(item);
    }
  }

  /** Ends every subscriber's stream once it has read what is buffered; later subscribers get an empty stream. */
  close(): void {
    if (this.#ended) return;
    this.#ended = "closed";
    for (const sub of [...this.#subscribers]) this.#end(sub, "closed");
  }

  /**
   * Errors every subscriber's stream at once (buffered items are discarded).
   *
   * @param error The reason each reader sees.
   */
  error(error: unknown): void {
    if (this.#ended) return;
    this.#ended = { error };
    for (const sub of [...this.#subscribers]) this.#end(sub, this.#ended);
  }

  #end(sub: Subscriber<T>, how: { error: unknown } | "closed"): void {
    this.#subscribers.delete(sub);
    sub.detach();
    try {
      if (how !== "closed") sub.controller.error(how.error);
      else {
        // Buffered items go out first; the stream closes after the last.
        for (; sub.head < sub.buffer.length; sub.head++) {
          sub.controller.enqueue(sub.buffer[sub.head]);
        }
        sub.buffer = [];
        sub.head = 0;
        sub.controller.close();
      }
    } catch { /* already cancelled by its reader */ }
    sub.wake?.();
    sub.wake = null;
  }
}
