/**
 * Topics (pub/sub) for server-side WebSockets: `ws.subscribe(topic)`, and
 * `publish(topic, data)` that encodes a message once and queues the same
 * bytes on every subscriber.
 *
 * @module
 */
import { FrameWriter } from "../core/ws/frame_writer.ts";
import type { AcceptedWebSocket } from "./accept.ts";

/** What happens to a subscriber whose outgoing buffer is full when a message is published. */
export type SlowSubscriberPolicy = "close" | "drop";

/** Told when a publish found a subscriber's outgoing buffer full. */
export interface SlowSubscriberEvent {
  /** The subscriber. */
  readonly ws: AcceptedWebSocket;
  /** The topic of the message it did not take. */
  readonly topic: string;
  /** "closed": it is being closed with 1008 (policy "close"); "dropped": it misses this message (policy "drop"). */
  readonly action: "closed" | "dropped";
  /** Bytes waiting to be sent to it. */
  readonly bufferedBytes: number;
  /** Published messages it missed so far, this one included. */
  readonly droppedMessages: number;
}

/** Options for {@link Topics}, also taken by `serveWebSocket` and `attachWebSocket`. */
export interface TopicsOptions {
  /**
   * Most bytes that may wait unsent for one subscriber before a publish counts
   * it as slow: its outgoing buffer. Memory per slow subscriber stays within it.
   * @default 1048576 (1 MiB)
   */
  maxBufferedBytes?: number | undefined;
  /**
   * What a publish does to a slow subscriber: "close" it with 1008 (policy
   * violation) and the reason "slow subscriber", or "drop" the message for
   * it. Either way it is counted and reported to `onSlowSubscriber`.
   * @default "close"
   */
  slowSubscriber?: SlowSubscriberPolicy | undefined;
  /** Told about every message a slow subscriber did not take (once per subscriber for "close"). @default none */
  onSlowSubscriber?: ((event: SlowSubscriberEvent) => void) | undefined;
}

/** Options for one {@link Topics.publish}. */
export interface PublishOptions {
  /** Leave this socket out: the sender, in a chat. @default none */
  exclude?: AcceptedWebSocket | undefined;
}

/** What one {@link Topics.publish} did. */
export interface PublishResult {
  /** Subscribers that took the message (queued for sending). */
  readonly sent: number;
  /** Subscribers that did not: slow (closed or skipped by the policy) or already closing. */
  readonly dropped: number;
}

/** Counters over the life of a {@link Topics}. */
export interface TopicStats {
  /** Topics with at least one subscriber now. */
  readonly topics: number;
  /** Subscriptions now (a socket in two topics counts twice). */
  readonly subscriptions: number;
  /** Calls to publish. */
  readonly published: number;
  /** Messages queued for subscribers. */
  readonly sent: number;
  /** Messages subscribers did not take. */
  readonly dropped: number;
  /** Subscribers closed for being slow. */
  readonly closedSlow: number;
}

/** A topic member: the server's WebSocket, with what publishing needs of it (internal). */
type TopicMember = AcceptedWebSocket & {
  sendShared(frame: Uint8Array, maxBufferedBytes: number): "sent" | "full" | "closed";
  /** Counts a message this member did not take; returns the new total. */
  countDropped(): number;
};

const encoder = new FrameWriter({ role: "server" });

