/**
 * Retry strategies: how long to wait before the next connection attempt, and
 * when to give up. A strategy is a plain object with one method (or a plain
 * function, see {@link toRetryStrategy}), so writing your own is one line.
 *
 * Nothing here reads a clock or starts a timer: callers pass the attempt
 * number and the elapsed time, and randomness is injectable.
 *
 * @module
 */

/**
 * Decides the delay before the next attempt.
 *
 * `attempt` counts the consecutive failed attempts so far (1 after the first
 * failure); `elapsedMs` is the time since the first of them started.
 * Returning `null` gives up.
 */
export interface RetryStrategy {
  /** The delay in ms before the next attempt, or `null` to give up. */
  nextDelay(attempt: number, error: unknown, elapsedMs: number): number | null;
}

/**
 * Whether a failure may be retried at all: false only when the error says so
 * (`retryable: false`, as on a 4xx refusal of the WebSocket upgrade, an
 * untrusted TLS certificate or a malformed response); true for everything
 * else, errors of unknown kinds included.
 *
 * @param error What failed.
 * @returns False when `error` is an object whose `retryable` is `false`.
 *
 * @example
 * ```ts
 * import { HandshakeError } from "@sluice/net/core";
 * import { isRetryable } from "@sluice/net";
 * console.log(isRetryable(new HandshakeError("WS_HANDSHAKE_STATUS", "got 404", { status: 404 }))); // false
 * console.log(isRetryable(new Error("ECONNRESET"))); // true
 * ```
 */
export function isRetryable(error: unknown): boolean {
  return !(typeof error === "object" && error !== null &&
    (error as { retryable?: unknown }).retryable === false);
}

/** A retry strategy written as a bare function. */
export type RetryFunction = (attempt: number, error: unknown, elapsedMs: number) => number | null;

/** Jitter applied to an exponential delay `d` (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
export type Jitter = "none" | "full" | "equal" | "decorrelated";

/** Options of {@link exponentialBackoff}. */
export interface ExponentialBackoffOptions {
  /** Delay after the first failure, in ms. @default 1000 */
  initialMs?: number;
  /** Upper bound of any delay, in ms. @default 60000 */
  maxMs?: number;
  /** Growth per attempt. @default 2 */
  factor?: number;
  /**
   * `none`: `d`; `full`: uniform in [0, d]; `equal`: uniform in [d/2, d];
   * `decorrelated`: uniform in [initial, 3 × previous delay], capped.
   * @default "full"
   */
  jitter?: Jitter;
  /** Total attempts, the first included, before giving up. @default Infinity */
  maxAttempts?: number;
  /** Give up once this much time has passed since the first attempt, in ms. @default Infinity */
  maxElapsedMs?: number;
  /** Which errors to retry; return false to give up at once. @default () => true */
  retryIf?: (error: unknown) => boolean;
  /** Uniform random numbers in [0, 1); inject a seeded one for reproducible delays. @default Math.random */
  random?: () => number;
}

/**
 * Named parameter sets for {@link exponentialBackoff}: `fast` (100 ms to 5 s,
 * ×1.5), `standard` (1 s to 60 s, ×2), `conservative` (2 s to 120 s, ×2).
 *
 * @example Start from a preset
 * ```ts
 * import { BackoffPresets, exponentialBackoff } from "@sluice/net";
 * const strategy = exponentialBackoff({ ...BackoffPresets.fast, maxAttempts: 10 });
 * ```
 */
export const BackoffPresets = {
  /** For local or latency-critical peers: 100 ms, ×1.5, capped at 5 s. */
  fast: { initialMs: 100, maxMs: 5_000, factor: 1.5 },
  /** The default: 1 s, ×2, capped at 60 s. */
  standard: { initialMs: 1_000, maxMs: 60_000, factor: 2 },
  /** For shared or rate-limited services: 2 s, ×2, capped at 120 s. */
  conservative: { initialMs: 2_000, maxMs: 120_000, factor: 2 },
} as const;

