/**
 * One established connection of the resilient client, from the moment its
 * handshakers passed until it is gone: the incoming pump (WebSocket →
 * extension transforms → subscribers), the writer that drains the send queue,
 * and the heartbeat. Single-use, like the streams it is made of: the client
 * builds a fresh one for every connection.
 *
 * @module
 */
import { ConnectionClosed, TimeoutError } from "../core/errors.ts";
import type { Message } from "../core/ws/message.ts";
import type { CloseInfo, WebSocketConnection } from "../ws/types.ts";
import type { Clock, TimerHandle } from "../common/clock.ts";
import { ClientErrorCode } from "./errors.ts";
import type { Inbox } from "./inbox.ts";
import { applyIncoming, callHooks, type ConnectionInfo, type Extension } from "./extensions.ts";
import type { MessageCount } from "./ledger.ts";
import type { QueueEntry, SendQueue } from "./send_queue.ts";

/** Most messages handed to the WebSocket in one turn (they leave in one socket write). */
const MAX_BATCH_MESSAGES = 256;
/** Most payload bytes handed to the WebSocket in one turn. */
const MAX_BATCH_BYTES = 64 * 1024;
/** Most pings awaiting their pong; beyond this the heartbeat only watches. */
const MAX_OUTSTANDING_PINGS = 16;

/** Why and how a session ended. */
export interface SessionEnd {
  /** A short explanation for the `disconnected` event. */
  readonly reason: string;
  /** The failure behind an abnormal end, if any. */
  readonly error?: unknown;
  /** How the WebSocket closed. */
  readonly close: CloseInfo;
  /** True when the client itself ended the session (shutdown). */
  readonly local: boolean;
}

/** What a session needs from the client. */
export interface SessionOptions {
  readonly ws: WebSocketConnection;
  readonly info: ConnectionInfo;
  readonly clock: Clock;
  readonly queue: SendQueue;
  /** Where received messages go: the client's one stable readable. */
  readonly inbox: Inbox;
  readonly extensions: readonly Extension[];
  /** Messages the handshakers passed on: delivered first. */
  readonly early: readonly Message[];
  readonly pingIntervalMs: number;
  readonly pongTimeoutMs: number;
  /** When (on the clock) the socket last delivered bytes: liveness during a large message. */
  readonly lastBytesAt: () => number;
  readonly receiveTimeoutMs: number;
  /** A pong arrived: its round-trip time in ms. */
  onRtt(ms: number): void;
  /** A hook or extension failed; the session goes on. */
  onExtensionError(error: unknown): void;
}

interface Trigger {
  reason: string;
  error?: unknown;
  local: boolean;
  graceful: boolean;
  /** A send or ping was refused: the WebSocket already failed or is closing; describe the end by its close. */
  symptom?: boolean;
}

interface Ping {
  sentAt: number;
  checkpoint: MessageCount;
}

/**
 * A live connection. It starts working in the constructor and ends by itself
 * (peer close, failure, dead peer, silent feed) or on {@link Session.stop};
 * {@link Session.ended} settles once the pump and writer have finished and
 * every message the writer took is accounted as written or left in flight
 * for the queue to take back.
 */
export class Session {
  /** Settles once everything of this connection has wound down. Never rejects. */
  readonly ended: Promise<SessionEnd>;
  readonly #o: SessionOptions;
  readonly #ws: WebSocketConnection;
  readonly #clock: Clock;
  readonly #writerStop = new AbortController();
  #trigger: Trigger | null = null;
  #wake!: () => void;
  readonly #triggered = new Promise<void>((resolve) => (this.#wake = resolve));
  #lastData: number;
  #lastPong = -Infinity;
  #pings: Ping[] = [];
  #pingTimer: TimerHandle | null = null;
  #watchTimer: TimerHandle | null = null;
  #recvTimer: TimerHandle | null = null;
  #recvError: unknown = undefined;
  /** The reader holds back (the inbox is full): the socket is not read, so no deadline runs. */
  #held = false;

