/**
 * Safe automatic retries for the REST client: only idempotent requests (or
 * ones carrying an idempotency key), only on transport failures and 5xx/429,
 * with exponential backoff, full jitter and `Retry-After`.
 *
 * @module
 */
import { HttpParseError, SluiceError } from "../core/errors.ts";
import { isIdempotentMethod, type RestRequest } from "./client.ts";
import type { RestResponse } from "./response.ts";

/** Options for {@link withRetry}. Every field is optional. */
export interface RetryPolicy {
  /** Most retries after the first attempt. @default 2 */
  retries?: number;
  /** Backoff before the first retry, doubled each time (full jitter: uniform in [0, d]). @default 100 */
  baseDelayMs?: number;
  /** Cap on a backoff delay. @default 5000 */
  maxDelayMs?: number;
  /** A `Retry-After` longer than this is not waited for: the response is returned. @default 30000 */
  maxRetryAfterMs?: number;
  /** Field whose presence makes a POST or PATCH retryable (RFC draft "Idempotency-Key"). @default "idempotency-key" */
  idempotencyKeyHeader?: string;
  /** Random source for jitter, in [0, 1). @default Math.random */
  random?: () => number;
  /** Clock for HTTP-date `Retry-After` values, in ms since the epoch. @default Date.now */
  now?: () => number;
  /** Called before each retry with the attempt number (1 = first retry), the delay and the reason. */
  onRetry?: (attempt: number, delayMs: number, reason: RestResponse | unknown) => void;
}

/** What an attempt produced. */
export type AttemptOutcome = { response: RestResponse } | { error: unknown };

/** Statuses worth retrying: 429 and 5xx except 501 and 505, which will not change. */
function retryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

// Transport failures, timeouts and a response cut short; not malformed responses.
function retryableError(err: unknown): boolean {
  if (!(err instanceof SluiceError)) return false;
  if (err instanceof HttpParseError) return err.code === "HTTP_INCOMPLETE_MESSAGE";
  return err.code !== "CLIENT_CLOSED" && err.code !== "BODY_USED";
}

/**
 * Parses `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
 *
 * @param value The field value, or null.
 * @param now The current time in ms since the epoch.
 * @returns The delay in ms (≥ 0), or null when absent or invalid.
 *
 * @example
 * ```ts
 * import { parseRetryAfter } from "@sluice/net";
 * parseRetryAfter("3", 0); // 3000
 * parseRetryAfter("Wed, 21 Oct 2015 07:28:05 GMT", Date.UTC(2015, 9, 21, 7, 28, 0)); // 5000
 * ```
 */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^[0-9]{1,9}$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

function hasHeader(headers: RestRequest["headers"], name: string): boolean {
  if (headers === undefined) return false;
  const key = name.toLowerCase();
  if (headers instanceof Headers) return headers.has(key);
  const entries = Symbol.iterator in headers
    ? [...(headers as Iterable<readonly [string, string]>)]
    : Object.entries(headers);
  return entries.some(([k]) => k.toLowerCase() === key);
}

/**
 * Decides whether and when to retry: the pure rule behind {@link withRetry}.
 *
 * @param req The request.
 * @param attempt Retries made so far plus one (1 after the first attempt).
 * @param outcome The response or error of the last attempt.
 * @param policy The policy.
 * @returns The delay in ms before the next attempt, or null to stop.
 *
 * @example POST is not retried without an idempotency key
 * ```ts
 * import { retryDelay, SluiceError } from "@sluice/net";
 * const error = new SluiceError("IO_ERROR", "reset", { retryable: true });
 * retryDelay({ method: "POST" }, 1, { error }, {}); // null
 * retryDelay({ method: "GET" }, 1, { error }, { random: () => 0.5 }); // 50
 * ```
 */
export function retryDelay(
  req: RestRequest,
  attempt: number,
  outcome: AttemptOutcome,
  policy: RetryPolicy,
): number | null {
  const retries = policy.retries ?? 2;
  if (attempt > retries) return null;
  if (req.signal?.aborted) return null;
  // A stream body was consumed by the first attempt and cannot be replayed.
  const body = req.body as { getReader?: unknown } | undefined;
  if (typeof body === "object" && body !== null && typeof body.getReader === "function") return null;
  const safe = isIdempotentMethod(req.method) ||
    hasHeader(req.headers, policy.idempotencyKeyHeader ?? "idempotency-key");
  if (!safe) return null;
  const base = policy.baseDelayMs ?? 100;
  const cap = policy.maxDelayMs ?? 5000;
  const backoff = (policy.random ?? Math.random)() * Math.min(cap, base * 2 ** (attempt - 1));
  if ("error" in outcome) return retryableError(outcome.error) ? backoff : null;
  const res = outcome.response;
  if (!retryableStatus(res.status)) return null;
  const after = parseRetryAfter(res.headers.get("retry-after"), (policy.now ?? Date.now)());
  if (after === null) return backoff;
  return after <= (policy.maxRetryAfterMs ?? 30_000) ? after : null;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Sends a request with retries per {@link retryDelay}: idempotent methods
 * (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) are retried on transport errors,
 * timeouts, 429 and 5xx, with exponential backoff and full jitter, waiting
 * `Retry-After` when the server sends one. POST and PATCH are never retried
 * blindly: only when the request carries an idempotency key.
 *
 * @param client Anything with the client's `request` method.
 * @param req The request.
 * @param policy Retry count, delays and injectable randomness and clock.
 * @returns The last response (possibly still a 5xx once retries ran out).
 * @throws The last error when retries ran out or the request is not retryable.
 *
 * @example Retry a GET up to three times
 * ```ts ignore
 * import { RestClient, withRetry } from "@sluice/net";
 * const client = await RestClient.connect("http://127.0.0.1:8080");
 * const res = await withRetry(client, { method: "GET", path: "/flaky" }, { retries: 3 });
 * console.log(res.status);
 * ```
 */
export async function withRetry(
  client: { request(req: RestRequest): Promise<RestResponse> },
  req: RestRequest,
  policy: RetryPolicy = {},
): Promise<RestResponse> {
  const retries = policy.retries ?? 2;
  if (!Number.isSafeInteger(retries) || retries < 0) {
    throw new RangeError(`retries must be a non-negative integer: got ${retries}`);
  }
  for (let attempt = 1;; attempt++) {
    let outcome: AttemptOutcome;
    try {
      outcome = { response: await client.request(req) };
    } catch (error) {
      outcome = { error };
    }
    const delay = retryDelay(req, attempt, outcome, policy);
    if (delay === null) {
      if ("error" in outcome) throw outcome.error;
      return outcome.response;
    }
    if ("response" in outcome) await outcome.response.discard();
    policy.onRetry?.(attempt, delay, "error" in outcome ? outcome.error : outcome.response);
    await sleep(delay, req.signal);
  }
}
