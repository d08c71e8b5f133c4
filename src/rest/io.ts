/**
 * Small I/O helpers of the REST client: a read bounded by a timeout and an
 * abort signal, error wrapping, and joining body pieces.
 *
 * @module
 */
import { SluiceError, TimeoutError } from "../core/errors.ts";

/** What bounds a wait. */
export interface Deadline {
  /** Longest wait in ms; 0 for none. */
  readTimeout: number;
  /** Whether the request may be repeated (the timeout's `retryable`). */
  idempotent: boolean;
  /** Rejects the wait with its reason when aborted. */
  signal?: AbortSignal;
}

/**
 * Waits for `p`, rejecting with `READ_TIMEOUT` after `readTimeout` ms or with
 * the signal's reason when it aborts. The pending `p` is left to the caller,
 * which closes the connection (settling it).
 *
 * @param p The pending read.
 * @param d Timeout, idempotency and signal.
 * @returns What `p` resolved to.
 */
export function withDeadline<T>(p: Promise<T>, d: Deadline): Promise<T> {
  const { readTimeout: ms, signal } = d;
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const settle = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    if (signal) {
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    }
    if (ms > 0) {
      timer = setTimeout(() => {
        settle();
        reject(new TimeoutError("READ_TIMEOUT", `no response data for ${ms} ms (readTimeout)`, {
          retryable: d.idempotent,
        }));
      }, ms);
    }
    p.then((v) => {
      settle();
      resolve(v);
    }, (e) => {
      settle();
      reject(e);
    });
  });
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

/**
 * Joins pieces; a single piece is returned as is (no copy).
 *
 * @param pieces The parts.
 * @param size Their total length.
 * @returns The bytes.
 */
export function concat(pieces: Uint8Array[], size: number): Uint8Array {
  if (pieces.length === 1) return pieces[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
