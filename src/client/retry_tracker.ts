/**
 * The bookkeeping between a retry strategy and a reconnecting client: counts
 * consecutive failed attempts, measures the time since the first of them, and
 * starts over once a connection has stayed up long enough. Pure: every method
 * takes the current time as an argument.
 *
 * @module
 */
import { type RetryFunction, type RetryStrategy, toRetryStrategy } from "../common/retry.ts";

/** Options of {@link RetryTracker}. */
export interface RetryTrackerOptions {
  /**
   * A connection that stayed up at least this long resets the attempt count,
   * so a drop after a stable period starts again from the shortest delay.
   * @default 5000
   */
  resetAfterMs?: number;
}

/** What to do after a failure. */
export type RetryDecision =
  | { readonly type: "retry"; readonly attempt: number; readonly delayMs: number }
  | { readonly type: "giveUp"; readonly attempt: number };

/**
 * Feeds a {@link RetryStrategy} the attempt number and elapsed time it needs.
 *
 * Call {@link RetryTracker.started} when an attempt begins,
 * {@link RetryTracker.connected} when one succeeds, and
 * {@link RetryTracker.failed} when an attempt fails or a connection drops.
 *
 * @example A drop after a stable hour retries from the first delay
 * ```ts
 * import { fixedDelay, RetryTracker } from "@sluice/net";
 * const tracker = new RetryTracker(fixedDelay(100, { maxAttempts: 3 }), { resetAfterMs: 1000 });
 * tracker.started(0);
 * tracker.connected(10);
 * console.log(tracker.failed(new Error("reset"), 3_600_000)); // { type: "retry", attempt: 1, delayMs: 100 }
 * ```
 */
export class RetryTracker {
  #strategy: RetryStrategy;
  #resetAfterMs: number;
  #attempt = 0;
  #streakStart: number | null = null;
  #connectedAt: number | null = null;

  /**
   * Creates a tracker over a strategy.
   *
   * @param strategy The retry strategy or function.
   * @param options When the attempt count resets.
   * @throws {RangeError} When `resetAfterMs` is negative or not a number.
   */
  constructor(strategy: RetryStrategy | RetryFunction, options: RetryTrackerOptions = {}) {
    this.#strategy = toRetryStrategy(strategy);
    this.#resetAfterMs = options.resetAfterMs ?? 5_000;
    if (!(this.#resetAfterMs >= 0)) {
      throw new RangeError(`resetAfterMs must be a number >= 0: got ${options.resetAfterMs}`);
    }
  }

  /** Consecutive failed attempts so far (0 while none failed since the last reset). */
  get attempt(): number {
    return this.#attempt;
  }

  /** When the connection now up was established, or null. */
  get connectedAt(): number | null {
    return this.#connectedAt;
  }

  /**
   * Records that an attempt begins at `now`; the first of a streak starts the
   * elapsed-time count.
   *
   * @param now The current time in ms.
   */
  started(now: number): void {
    this.#streakStart ??= now;
  }

  /**
   * Records that an attempt succeeded (the connection and its handshakes are up).
   *
   * @param now The current time in ms.
   */
  connected(now: number): void {
    this.#streakStart ??= now;
    this.#connectedAt = now;
  }

  /**
   * Records a failed attempt or a dropped connection and asks the strategy
   * what to do next.
   *
   * @param error The failure.
   * @param now The current time in ms.
   * @returns The attempt number and delay, or that the strategy gave up.
   */
  failed(error: unknown, now: number): RetryDecision {
    if (this.#connectedAt !== null) {
      if (shouldResetAttempts(this.#connectedAt, now, this.#resetAfterMs)) {
        this.#attempt = 0;
        this.#streakStart = now;
      }
      this.#connectedAt = null;
    }
    this.#streakStart ??= now;
    this.#attempt += 1;
    const elapsedMs = Math.max(0, now - this.#streakStart);
    const delay = this.#strategy.nextDelay(this.#attempt, error, elapsedMs);
    if (delay === null) return { type: "giveUp", attempt: this.#attempt };
    if (!(delay >= 0) || !Number.isFinite(delay)) {
      throw new RangeError(`retry strategy returned an invalid delay: got ${delay}`);
    }
    return { type: "retry", attempt: this.#attempt, delayMs: delay };
  }

  /** Forgets every attempt, as after a manual reconnect. */
  reset(): void {
    this.#attempt = 0;
    this.#streakStart = null;
    this.#connectedAt = null;
  }
}

/**
 * Whether a connection up from `connectedAt` until `droppedAt` was stable
 * long enough to reset the attempt count.
 *
 * @param connectedAt When the connection was established, in ms.
 * @param droppedAt When it dropped, in ms.
 * @param resetAfterMs The least uptime that counts as stable, in ms.
 * @returns True when the next failure should count as attempt 1.
 *
 * @example
 * ```ts
 * import { shouldResetAttempts } from "@sluice/net";
 * console.log(shouldResetAttempts(1000, 7000, 5000)); // true
 * ```
 */
export function shouldResetAttempts(
  connectedAt: number,
  droppedAt: number,
  resetAfterMs: number,
): boolean {
  return droppedAt - connectedAt >= resetAfterMs;
}