function checkDelay(name: string, value: number): void {
  if (!(value >= 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a finite number >= 0: got ${value}`);
  }
}

function checkAttempts(value: number): void {
  if (value !== Infinity && !(Number.isInteger(value) && value >= 1)) {
    throw new RangeError(`maxAttempts must be an integer >= 1 or Infinity: got ${value}`);
  }
}

function checkElapsed(value: number): void {
  if (!(value > 0)) throw new RangeError(`maxElapsedMs must be > 0: got ${value}`);
}

/** Applies the attempt and elapsed-time caps shared by every strategy here. */
function capped(
  delay: number,
  attempt: number,
  elapsedMs: number,
  maxAttempts: number,
  maxElapsedMs: number,
): number | null {
  if (attempt >= maxAttempts || elapsedMs >= maxElapsedMs) return null;
  // One last attempt right at the deadline rather than giving up early.
  return Math.min(delay, maxElapsedMs - elapsedMs);
}

/**
 * Exponential backoff with jitter: the `n`th consecutive failure waits about
 * `initialMs × factor^(n-1)`, capped at `maxMs`.
 *
 * The `decorrelated` jitter remembers the previous delay and starts over when
 * called with `attempt` 1, so give every client its own strategy object.
 *
 * @param options Delays, growth, jitter, caps and the random source.
 * @returns A strategy for the client's `retry` option.
 * @throws {RangeError} When a delay, factor or cap is out of range.
 *
 * @example Reproducible delays with a fixed random source
 * ```ts
 * import { exponentialBackoff } from "@sluice/net";
 * const s = exponentialBackoff({ initialMs: 100, maxMs: 1000, jitter: "none", maxAttempts: 4 });
 * console.log([1, 2, 3, 4].map((n) => s.nextDelay(n, null, 0))); // [100, 200, 400, null]
 * ```
 */
export function exponentialBackoff(options: ExponentialBackoffOptions = {}): RetryStrategy {
  const initialMs = options.initialMs ?? BackoffPresets.standard.initialMs;
  const maxMs = options.maxMs ?? BackoffPresets.standard.maxMs;
  const factor = options.factor ?? BackoffPresets.standard.factor;
  const jitter = options.jitter ?? "full";
  const maxAttempts = options.maxAttempts ?? Infinity;
  const maxElapsedMs = options.maxElapsedMs ?? Infinity;
  const retryIf = options.retryIf ?? (() => true);
  const random = options.random ?? Math.random;
  checkDelay("initialMs", initialMs);
  checkDelay("maxMs", maxMs);
  if (maxMs < initialMs) throw new RangeError(`maxMs must be >= initialMs: got ${maxMs}`);
  if (!(factor >= 1) || !Number.isFinite(factor)) {
    throw new RangeError(`factor must be a finite number >= 1: got ${factor}`);
  }
  if (!["none", "full", "equal", "decorrelated"].includes(jitter)) {
    throw new RangeError(`jitter must be none, full, equal or decorrelated: got ${jitter}`);
  }
  checkAttempts(maxAttempts);
  checkElapsed(maxElapsedMs);

  let previous = initialMs;
  return Object.freeze({
    nextDelay(attempt: number, error: unknown, elapsedMs: number): number | null {
      if (!retryIf(error)) return null;
      // factor^(n-1) overflows to Infinity long before n is large; min() keeps it at maxMs.
      const base = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt - 1));
      let delay: number;
      switch (jitter) {
        case "none":
          delay = base;
          break;
        case "full":
          delay = random() * base;
          break;
        case "equal":
          delay = base / 2 + random() * (base / 2);
          break;
        case "decorrelated": {
          if (attempt <= 1) previous = initialMs;
          const upper = Math.max(initialMs, previous * 3);
          delay = Math.min(maxMs, initialMs + random() * (upper - initialMs));
          previous = delay;
          break;
        }
      }
      return capped(Math.round(delay), attempt, elapsedMs, maxAttempts, maxElapsedMs);
    },
  });
}

/** Options of {@link fixedDelay}. */
export interface FixedDelayOptions {
  /** Total attempts, the first included, before giving up. @default Infinity */
  maxAttempts?: number;
  /** Give up once this much time has passed since the first attempt, in ms. @default Infinity */
  maxElapsedMs?: number;
}

/**
 * The same delay before every attempt.
 *
 * @param delayMs The delay in ms.
 * @param options Caps on attempts and elapsed time.
 * @returns A strategy for the client's `retry` option.
 * @throws {RangeError} When `delayMs` or a cap is out of range.
 *
 * @example Three attempts, half a second apart
 * ```ts
 * import { fixedDelay } from "@sluice/net";
 * const s = fixedDelay(500, { maxAttempts: 3 });
 * console.log(s.nextDelay(1, null, 0), s.nextDelay(3, null, 0)); // 500 null
 * ```
 */
export function fixedDelay(delayMs: number, options: FixedDelayOptions = {}): RetryStrategy {
  const maxAttempts = options.maxAttempts ?? Infinity;
  const maxElapsedMs = options.maxElapsedMs ?? Infinity;
  checkDelay("delayMs", delayMs);
  checkAttempts(maxAttempts);
  checkElapsed(maxElapsedMs);
  return Object.freeze({
    nextDelay: (attempt: number, _error: unknown, elapsedMs: number) =>
      capped(delayMs, attempt, elapsedMs, maxAttempts, maxElapsedMs),
  });
}

/**
 * Never retries: the first failure is final.
 *
 * @returns A strategy that always gives up.
 *
 * @example
 * ```ts
 * import { noRetry } from "@sluice/net";
 * console.log(noRetry().nextDelay(1, new Error("refused"), 0)); // null
 * ```
 */
export function noRetry(): RetryStrategy {
  return Object.freeze({ nextDelay: () => null });
}

/**
 * Accepts a strategy object or a bare `(attempt, error, elapsedMs) => delayMs | null`
 * function and returns a strategy object.
 *
 * @param retry The strategy or function.
 * @returns A strategy object; the same one when given an object.
 * @throws {TypeError} When `retry` is neither.
 *
 * @example A hand-written strategy
 * ```ts
 * import { toRetryStrategy } from "@sluice/net";
 * const s = toRetryStrategy((attempt) => (attempt < 3 ? 250 * attempt : null));
 * console.log(s.nextDelay(2, null, 0)); // 500
 * ```
 */
export function toRetryStrategy(retry: RetryStrategy | RetryFunction): RetryStrategy {
  if (typeof retry === "function") return { nextDelay: retry };
  if (typeof retry === "object" && retry !== null && typeof retry.nextDelay === "function") {
    return retry;
  }
  throw new TypeError(`retry must be a RetryStrategy or a function: got ${String(retry)}`);
}