  /**
   * Starts the pump, the writer and the heartbeat on an open, handshaken connection.
   *
   * @param options The connection, its queue, subscribers, extensions and timings.
   */
  constructor(options: SessionOptions) {
    this.#o = options;
    this.#ws = options.ws;
    this.#clock = options.clock;
    this.#lastData = this.#clock.now();
    options.queue.setConnected(true);
    const pump = this.#pump();
    const writer = this.#writeLoop();
    this.#startHeartbeat();
    this.ended = this.#wind(pump, writer);
  }

  /**
   * Ends the session: gracefully (a close handshake, bounded by
   * `pongTimeoutMs`) or at once (the socket is dropped, as for a dead peer).
   *
   * @param reason For the `disconnected` event.
   * @param graceful Close with 1000 rather than dropping the socket.
   * @param error The failure, for an abnormal end.
   */
  stop(reason: string, graceful: boolean, error?: unknown): void {
    this.#end({ reason, error, local: true, graceful });
  }

  #end(trigger: Trigger): void {
    if (this.#trigger) return;
    this.#trigger = trigger;
    this.#o.queue.setConnected(false);
    this.#writerStop.abort();
    this.#clearTimers();
    this.#wake();
  }

  async #wind(pump: Promise<void>, writer: Promise<void>): Promise<SessionEnd> {
    await Promise.race([this.#triggered, this.#ws.closed]);
    if (!this.#trigger) this.#end(this.#fromClose(await this.#ws.closed));
    const t = this.#trigger!;
    // Frames already handed to the WebSocket leave before its close frame, so
    // a graceful close needs no wait for the writer (RFC 6455 §7.1.2).
    if (t.graceful || t.symptom) {
      if (t.graceful) this.#ws.close(1000, "").catch(() => {});
      // A close handshake (ours, or one already under way) gets the
      // heartbeat's grace, no more: the peer may be gone without a FIN, and
      // the client may end TCP once it sent and received a close (RFC 6455 §7.1.1).
      const timer = this.#clock.setTimeout(() => this.#abort(), this.#o.pongTimeoutMs);
      void this.#ws.closed.then(() => this.#clock.clearTimeout(timer));
    } else this.#abort();
    const close = await this.#ws.closed;
    await Promise.all([pump, writer]);
    this.#clearTimers();
    const end = t.symptom ? this.#fromClose(close) : t;
    return { reason: end.reason, error: end.error ?? close.error, close, local: end.local };
  }

  /** Drops the socket now; the close handshake is pointless with a dead or broken peer. */
  #abort(): void {
    const transport = (this.#ws as { transport?: { close(): void } }).transport;
    try {
      transport?.close();
    } catch { /* already closed */ }
    // Guarantees `closed` settles even when nothing reads the connection any more.
    this.#ws.close(1001, "").catch(() => {});
  }

  #fromClose(info: CloseInfo): Trigger {
    if (info.error) {
      const e = info.error;
      return {
        reason: `connection failed: ${e.message}`,
        error: e,
        local: false,
        graceful: false,
      };
    }
    const why = info.reason ? ` ${info.reason}` : "";
    return {
      reason: `peer closed: ${info.code}${why}`,
      error: new ConnectionClosed(
        ClientErrorCode.Disconnected,
        `the server closed the connection (${info.code}${why})`,
        { retryable: true },
      ),
      local: false,
      graceful: false,
    };
  }

  // ------------------------------------------------------------- incoming

  async #pump(): Promise<void> {
    const ws = this.#ws;
    const early = [...this.#o.early];
    const source = new ReadableStream<Message>({
      pull: async (controller) => {
        const next = early.shift();
        if (next) return controller.enqueue(next);
        let m: Message | null;
        try {
          m = await ws.recv();
        } catch (e) {
          this.#recvError = e;
          throw e;
        }
        if (m === null) return controller.close();
        this.#lastData = this.#clock.now();
        controller.enqueue(ownMessage(m));
      },
    }, { highWaterMark: 0 });
    let reader: ReadableStreamDefaultReader<Message> | null = null;
    try {
      reader = applyIncoming(source, this.#o.extensions, this.#o.info).getReader();
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        const room = this.#o.inbox.push(r.value);
        if (room !== undefined) {
          // The application is the bottleneck, not the peer: stop reading the
          // socket (TCP backpressure) and suspend dead-peer and silence checks.
          this.#held = true;
          await Promise.race([room, this.#triggered]);
          this.#held = false;
          this.#lastData = this.#clock.now();
          this.#armWatch();
        }
      }
    } catch (e) {
      if (!this.#trigger && this.#recvError === undefined) {
        // Not the socket: an extension's transform (or factory) threw.
        const error = new Error("an extension's incoming transform failed", { cause: e });
        this.#o.onExtensionError(error);
        this.#end({ reason: "extension transform failed", error, local: false, graceful: false });
      }
    } finally {
      reader?.cancel().catch(() => {});
    }
    if (!this.#trigger) this.#end(this.#fromClose(await ws.closed));
  }

  // ------------------------------------------------------------- outgoing

  async #writeLoop(): Promise<void> {
    const { queue, extensions } = this.#o;
    const ws = this.#ws;
    const signal = this.#writerStop.signal;
    // `closed` also covers a write the WebSocket never settles once it failed.
    const gone = ws.closed.then(() => {});
    while (!signal.aborted) {
      try {
        await queue.wait(signal);
      } catch {
        break;
      }
      if (signal.aborted || queue.closed) break;
      const handed: QueueEntry[] = [];
      const writes: Promise<void>[] = [];
      let bytes = 0;
      let failure: unknown = undefined;
      while (handed.length < MAX_BATCH_MESSAGES && bytes < MAX_BATCH_BYTES) {
        const entry = queue.take();
        if (!entry) break;
        // An open WebSocket accepts every send; once closing or failed it
        // refuses them (with a rejected promise). A refused message never
        // reached the socket: it stays in flight and goes back to the queue
        // for the next connection.
        const refused = ws.readyState !== "open";
        let write: Promise<void>;
        try {
          const m = entry.message;
          write = typeof m === "string" ? ws.sendText(m) : ws.sendBinary(m);
        } catch (e) {
          failure = e;
          break;
        }
        if (refused) {
          failure = await write.then(() => new Error("the WebSocket refused a send"), (e) => e);
          break;
        }
        writes.push(write);
        handed.push(entry);
        bytes += entry.bytes;
      }
      if (writes.length > 0) await Promise.race([Promise.allSettled(writes), gone]);
      // At-most-once: a frame the WebSocket accepted may be on the wire even
      // when its write failed, so it is never sent again; it counts as written
      // (resolved) and stays unconfirmed until a pong covers it.
      for (const entry of handed) {
        queue.written(entry);
        const errors = callHooks(extensions, "onSend", entry.message);
        for (const e of errors) this.#o.onExtensionError(e);
      }
      if (failure !== undefined) {
        this.#end({
          reason: "send refused",
          error: failure,
          local: false,
          graceful: false,
          symptom: true,
        });
        break;
      }
    }
  }

  // ------------------------------------------------------------- heartbeat

  #startHeartbeat(): void {
    const { pingIntervalMs, receiveTimeoutMs } = this.#o;
    if (pingIntervalMs > 0) {
      this.#pingTimer = this.#clock.setTimeout(() => this.#ping(), pingIntervalMs);
    }
    if (receiveTimeoutMs > 0) this.#armReceive();
  }