function asMember(ws: AcceptedWebSocket): TopicMember {
  const m = ws as TopicMember;
  if (typeof m.sendShared !== "function" || typeof m.countDropped !== "function") {
    throw new TypeError("only WebSockets accepted by sluice's server can join topics");
  }
  return m;
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer: got ${value}`);
  }
  return value;
}

/**
 * A set of topics and their subscribers. `serveWebSocket` and
 * `attachWebSocket` each make one (their `publish` is its `publish`); make
 * your own to use topics with `acceptWebSocket`.
 *
 * Topics match exactly. A message is encoded once, into one frame, and the
 * same bytes are queued on every subscriber, after what that socket already
 * sent: order holds per publisher within a topic, and between a socket's own
 * `send*` calls and publishes. Each subscriber's outgoing buffer is bounded
 * by `maxBufferedBytes`; what a slow subscriber misses is counted, reported,
 * and returned by `publish`, never dropped silently.
 *
 * @example Topics with acceptWebSocket
 * ```ts
 * import { acceptWebSocket, listen, Topics } from "@sluice/net";
 * const topics = new Topics({ slowSubscriber: "drop" });
 * const listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * for await (const conn of listener) {
 *   acceptWebSocket(conn, { topics }).then(async (ws) => {
 *     ws.subscribe("news");
 *     for await (const _ of ws) void _; // what clients send is ignored
 *   }).catch(() => {});
 *   topics.publish("news", "a new client arrived");
 * }
 * ```
 */
export class Topics {
  readonly #members = new Map<string, Set<TopicMember>>();
  readonly #maxBuffered: number;
  readonly #policy: SlowSubscriberPolicy;
  readonly #onSlow: ((event: SlowSubscriberEvent) => void) | undefined;
  #subscriptions = 0;
  #published = 0;
  #sent = 0;
  #dropped = 0;
  #closedSlow = 0;

  /**
   * Creates an empty set of topics.
   *
   * @param options The outgoing-buffer bound and the slow-subscriber policy.
   * @throws {RangeError} When `maxBufferedBytes` is not a positive integer or the policy is unknown.
   */
  constructor(options: TopicsOptions = {}) {
    this.#maxBuffered = positiveInt("maxBufferedBytes", options.maxBufferedBytes, 1 << 20);
    const policy = options.slowSubscriber ?? "close";
    if (policy !== "close" && policy !== "drop") {
      throw new RangeError(`slowSubscriber must be "close" or "drop": got ${String(policy)}`);
    }
    this.#policy = policy;
    this.#onSlow = options.onSlowSubscriber;
  }

  /**
   * Adds `ws` to `topic`. Prefer `ws.subscribe(topic)`, which also keeps the
   * socket's own list.
   *
   * @returns False when it was subscribed already.
   */
  add(ws: AcceptedWebSocket, topic: string): boolean {
    const member = asMember(ws);
    let set = this.#members.get(topic);
    if (set === undefined) this.#members.set(topic, set = new Set());
    if (set.has(member)) return false;
    set.add(member);
    this.#subscriptions++;
    return true;
  }

  /**
   * Removes `ws` from `topic`; a topic without subscribers is forgotten.
   *
   * @returns False when it was not subscribed.
   */
  remove(ws: AcceptedWebSocket, topic: string): boolean {
    const set = this.#members.get(topic);
    if (set === undefined || !set.delete(ws as TopicMember)) return false;
    this.#subscriptions--;
    if (set.size === 0) this.#members.delete(topic);
    return true;
  }

  /**
   * How many sockets are subscribed to `topic`.
   *
   * @param topic The topic.
   * @returns The subscriber count (0 for an unknown topic).
   */
  subscriberCount(topic: string): number {
    return this.#members.get(topic)?.size ?? 0;
  }

  /**
   * Sends `data` to every subscriber of `topic`: text for a string, binary
   * for bytes. The frame is encoded once (the bytes are copied once, so
   * `data` may be reused at once) and queued on each subscriber without a
   * copy or a promise of its own; a subscriber whose outgoing buffer is over
   * `maxBufferedBytes` is handled by the slow-subscriber policy.
   *
   * @param topic The topic (exact match).
   * @param data The message.
   * @param options `exclude` leaves one socket out.
   * @returns How many subscribers took it and how many did not.
   *
   * @example Publish to everyone but the sender
   * ```ts
   * import { Topics } from "@sluice/net";
   * const topics = new Topics();
   * const { sent, dropped } = topics.publish("room:1", JSON.stringify({ text: "hi" }));
   * console.log(sent, dropped); // 0 0: nobody subscribed yet
   * ```
   */
  publish(topic: string, data: string | Uint8Array, options?: PublishOptions): PublishResult {
    if (typeof topic !== "string") throw new TypeError(`topic must be a string: got ${typeof topic}`);
    this.#published++;
    const set = this.#members.get(topic);
    if (set === undefined || set.size === 0) return { sent: 0, dropped: 0 };
    let frame: Uint8Array;
    if (typeof data === "string") frame = encoder.text(data);
    else if (data instanceof Uint8Array) frame = encoder.binary(data);
    else throw new TypeError(`data must be a string or a Uint8Array: got ${typeof data}`);
    const exclude = options?.exclude;
    const limit = this.#maxBuffered;
    let sent = 0;
    let dropped = 0;
    for (const ws of set) {
      if (ws === exclude) continue;
      const r = ws.sendShared(frame, limit);
      if (r === "sent") {
        sent++;
        continue;
      }
      dropped++;
      const missed = ws.countDropped();
      if (r === "full") this.#slow(ws, topic, missed);
    }
    this.#sent += sent;
    this.#dropped += dropped;
    return { sent, dropped };
  }

  #slow(ws: TopicMember, topic: string, missed: number): void {
    const action = this.#policy === "close" ? "closed" : "dropped";
    if (action === "closed") {
      this.#closedSlow++;
      ws.close(1008, "slow subscriber: outgoing buffer full").catch(() => {});
    }
    this.#onSlow?.({
      ws,
      topic,
      action,
      bufferedBytes: ws.bufferedAmount,
      droppedMessages: missed,
    });
  }

  /** Counters: topics and subscriptions now, and what was published, sent and dropped. */
  get stats(): TopicStats {
    return {
      topics: this.#members.size,
      subscriptions: this.#subscriptions,
      published: this.#published,
      sent: this.#sent,
      dropped: this.#dropped,
      closedSlow: this.#closedSlow,
    };
  }
}
