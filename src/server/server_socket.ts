/**
 * The server side's WebSocket: the connection plus the request that opened
 * it and its topic subscriptions.
 *
 * @module
 */
import { parseRequestHead } from "../core/http1/head.ts";
import { writeLatin1 } from "../core/http1/latin1.ts";
import { parseUpgradeRequest, type UpgradeRequest } from "../core/ws/handshake.ts";
import type { ChunkIO, Connection, NetAddr } from "../transports/types.ts";
import { WebSocketConnectionImpl, type WebSocketOptions } from "../ws/connection.ts";
import type { CloseInfo } from "../ws/types.ts";
import type { AcceptedWebSocket } from "./accept.ts";
import type { PublishResult, Topics } from "./topics.ts";

/** Told when a server's socket has closed: one object per server, not a closure per socket. */
export interface ClosedHook {
  closed(ws: ServerWebSocket, info: CloseInfo): void;
}

/**
 * The {@link AcceptedWebSocket} implementation, made by `acceptWebSocket`.
 * Its topic list is a small array, made on the first subscribe: sockets
 * usually join one or a few topics.
 */
export class ServerWebSocket extends WebSocketConnectionImpl implements AcceptedWebSocket {
  /** The request, parsed; or null while only its raw head is kept (see `request`). */
  #request: UpgradeRequest | null;
  #rawHead: string | null;
  readonly #topics: Topics | null;
  /** The topics joined: one as a string (the usual case), more as an array. */
  #subscribed: string | string[] | null = null;
  #dropped = 0;
  #onClosed: ClosedHook | null = null;

  /**
   * @param conn The transport connection.
   * @param io Its chunk I/O.
   * @param protocol The selected subprotocol ("" for none).
   * @param leftover Bytes that followed the request head.
   * @param options Limits and timeouts.
   * @param request The upgrade request: parsed, or its raw head as a latin1 string (parsed again on first use).
   * @param topics The server's topics, if any.
   */
  constructor(
    conn: Connection,
    io: ChunkIO,
    protocol: string,
    leftover: Uint8Array | null,
    options: WebSocketOptions,
    request: UpgradeRequest | string,
    topics: Topics | null,
  ) {
    super(conn, io, "server", protocol, leftover, options);
    if (typeof request === "string") {
      this.#request = null;
      this.#rawHead = request;
    } else {
      this.#request = request;
      this.#rawHead = null;
    }
    this.#topics = topics;
  }

  /**
   * The upgrade request. An idle socket keeps only the head's text (a few
   * hundred bytes, instead of the parsed fields' objects and strings); it is
   * parsed again on first use (it was checked at the handshake).
   */
  get request(): UpgradeRequest {
    if (this.#request === null) {
      const text = this.#rawHead!;
      const raw = new Uint8Array(text.length);
      writeLatin1(text, raw, 0);
      this.#request = parseUpgradeRequest(
        parseRequestHead(raw, { maxHeaderBytes: raw.length + 1, maxHeaderCount: 1 << 16 })!,
      );
      this.#rawHead = null;
    }
    return this.#request;
  }

  /** The client's address. */
  get remoteAddr(): NetAddr {
    return this.transport.remoteAddr;
  }

  #registry(): Topics {
    if (this.#topics === null) {
      throw new TypeError(
        "this WebSocket has no topics: serveWebSocket and attachWebSocket give it theirs; " +
          "with acceptWebSocket pass { topics: new Topics() }",
      );
    }
    return this.#topics;
  }

  subscribe(topic: string): boolean {
    if (typeof topic !== "string") throw new TypeError(`topic must be a string: got ${typeof topic}`);
    const topics = this.#registry();
    // A closed socket is nobody's subscriber any more.
    if (this.readyState === "closed") return false;
    if (!topics.add(this, topic)) return false;
    const now = this.#subscribed;
    if (now === null) this.#subscribed = topic;
    else if (typeof now === "string") this.#subscribed = [now, topic];
    else now.push(topic);
    return true;
  }

  unsubscribe(topic: string): boolean {
    const now = this.#subscribed;
    if (now === null) return false;
    if (typeof now === "string") {
      if (now !== topic) return false;
      this.#subscribed = null;
    } else {
      const i = now.indexOf(topic);
      if (i < 0) return false;
      now.splice(i, 1);
    }
    this.#topics!.remove(this, topic);
    return true;
  }

  isSubscribed(topic: string): boolean {
    const now = this.#subscribed;
    return now === topic || (Array.isArray(now) && now.includes(topic));
  }

  get topics(): readonly string[] {
    const now = this.#subscribed;
    return now === null ? [] : typeof now === "string" ? [now] : [...now];
  }

  publish(topic: string, data: string | Uint8Array): PublishResult {
    return this.#registry().publish(topic, data, { exclude: this });
  }

  get droppedMessages(): number {
    return this.#dropped;
  }

  /** Counts a published message this socket did not take (for the topics). */
  countDropped(): number {
    return ++this.#dropped;
  }

  /** Calls `hook.closed(this, info)` once the connection has closed (the server's bookkeeping). */
  whenClosed(hook: ClosedHook): void {
    this.#onClosed = hook;
  }

  protected override released(info: CloseInfo): void {
    const now = this.#subscribed;
    if (now !== null) {
      this.#subscribed = null;
      if (typeof now === "string") this.#topics!.remove(this, now);
      else for (const topic of now) this.#topics!.remove(this, topic);
    }
    const hook = this.#onClosed;
    this.#onClosed = null;
    hook?.closed(this, info);
  }
}