  #ping(): void {
    this.#pingTimer = null;
    if (this.#trigger) return;
    const now = this.#clock.now();
    const last = this.#pings.at(-1);
    // One ping at a time, unless its pong is overdue while data still flows.
    const due = last === undefined || now - last.sentAt >= this.#o.pongTimeoutMs;
    if (due && this.#pings.length < MAX_OUTSTANDING_PINGS) {
      const ping: Ping = { sentAt: now, checkpoint: this.#o.queue.ledger.checkpoint() };
      let rtt: Promise<number>;
      try {
        rtt = this.#ws.ping();
      } catch (e) {
        this.#end({
          reason: "ping refused",
          error: e,
          local: false,
          graceful: false,
          symptom: true,
        });
        return;
      }
      this.#pings.push(ping);
      rtt.then((ms) => this.#onPong(ping, ms), () => {});
      this.#armWatch();
    }
    this.#pingTimer = this.#clock.setTimeout(() => this.#ping(), this.#o.pingIntervalMs);
  }

  #onPong(ping: Ping, rttMs: number): void {
    if (this.#trigger) return;
    this.#lastPong = this.#clock.now();
    const i = this.#pings.indexOf(ping);
    if (i >= 0) this.#pings.splice(0, i + 1);
    // The peer read everything written before the ping: a WebSocket is ordered.
    this.#o.queue.ledger.confirm(ping.checkpoint);
    this.#o.onRtt(rttMs);
  }

