/**
 * Small I/O helpers of the REST client: the read deadline of a connection
 * and error wrapping.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../common/clock.ts";
import { SluiceError, TimeoutError } from "../core/errors.ts";

/**
 * The `readTimeoutMs` of one connection: one timer, re-armed lazily, instead
 * of a timer and a racing promise per read (which cost more than the read
 * itself for small responses). Each read moves the deadline forward; the
 * timer, when it fires early, sleeps for what is left. On expiry `onExpire`
 * gets the error and must close the connection, which settles the pending read.
 */
export class ReadDeadline {
  readonly #onExpire: (err: TimeoutError) => void;
  readonly #clock: Clock;
  #timer: TimerHandle | undefined = undefined;
  /** When the armed timer fires (clock ms). */
  #timerAt = 0;
  /** When the pending read times out; 0 while no read is bounded. */
  #deadline = 0;
  #ms = 0;
  #idempotent = false;

  /**
   * @param onExpire Called once per expiry with the `READ_TIMEOUT` error.
   * @param clock The clock for the time and the timer.
   */
  constructor(onExpire: (err: TimeoutError) => void, clock: Clock) {
    this.#onExpire = onExpire;
    this.#clock = clock;
  }

  /**
   * Bounds the read about to be awaited.
   *
   * @param ms The limit in ms (> 0).
   * @param idempotent Whether the request may be repeated (the error's `retryable`).
   */
  start(ms: number, idempotent: boolean): void {
    const now = this.#clock.now();
    this.#deadline = now + ms;
    this.#ms = ms;
    this.#idempotent = idempotent;
    if (this.#timer === undefined || this.#deadline < this.#timerAt) this.#arm(now, ms);
  }

  /** The bounded read settled. */
  stop(): void {
    this.#deadline = 0;
  }

  /** Clears the timer for good (the connection is closed). */
  dispose(): void {
    this.#deadline = 0;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(now: number, ms: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    const wait = Math.max(1, Math.ceil(ms));
    this.#timerAt = now + wait;
    this.#timer = this.#clock.setTimeout(this.#fire, wait);
    // The socket keeps the process alive while a response is due; an idle
    // connection's leftover timer must not.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #fire = (): void => {
    this.#timer = undefined;
    if (this.#deadline === 0) return;
    const now = this.#clock.now();
    if (now < this.#deadline) return this.#arm(now, this.#deadline - now);
    this.#deadline = 0;
    this.#onExpire(
      new TimeoutError("READ_TIMEOUT", `no response data for ${this.#ms} ms (readTimeoutMs)`, {
        retryable: this.#idempotent,
      }),
    );
  };
}

/**
 * Wraps a transport failure: sluice errors pass, anything else is `IO_ERROR`.
 *
 * @param err The failure.
 * @param retryable Whether a retry is safe.
 * @returns A sluice error.
 */
export function ioError(err: unknown, retryable: boolean): SluiceError {
  if (err instanceof SluiceError) return err;
  return new SluiceError("IO_ERROR", `I/O failure: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
    retryable,
  });
}
