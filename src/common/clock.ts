/**
 * The clock and timers the resilient client runs on, injected so that every
 * time-dependent decision (backoff, heartbeat, handshake timeout, send timeout)
 * can be tested with a manual clock instead of sleeps.
 *
 * @module
 */
import { TimeoutError } from "../core/errors.ts";

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/**
 * A source of time and one-shot timers.
 *
 * `now()` must never go backwards; the default {@link systemClock} uses
 * `performance.timeOrigin + performance.now()`, which is monotonic yet reads
 * as milliseconds since the Unix epoch, so it can be shown as a date.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (monotonic). */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; a no-op for a timer that already fired or was cleared. */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock: monotonic milliseconds since the epoch and the runtime's timers.
 *
 * @example Measure an interval
 * ```ts
 * import { systemClock } from "@sluice/net";
 * const start = systemClock.now();
 * console.log(systemClock.now() - start >= 0); // true
 * ```
 */
export const systemClock: Clock = Object.freeze({
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: (fn: () => void, ms: number): TimerHandle => setTimeout(fn, ms),
  clearTimeout: (handle: TimerHandle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
});

/** The reason a signal carries, or a generic abort error when it has none. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The operation was aborted", "AbortError");
}

/**
 * Waits `ms` milliseconds on `clock`; rejects with the signal's reason when
 * `signal` aborts first.
 */
export function sleep(ms: number, clock: Clock, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Settles like `promise`, unless `signal` aborts first: then rejects with the
 * signal's reason. The promise itself is not cancelled (it cannot be), only
 * no longer waited for; its later rejection is marked handled.
 */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Runs `fn` with a signal that aborts when `signal` aborts or `ms` elapses on
 * `clock`; on the timeout it rejects with a {@link TimeoutError} of the given
 * code (retryable), whatever `fn` does afterwards.
 */
export function withTimeout<T>(
  fn: (signal: AbortSignal) => Promise<T>,
  ms: number,
  options: { clock: Clock; code: string; what: string; signal?: AbortSignal },
): Promise<T> {
  const { clock, code, what, signal } = options;
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(abortReason(signal!));
  if (signal?.aborted) onOuterAbort();
  else signal?.addEventListener("abort", onOuterAbort, { once: true });
  const timer = clock.setTimeout(() => {
    controller.abort(
      new TimeoutError(code, `${what} timed out after ${ms} ms`, { retryable: true }),
    );
  }, ms);
  let running: Promise<T>;
  try {
    running = Promise.resolve(fn(controller.signal));
  } catch (error) {
    running = Promise.reject(error);
  }
  return raceSignal(running, controller.signal).finally(() => {
    clock.clearTimeout(timer);
    signal?.removeEventListener("abort", onOuterAbort);
  });
}