  /** The moment the peer is presumed dead unless something arrives first. */
  #deadline(): number | null {
    const oldest = this.#pings[0];
    if (oldest === undefined || this.#held) return null;
    // Any byte read is a sign of life: a large message still arriving (its
    // pongs queued behind it) is a slow peer, not a dead one.
    return Math.max(oldest.sentAt, this.#lastData, this.#lastPong, this.#o.lastBytesAt()) +
      this.#o.pongTimeoutMs;
  }

  #armWatch(): void {
    if (this.#watchTimer !== null) return;
    const deadline = this.#deadline();
    if (deadline === null) return;
    this.#watchTimer = this.#clock.setTimeout(() => {
      this.#watchTimer = null;
      if (this.#trigger) return;
      const due = this.#deadline();
      if (due === null) return;
      if (this.#clock.now() < due) return this.#armWatch();
      const ms = this.#o.pongTimeoutMs;
      this.#end({
        reason: `no pong or data within ${ms} ms of a ping (dead peer)`,
        error: new TimeoutError(
          ClientErrorCode.PongTimeout,
          `no pong or data within ${ms} ms of a ping: the peer is presumed dead`,
          { retryable: true },
        ),
        local: false,
        graceful: false,
      });
    }, Math.max(0, deadline - this.#clock.now()));
  }

  #armReceive(): void {
    const ms = this.#o.receiveTimeoutMs;
    const wait = this.#held ? ms : Math.max(0, this.#lastData + ms - this.#clock.now());
    this.#recvTimer = this.#clock.setTimeout(() => {
      this.#recvTimer = null;
      if (this.#trigger) return;
      // Messages only: pongs keep coming from a feed that went silent.
      if (this.#held || this.#clock.now() - this.#lastData < ms) return this.#armReceive();
      this.#end({
        reason: `no message for ${ms} ms (receiveTimeout)`,
        error: new TimeoutError(
          ClientErrorCode.ReceiveTimeout,
          `no message received for ${ms} ms (receiveTimeoutMs)`,
          { retryable: true },
        ),
        local: false,
        graceful: false,
      });
    }, wait);
  }

  #clearTimers(): void {
    for (const t of [this.#pingTimer, this.#watchTimer, this.#recvTimer]) {
      if (t !== null) this.#clock.clearTimeout(t);
    }
    this.#pingTimer = this.#watchTimer = this.#recvTimer = null;
  }
}

/**
 * An owned copy of a borrowed message. Not `retainMessage`: its
 * `data.slice()` is a view, not a copy, when the transport hands Node
 * `Buffer`s (Node's `Buffer#slice` aliases), which would pin whole socket
 * chunks in subscribers' buffers and let later reads overwrite them.
 */
export function ownMessage(m: Message): Message {
  return m.type === "close" ? m : { ...m, data: new Uint8Array(m.data) };
}
