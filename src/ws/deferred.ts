/**
 * Small promise and timer helpers shared by the WebSocket layer.
 *
 * @module
 */
import { TimeoutError } from "../core/errors.ts";

/** A promise with its settle functions; its rejection never goes unhandled. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** Makes a {@link Deferred}. A rejection nobody awaits does not crash the process. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * Races `promise` against a timer; on timeout rejects with a {@link TimeoutError}
 * and calls `onTimeout` (to release what the promise was waiting on).
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  code: string,
  message: string,
  onTimeout?: () => void,
): Promise<T> {
  if (!(ms > 0) || ms === Infinity) return promise;
  // Timers take at most 2^31-1 ms; a longer limit would otherwise fire at once.
  ms = Math.min(ms, 0x7fffffff);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout?.();
      reject(new TimeoutError(code, message, { retryable: true }));
    }, ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Checks a timeout option: a non-negative number of ms (0 or Infinity = none). */
export function timeoutOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative number of milliseconds: got ${value}`);
  }
  return value;
}
