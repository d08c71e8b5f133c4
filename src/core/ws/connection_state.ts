/**
 * The protocol state of one WebSocket connection (RFC 6455 §5.5, §7) as a
 * sans-IO state machine, like wsproto's `Connection`: the I/O shell reports
 * what happened (a close, ping or pong received; the transport ended; a
 * failure) and what the user asked (close, ping), and it says what to send
 * and when the transport may close. It keeps no timers and reads no clock:
 * times are passed in.
 *
 * Data messages never go through it: the shell sends and receives them while
 * {@link ConnectionState.canSend} / {@link ConnectionState.receiving} say so,
 * so the hot path costs one field read and no allocation.
 *
 * @module
 */
import { ConnectionClosed, ProtocolError } from "../errors.ts";
import { encodeClosePayload, parseClosePayload } from "./close_payload.ts";
import { type CloseMessage, isValidCloseCode } from "./message.ts";

/**
 * Where a connection is: `open`; `closing` once a close frame was sent or
 * received; `closed` once the transport ended; `errored` after a protocol
 * error or a local failure (terminal: every later call throws its cause).
 */
export type ConnectionPhase = "open" | "closing" | "closed" | "errored";

/** Which side sent the first close frame, or "none" when the transport just ended. */
export type CloseInitiator = "local" | "remote" | "none";

/** Options for {@link ConnectionState}. */
export interface ConnectionStateOptions {
  /** Which side this is: the server ends TCP first after the close handshake (RFC 6455 §7.1.1). */
  role: "client" | "server";
  /** Answer received pings with pongs ({@link ConnectionState.receivePing} says what to send). @default true */
  autoPong?: boolean | undefined;
}

/** How a connection closed, once it has (the shape of the connection's `CloseInfo`). */
export interface ConnectionCloseInfo {
  /**
   * The peer's code after a close handshake (1005 when its frame had none);
   * the code sent when the connection failed (1002, 1007…); 1006 when the
   * transport ended without a close handshake or failed locally.
   */
  readonly code: number;
  /** The peer's close reason, possibly empty. */
  readonly reason: string;
  /** True when both close frames were exchanged (RFC 6455 §7.1.4). */
  readonly wasClean: boolean;
  /** Which side sent the first close frame. */
  readonly initiatedBy: CloseInitiator;
  /** The failure behind an abnormal close, if any. */
  readonly error?: Error;
}

/** What {@link ConnectionState.receiveClose} makes of the peer's close frame. */
export interface PeerClose {
  /** The peer's status code; 1005 when its close frame had no payload. */
  readonly code: number;
  /** The peer's reason, possibly empty. */
  readonly reason: string;
  /**
   * The close payload to send back, or null when ours was sent already. The
   * reply echoes the peer's code, or 1000 when it sent none (RFC 6455 §5.5.1).
   */
  readonly reply: Uint8Array | null;
  /**
   * Both close frames are now exchanged (once `reply` is sent): the server
   * closes the transport (`"close"`); the client waits for the server to close
   * it, or for a timeout of its own (`"await-peer"`, RFC 6455 §7.1.1).
   */
  readonly transport: "close" | "await-peer";
}

/** A ping sent and not answered yet. */
export interface PendingPing<Tag> {
  /** Its payload (a copy the state owns; send exactly these bytes). */
  readonly data: Uint8Array;
  /** When it was sent, in the caller's clock (ms). */
  readonly sentAtMs: number;
  /** The caller's value given to {@link ConnectionState.ping} (a promise to settle, a timer). */
  readonly tag: Tag | undefined;
}

/** A ping answered by a pong, with its round-trip time. */
export interface AnsweredPing<Tag> {
  /** The ping, as {@link ConnectionState.ping} returned it. */
  readonly ping: PendingPing<Tag>;
  /** Milliseconds from the ping to the pong that answered it. */
  readonly rttMs: number;
}

/** What a pong answered: the pings, oldest first, and the round-trip time of the one it echoed. */
export interface PongResult<Tag> {
  /** Every ping the pong answered: the one it echoes and, implicitly, all earlier ones (RFC 6455 §5.5.3). */
  readonly answered: readonly AnsweredPing<Tag>[];
  /** The round-trip time of the ping the pong echoes (now {@link ConnectionState.lastRttMs}). */
  readonly rttMs: number;
}

