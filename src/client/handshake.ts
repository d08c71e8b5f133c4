/**
 * Application handshakes: what runs on every (re)connected WebSocket before
 * the client flushes its send queue and reports `connected` — typically
 * authenticate, then subscribe. Each handshaker has a timeout and a retry
 * delay; a failure counts as a failed connection attempt.
 *
 * @module
 */
import type { Message } from "../core/ws/message.ts";
import { type Clock, raceSignal, withTimeout } from "../common/clock.ts";
import { ClientErrorCode, HandshakerError } from "./errors.ts";

/** The default time a handshaker may take, in ms. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * The part of a connection a handshaker may use: `sendText`, `sendBinary` and
 * `recv` exactly as on `WebSocketConnection` (of which this is a structural
 * subset), plus the signal that aborts when the connection drops or the
 * handshake times out, and a way to pass on messages that are not part of
 * the handshake.
 */
export interface HandshakeConnection {
  /** Sends a text message; resolves when its frame is handed to the socket. */
  sendText(text: string): Promise<void>;
  /** Sends a binary message; resolves when its frame is handed to the socket. */
  sendBinary(data: Uint8Array): Promise<void>;
  /** The next message, or null once the connection closed cleanly. */
  recv(): Promise<Message | null>;
  /** Aborts when the connection drops or this handshake's time is up. */
  readonly signal: AbortSignal;
  /**
   * Hands a received message that is not part of the handshake on to the
   * application; it is delivered before anything received later. Borrowed
   * data is copied by the implementation.
   */
  forward(message: Message): void;
}

/** What a handshaker knows about the attempt it runs in. */
export interface HandshakeContext {
  /** The attempt number in the current streak. */
  readonly attempt: number;
  /** The id the connection gets if the handshakes pass. */
  readonly connectionId: string;
  /** The client's clock (for timeouts inside a handshaker). */
  readonly clock: Clock;
}

/** One step run on every new connection before messages flow. */
export interface Handshaker {
  /** A short name for events and errors ("auth", "subscribe"). */
  readonly name: string;
  /** Time allowed for `run`, in ms; `Infinity` for none. @default 10000 */
  readonly timeoutMs?: number | undefined;
  /** The least wait before the next attempt after this handshaker failed, in ms. @default 0 */
  readonly retryDelayMs?: number | undefined;
  /** Performs the handshake; resolves when done, rejects (or throws) on failure. */
  run(connection: HandshakeConnection, context: HandshakeContext): Promise<void>;
}

/**
 * Runs one handshaker with its timeout, turning every failure into a
 * {@link HandshakerError} that names it (codes `CLIENT_HANDSHAKE_TIMEOUT`,
 * `_CLOSED`, `_REJECTED`, `_FAILED`).
 *
 * @param handshaker The handshaker.
 * @param connection The connection it runs on.
 * @param context The attempt, connection id and clock.
 * @returns Resolves when the handshaker is done.
 * @throws {HandshakerError} (rejects) When it fails, times out, or the connection drops.
 *
 * @example
 * ```ts
 * import { runHandshake, type HandshakeConnection, systemClock } from "@sluice/net";
 * async function greet(conn: HandshakeConnection) {
 *   const hello = { name: "hello", run: (c: HandshakeConnection) => c.sendText("hi") };
 *   await runHandshake(hello, conn, { attempt: 1, connectionId: "c1", clock: systemClock });
 * }
 * ```
 */
export async function runHandshake(
  handshaker: Handshaker,
  connection: HandshakeConnection,
  context: HandshakeContext,
): Promise<void> {
  const name = handshaker.name;
  const timeoutMs = handshaker.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const retryDelayMs = handshaker.retryDelayMs ?? 0;
  const attemptRun = (signal: AbortSignal) =>
    handshaker.run({
      signal,
      sendText: (text) => raceSignal(connection.sendText(text), signal),
      sendBinary: (data) => raceSignal(connection.sendBinary(data), signal),
      recv: () => raceSignal(connection.recv(), signal),
      forward: (message) => connection.forward(message),
    }, context);
  try {
    if (timeoutMs === Infinity) {
      const running = Promise.resolve().then(() => attemptRun(connection.signal));
      await raceSignal(running, connection.signal);
    } else {
      await withTimeout(attemptRun, timeoutMs, {
        clock: context.clock,
        code: ClientErrorCode.HandshakeTimeout,
        what: `handshake "${name}"`,
        signal: connection.signal,
      });
    }
  } catch (error) {
    if (error instanceof HandshakerError) {
      // A step of a chain already named itself; a helper inside this
      // handshaker (awaitReplies) did not know the retry delay.
      if (error.handshaker !== name || error.retryDelayMs === retryDelayMs) throw error;
      throw new HandshakerError(error.code, error.message, {
        handshaker: name,
        retryDelayMs,
        cause: error.cause,
      });
    }
    const details = { handshaker: name, retryDelayMs, cause: error };
    if (connection.signal.aborted) {
      throw new HandshakerError(
        ClientErrorCode.HandshakeClosed,
        `connection ended during handshake "${name}"`,
        details,
      );
    }
    const timedOut = (error as { code?: unknown })?.code === ClientErrorCode.HandshakeTimeout;
    throw new HandshakerError(
      timedOut ? ClientErrorCode.HandshakeTimeout : ClientErrorCode.HandshakeFailed,
      timedOut
        ? `handshake "${name}" timed out after ${timeoutMs} ms`
        : `handshake "${name}" failed: ${error instanceof Error ? error.message : String(error)}`,
      details,
    );
  }
}

/**
 * Runs handshakers one after another as one handshaker (authenticate, then
 * subscribe). Each keeps its own timeout; a failure names the one that failed
 * and carries its retry delay.
 *
 * @param handshakers The steps, in order.
 * @returns One handshaker named after the steps, e.g. `"auth+subscribe"`.
 * @throws {TypeError} When a step is not a handshaker.
 *
 * @example Authenticate, then subscribe
 * ```ts
 * import { authHandshake, chainHandshakes, subscribeHandshake } from "@sluice/net";
 * const handshake = chainHandshakes(
 *   authHandshake("secret-token", { format: "json" }),
 *   subscribeHandshake(["trades.BTC"], { waitConfirmation: true }),
 * );
 * console.log(handshake.name); // "auth+subscribe"
 * ```
 */
export function chainHandshakes(...handshakers: Handshaker[]): Handshaker {
  for (const [i, h] of handshakers.entries()) {
    if (typeof h?.run !== "function" || typeof h.name !== "string") {
      throw new TypeError(`chainHandshakes: argument ${i} is not a Handshaker: got ${String(h)}`);
    }
  }
  const steps = [...handshakers];
  return Object.freeze({
    name: steps.map((h) => h.name).join("+") || "empty",
    // Each step enforces its own timeout; the chain adds none.
    timeoutMs: Infinity,
    retryDelayMs: Math.max(0, ...steps.map((h) => h.retryDelayMs ?? 0)),
    async run(connection: HandshakeConnection, context: HandshakeContext): Promise<void> {
      for (const step of steps) await runHandshake(step, connection, context);
    },
  });
}
