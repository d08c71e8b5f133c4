/**
 * The resilient client's connection state, kept in one place: a status
 * machine with checked transitions, counters, and a frozen snapshot for
 * `state()`. Time comes from an injected clock.
 *
 * @module
 */
import { type Clock, systemClock } from "../common/clock.ts";

/**
 * Where the client is in its life:
 * `idle` (not started) → `connecting` (opening the WebSocket) → `handshaking`
 * (application handshakers) → `connected`; after a failure or drop,
 * `reconnecting` (waiting out the retry delay) → `connecting`…; and finally
 * `closing` → `closed`.
 */
export type ConnectionStatus =
  | "idle"
  | "connecting"
  | "handshaking"
  | "connected"
  | "reconnecting"
  | "closing"
  | "closed";

/** A point-in-time view of the client's connection. */
export interface ClientState {
  /** The current connection's id, or the last one's; null before the first handshake. */
  readonly id: string | null;
  /** See {@link ConnectionStatus}. */
  readonly status: ConnectionStatus;
  /** The current attempt number while connecting; 0 once connected. */
  readonly attempt: number;
  /** Connections that completed their handshakes. */
  readonly connectionCount: number;
  /** Completed connections after the first. */
  readonly reconnectCount: number;
  /** Errors recorded (failed attempts, drops, hook failures). */
  readonly errorCount: number;
  /** When the current connection completed its handshakes (ms since the epoch), or null. */
  readonly connectedSince: number | null;
  /** How long the current connection has been up, in ms, or null. */
  readonly connectedForMs: number | null;
  /** The last error recorded, or undefined. */
  readonly lastError: unknown;
  /** When it was recorded, or null. */
  readonly lastErrorAt: number | null;
  /** The last ping round-trip time in ms, or null before the first pong. */
  readonly lastRttMs: number | null;
}

const NEXT: Record<ConnectionStatus, readonly ConnectionStatus[]> = {
  idle: ["connecting", "closing", "closed"],
  connecting: ["handshaking", "reconnecting", "closing", "closed"],
  handshaking: ["connected", "reconnecting", "closing", "closed"],
  connected: ["reconnecting", "closing", "closed"],
  reconnecting: ["connecting", "closing", "closed"],
  closing: ["closed"],
  closed: [],
};

/**
 * Tracks the status and counters behind `state()`. An illegal transition
 * throws: it is always a bug in the code driving the tracker.
 *
 * @example
 * ```ts
 * import { StateTracker } from "@sluice/net";
 * const state = new StateTracker();
 * state.connecting(1);
 * state.handshaking("c1");
 * state.connected();
 * console.log(state.snapshot().status); // "connected"
 * ```
 */
export class StateTracker {
  readonly #clock: Clock;
  #status: ConnectionStatus = "idle";
  #id: string | null = null;
  #attempt = 0;
  #connections = 0;
  #errors = 0;
  #connectedSince: number | null = null;
  #lastError: unknown = undefined;
  #lastErrorAt: number | null = null;
  #lastRttMs: number | null = null;

  /**
   * Creates a tracker in the `idle` status.
   *
   * @param clock The time source. @default systemClock
   */
  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /** The current status. */
  get status(): ConnectionStatus {
    return this.#status;
  }

  /** True while connected (handshakes done). */
  get isConnected(): boolean {
    return this.#status === "connected";
  }

  /**
   * An attempt begins.
   *
   * @param attempt Its number in the current streak.
   */
  connecting(attempt: number): void {
    this.#move("connecting");
    this.#attempt = attempt;
  }

  /**
   * The WebSocket is open; handshakers run.
   *
   * @param id The id this connection will have.
   */
  handshaking(id: string): void {
    this.#move("handshaking");
    this.#id = id;
  }

  /** Every handshaker passed; the connection is up. */
  connected(): void {
    this.#move("connected");
    this.#connections += 1;
    this.#attempt = 0;
    this.#connectedSince = this.#clock.now();
  }

  /** The attempt failed or the connection dropped; a retry delay runs. */
  reconnecting(): void {
    this.#move("reconnecting");
    this.#connectedSince = null;
  }

  /** A graceful shutdown began. */
  closing(): void {
    this.#move("closing");
  }

  /** The client stopped for good. */
  closed(): void {
    this.#move("closed");
    this.#connectedSince = null;
  }

  /**
   * Records an error.
   *
   * @param error The failure.
   */
  error(error: unknown): void {
    this.#errors += 1;
    this.#lastError = error;
    this.#lastErrorAt = this.#clock.now();
  }

  /**
   * Records a ping round-trip time.
   *
   * @param ms The round-trip time in ms.
   */
  rtt(ms: number): void {
    this.#lastRttMs = ms;
  }

  /** A frozen view of the state now. */
  snapshot(): ClientState {
    const since = this.#connectedSince;
    return Object.freeze({
      id: this.#id,
      status: this.#status,
      attempt: this.#attempt,
      connectionCount: this.#connections,
      reconnectCount: Math.max(0, this.#connections - 1),
      errorCount: this.#errors,
      connectedSince: since,
      connectedForMs: since === null ? null : Math.max(0, this.#clock.now() - since),
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt,
      lastRttMs: this.#lastRttMs,
    });
  }

  #move(to: ConnectionStatus): void {
    if (!NEXT[this.#status].includes(to)) {
      throw new Error(`illegal client state transition: ${this.#status} -> ${to}`);
    }
    this.#status = to;
  }
}