const NO_PINGS: readonly never[] = Object.freeze([]);

function finiteTime(nowMs: number): number {
  if (typeof nowMs !== "number" || !Number.isFinite(nowMs)) {
    throw new RangeError(`nowMs must be a finite number of milliseconds: got ${String(nowMs)}`);
  }
  return nowMs;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function closedError(): ConnectionClosed {
  return new ConnectionClosed(
    "WS_CLOSED",
    "the WebSocket is closing or closed: nothing more can be sent",
    { retryable: false },
  );
}

/**
 * The close handshake, ping bookkeeping and failure state of one WebSocket
 * connection, without I/O (RFC 6455 §5.5, §7).
 *
 * Rules it enforces: nothing is sent after our close frame (no data, no
 * pong, no ping); nothing the peer sends after its close frame counts; a
 * close code must be valid on the wire; after a failure every action throws
 * the same cause. Queries, {@link ConnectionState.fail},
 * {@link ConnectionState.abort}, {@link ConnectionState.transportClosed} and
 * the ping removals never throw, so the shell can call them from any
 * cleanup path.
 *
 * @typeParam Tag What the caller attaches to each ping (e.g. its promise and timer).
 *
 * @example Run a close handshake initiated by the peer
 * ```ts
 * import { ConnectionState } from "@sluice/net/core";
 * const state = new ConnectionState({ role: "server" });
 * const peer = state.receiveClose(new Uint8Array([0x03, 0xe9])); // 1001, no reason
 * console.log(peer?.reply, peer?.transport); // Uint8Array [3, 233] "close"
 * // …send the reply in a close frame, end the socket, then:
 * console.log(state.transportClosed()); // { code: 1001, reason: "", wasClean: true, initiatedBy: "remote" }
 * ```
 */
export class ConnectionState<Tag = undefined> {
  readonly #server: boolean;
  readonly #autoPong: boolean;
  #phase: ConnectionPhase = "open";
  #closeSent = false;
  #closeReceived = false;
  #peerCode = 1005;
  #peerReason = "";
  #initiatedBy: CloseInitiator = "none";
  #error: Error | null = null;
  #info: ConnectionCloseInfo | null = null;
  #pings: PendingPing<Tag>[] | null = null;
  #pingSeq = 0;
  #lastRttMs = NaN;
  #droppedPongs = 0;

  /**
   * Creates the state of a connection whose opening handshake is done.
   *
   * @param options The role, and whether pings are answered automatically.
   * @throws {TypeError} When `role` is not "client" or "server".
   */
  constructor(options: ConnectionStateOptions) {
    if (options?.role !== "client" && options?.role !== "server") {
      throw new TypeError(`role must be "client" or "server": got ${String(options?.role)}`);
    }
    this.#server = options.role === "server";
    this.#autoPong = options.autoPong ?? true;
  }

  /** Where the connection is; see {@link ConnectionPhase}. */
  get phase(): ConnectionPhase {
    return this.#phase;
  }

  /** True while data, pings and pongs may be sent: open, no close frame sent, no failure. */
  get canSend(): boolean {
    return this.#phase === "open";
  }

  /** True while frames from the peer still count: before its close frame, the end, or a failure. */
  get receiving(): boolean {
    return (this.#phase === "open" || this.#phase === "closing") && !this.#closeReceived;
  }

  /** True once our close frame (or echo, or failure close) was handed out to send. */
  get closeSent(): boolean {
    return this.#closeSent;
  }

  /** True once the peer's close frame was received. */
  get closeReceived(): boolean {
    return this.#closeReceived;
  }

  /** True once both close frames were exchanged: the transport may close (see {@link PeerClose.transport}). */
  get handshakeDone(): boolean {
    return this.#closeSent && this.#closeReceived;
  }

  /** Which side sent the first close frame so far. */
  get initiatedBy(): CloseInitiator {
    return this.#initiatedBy;
  }

  /** The failure that errored the connection, or null. */
  get error(): Error | null {
    return this.#error;
  }

  /** How the connection closed: set once it is `closed` or `errored`, else null. */
  get closeInfo(): ConnectionCloseInfo | null {
    return this.#info;
  }

  /** The last ping round-trip time in ms (NaN before the first answered ping). */
  get lastRttMs(): number {
    return this.#lastRttMs;
  }

  /** Pings waiting for their pong, oldest first. */
  get pendingPings(): readonly PendingPing<Tag>[] {
    return this.#pings ?? NO_PINGS;
  }

  /** Pongs owed to received pings but not sent because our close frame had gone out. */
  get droppedPongs(): number {
    return this.#droppedPongs;
  }

  /**
   * Checks that data (or a user pong) may be sent now.
   *
   * @throws {Error} The cause itself (always the same object) once errored.
   * @throws {ConnectionClosed} `WS_CLOSED` once a close frame was sent or the transport ended.
   */
  assertCanSend(): void {
    if (this.#phase === "open") return;
    throw this.#error ?? closedError();
  }

  /**
   * Starts the close handshake (RFC 6455 §7.1.2): returns the close payload
   * to send, or null when a close frame was sent already or the transport
   * is gone (nothing to send; wait for the end as before).
   *
   * @param code A code valid on the wire: 1000-1003, 1007-1014, 3000-4999. @default 1000
   * @param reason At most 123 UTF-8 bytes. @default ""
   * @returns The close payload to send in a close frame, or null.
   * @throws {RangeError} When the code is not valid on the wire or the reason is too long.
   * @throws {TypeError} When the reason is not a string.
   * @throws {Error} The cause (the same object every time) once errored.
   */
  close(code = 1000, reason = ""): Uint8Array | null {
    if (this.#error !== null) throw this.#error;
    const payload = encodeClosePayload(code, reason);
    if (this.#phase !== "open") return null;
    this.#phase = "closing";
    this.#closeSent = true;
    this.#initiatedBy = "local";
    return payload;
  }

  /**
   * Takes the peer's close frame: its payload bytes, or the message a
   * `FrameReader` made of it. Before our own close it says which echo to
   * send; after it, the handshake is complete.
   *
   * @param close The close frame's payload, or a `CloseMessage` (code 1005 for none).
   * @returns What to reply and what to do with the transport; null when it
   *   does not count (after the peer's close frame, or after the end).
   * @throws {ProtocolError} `WS_CLOSE_PAYLOAD_LENGTH` (1002) for a 1-byte payload,
   *   `WS_INVALID_CLOSE_CODE` (1002), `WS_INVALID_UTF8` (1007) for the reason.
   *   The connection is then errored: pass the error to {@link ConnectionState.fail}
   *   for the close frame to send.
   * @throws {Error} The cause (the same object every time) once errored.
   */
  receiveClose(close: Uint8Array | CloseMessage): PeerClose | null {
    if (this.#error !== null) throw this.#error;
    if (!this.receiving) return null;
    let code: number, reason: string;
    if (close instanceof Uint8Array) {
      try {
        ({ code, reason } = parseClosePayload(close));
      } catch (e) {
        throw this.#errored(e as ProtocolError);
      }
    } else {
      ({ code, reason } = close);
      if (code !== 1005 && !isValidCloseCode(code)) {
        throw this.#errored(
          new ProtocolError(
            "WS_INVALID_CLOSE_CODE",
            1002,
            `invalid close code ${code} (RFC 6455 §7.4)`,
          ),
        );
      }
    }
    this.#closeReceived = true;
    this.#peerCode = code;
    this.#peerReason = reason;
    let reply: Uint8Array | null = null;
    if (!this.#closeSent) {
      this.#phase = "closing";
      this.#closeSent = true;
      this.#initiatedBy = "remote";
      reply = encodeClosePayload(code === 1005 ? 1000 : code, "");
    }
    return { code, reason, reply, transport: this.#server ? "close" : "await-peer" };
  }

  /**
   * Takes a ping from the peer and says which pong to send (RFC 6455 §5.5.2).
   *
   * @param data The ping's payload (borrowed: the result may be this same view).
   * @returns The pong payload to send (`data` itself), or null: no auto-pong,
   *   our close frame was sent (the pong is dropped and counted in
   *   {@link ConnectionState.droppedPongs}), or the ping does not count.
   * @throws {ProtocolError} `WS_CONTROL_TOO_LONG` (1002) for a payload over 125 bytes.
   * @throws {Error} The cause (the same object every time) once errored.
   */
  receivePing(data: Uint8Array): Uint8Array | null {
    this.#checkControl(data);
    if (!this.receiving || !this.#autoPong) return null;
    if (this.#closeSent) {
      this.#droppedPongs++;
      return null;
    }
    return data;
  }

  /**
   * Takes a pong from the peer: it answers the pending ping with the same
   * payload and, implicitly, every earlier one (RFC 6455 §5.5.3). A pong
   * matching no ping is a heartbeat and answers nothing.
   *
   * @param data The pong's payload.
   * @param nowMs The time now, in the clock the pings were sent by.
   * @returns The answered pings (removed from the pending ones) with their
   *   round-trip times, or null for an unsolicited pong or one that does not count.
   * @throws {ProtocolError} `WS_CONTROL_TOO_LONG` (1002) for a payload over 125 bytes.
   * @throws {RangeError} When `nowMs` is not a finite number.
   * @throws {Error} The cause (the same object every time) once errored.
   */
  receivePong(data: Uint8Array, nowMs: number): PongResult<Tag> | null {
    this.#checkControl(data);
    finiteTime(nowMs);
    const pings = this.#pings;
    if (!this.receiving || pings === null) return null;
    let i = 0;
    while (i < pings.length && !sameBytes(pings[i]!.data, data)) i++;
    if (i === pings.length) return null;
    const answered = pings.splice(0, i + 1).map((ping): AnsweredPing<Tag> => ({
      ping,
      rttMs: nowMs - ping.sentAtMs,
    }));
    const rttMs = answered[i]!.rttMs;
    this.#lastRttMs = rttMs;
    return { answered, rttMs };
  }

  /**
   * Records a ping to send. Without a payload it gets a unique 8-byte id
   * (a counter, big-endian), so its pong can be told apart.
   *
   * @param data Up to 125 bytes (copied), or undefined for a fresh id.
   * @param nowMs The time now, in the caller's clock (ms).
   * @param tag Anything to get back with the ping when it is answered or dropped.
   * @returns The pending ping: send `data` in a ping frame.
   * @throws {RangeError} When `data` is over 125 bytes or `nowMs` is not finite.
   * @throws {ConnectionClosed} `WS_CLOSED` once a close frame was sent or the transport ended.
   * @throws {Error} The cause (the same object every time) once errored.
   */
  ping(data: Uint8Array | undefined, nowMs: number, tag?: Tag): PendingPing<Tag> {
    this.assertCanSend();
    finiteTime(nowMs);
    let payload: Uint8Array;
    if (data === undefined) {
      payload = new Uint8Array(8);
      let seq = ++this.#pingSeq;
      for (let i = 7; i >= 0; i--, seq = Math.floor(seq / 256)) payload[i] = seq % 256;
    } else {
      if (data.length > 125) {
        throw new RangeError(
          `ping payload must be at most 125 bytes (RFC 6455 §5.5): got ${data.length}`,
        );
      }
      payload = data.slice();
    }
    const ping: PendingPing<Tag> = { data: payload, sentAtMs: nowMs, tag };
    (this.#pings ??= []).push(ping);
    return ping;
  }

  /**
   * Removes one pending ping without an answer (its timeout, kept by the
   * caller, has passed); the connection is not affected.
   *
   * @param ping A ping {@link ConnectionState.ping} returned.
   * @returns True when it was still pending.
   */
  dropPing(ping: PendingPing<Tag>): boolean {
    const pings = this.#pings;
    const i = pings === null ? -1 : pings.indexOf(ping);
    if (i < 0) return false;
    pings!.splice(i, 1);
    return true;
  }

  /**
   * Removes every pending ping, for the caller to fail: call it when the
   * connection closes or errors (no pong can come any more).
   *
   * @returns The pings that were pending, oldest first.
   */
  failPings(): readonly PendingPing<Tag>[] {
    const pings = this.#pings;
    this.#pings = null;
    return pings ?? NO_PINGS;
  }

  /**
   * Fails the connection (RFC 6455 §7.1.7): a protocol error (the peer's, or
   * one a receive call threw) or a local failure (a socket error, a timeout).
   * The first failure wins; the phase becomes `errored` and stays so.
   *
   * @param error The failure; a {@link ProtocolError} carries the close code to send.
   * @returns The close payload to send (the error's close code, its message as
   *   the reason when that fits in 123 bytes): only for a protocol error
   *   before any close frame of ours, including the one a receive call just
   *   threw; else null (nothing more is sent).
   */
  fail(error: Error): Uint8Array | null {
    if (this.#phase === "closed") return null;
    if (this.#error === null) this.#errored(error);
    else if (error !== this.#error) return null;
    if (this.#closeSent || !(error instanceof ProtocolError)) return null;
    const code = error.closeCode;
    if (!isValidCloseCode(code)) return null;
    this.#closeSent = true;
    try {
      return encodeClosePayload(code, error.message);
    } catch {
      return encodeClosePayload(code, ""); // the message is over 123 bytes
    }
  }

  /**
   * Drops the connection locally with no close handshake (the peer sees
   * 1006): the phase becomes `errored` with a `ConnectionClosed`
   * (`WS_ABORTED`) caused by `reason`. Does nothing once closed or errored.
   *
   * @param reason Why, kept as the error's cause.
   */
  abort(reason?: unknown): void {
    if (this.#phase === "closed" || this.#phase === "errored") return;
    const error = new ConnectionClosed("WS_ABORTED", "the WebSocket was aborted locally", {
      cause: reason,
      retryable: true,
    });
    this.#error = error;
    this.#phase = "errored";
    // Dropping the connection is our decision: "local" unless a close frame came first.
    const initiatedBy = this.#initiatedBy === "none" ? "local" : this.#initiatedBy;
    this.#info = { code: 1006, reason: "", wasClean: false, initiatedBy, error };
  }

  /**
   * Says the transport has ended (the peer closed it, we closed it, or the
   * caller gave up waiting). After both close frames this is a clean close
   * with the peer's code; otherwise an abnormal one, 1006 (a code never sent
   * on the wire). An errored connection keeps its failure.
   *
   * @param cause Why the wait ended, when it was not a clean end (e.g. a close timeout). @default a `ConnectionClosed` (`WS_ABNORMAL_CLOSURE`)
   * @returns How the connection closed (the same object on every later call).
   */
  transportClosed(cause?: Error): ConnectionCloseInfo {
    if (this.#info !== null) return this.#info;
    this.#phase = "closed";
    if (this.#closeSent && this.#closeReceived) {
      return this.#info = {
        code: this.#peerCode,
        reason: this.#peerReason,
        wasClean: true,
        initiatedBy: this.#initiatedBy,
      };
    }
    const error = cause ?? new ConnectionClosed(
      "WS_ABNORMAL_CLOSURE",
      "the transport ended without a close handshake (1006)",
      { retryable: true },
    );
    return this.#info = {
      code: 1006,
      reason: "",
      wasClean: false,
      initiatedBy: this.#initiatedBy,
      error,
    };
  }

  /** Records the first failure and how it closes the connection; returns it. */
  #errored<E extends Error>(error: E): E {
    this.#error = error;
    this.#phase = "errored";
    const code = error instanceof ProtocolError && isValidCloseCode(error.closeCode)
      ? error.closeCode
      : 1006;
    this.#info = {
      code,
      reason: "",
      wasClean: false,
      // A failure we answer with a close frame is a close we initiate.
      initiatedBy: this.#initiatedBy === "none" && code !== 1006 ? "local" : this.#initiatedBy,
      error,
    };
    return error;
  }

  /** The checks every received control frame passes first. */
  #checkControl(data: Uint8Array): void {
    if (this.#error !== null) throw this.#error;
    if (data.length > 125 && this.receiving) {
      throw this.#errored(
        new ProtocolError(
          "WS_CONTROL_TOO_LONG",
          1002,
          `control frame payload of ${data.length} bytes exceeds 125 bytes (RFC 6455 §5.5)`,
        ),
      );
    }
  }
}
