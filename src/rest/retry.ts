/**
 * Safe automatic retries for the REST client: only idempotent requests (or
 * ones carrying an idempotency key), only on transport failures and 5xx/429,
 * paced by the same {@link RetryStrategy} objects the WebSocket client takes,
 * and by `Retry-After`.
 *
 * @module
 */
import { type Clock, sleep } from "../common/clock.ts";
import {
  exponentialBackoff,
  type RetryFunction,
  type RetryStrategy,
  toRetryStrategy,
} from "../common/retry.ts";
import { HttpParseError, SluiceError } from "../core/errors.ts";
import { isIdempotentMethod } from "./client.ts";
import { checkClock, type RestRequest } from "./options.ts";
import type { RestResponse } from "./response.ts";

/**
 * Options for {@link withRetry} and {@link retryDelay}. Every field is optional.
 *
 * @example Three retries at most, one second apart, waiting up to a minute on Retry-After
 * ```ts
 * import { fixedDelay, type RetryPolicy } from "@sluice/net";
 * const policy: RetryPolicy = {
 *   strategy: fixedDelay(1_000, { maxAttempts: 4 }),
 *   maxRetryAfterMs: 60_000,
 *   onRetry: (attempt, delayMs) => console.log(`retry ${attempt} in ${delayMs} ms`),
 * };
 * ```
 */
export interface RetryPolicy {
  /**
   * Paces the retries and decides when to give up: asked with the attempt
   * number (1 after the first attempt), the error or the response, and the
   * ms elapsed on `clock` since the first attempt started; `null` ends.
   * @default exponentialBackoff({ initialMs: 100, maxMs: 5_000, factor: 2, jitter: "full", maxAttempts: 3 })
   */
  strategy?: RetryStrategy | RetryFunction;
  /** A `Retry-After` longer than this is not waited for: the response is returned. @default 30000 */
  maxRetryAfterMs?: number;
  /** Field whose presence makes a POST or PATCH retryable (RFC draft "Idempotency-Key"). @default "idempotency-key" */
  idempotencyKeyHeader?: string;
  /** The clock for the sleeps, the elapsed time and HTTP-date `Retry-After` values. @default systemClock */
  clock?: Clock;
  /** Called before each retry with the attempt number (1 = first retry), the delay and the reason. */
  onRetry?: (attempt: number, delayMs: number, reason: RestResponse | unknown) => void;
}

/**
 * A finished attempt: its number (1 for the first), the ms elapsed since the
 * first one started, and what it produced.
 */
export type AttemptOutcome =
  & { attempt: number; elapsedMs: number }
  & ({ response: RestResponse } | { error: unknown });

/**
 * Two retries after the first attempt: 100 ms, then 200 ms, capped at 5 s,
 * full jitter. Stateless, so one object serves every call.
 */
const DEFAULT_STRATEGY = exponentialBackoff({ initialMs: 100, maxMs: 5_000, factor: 2, maxAttempts: 3 });

/** A {@link RetryPolicy} with its defaults filled in and checked. */
interface Resolved {
  strategy: RetryStrategy;
  maxRetryAfterMs: number;
  idempotencyKeyHeader: string;
  clock: Clock;
  onRetry: RetryPolicy["onRetry"];
}

function resolve(policy: RetryPolicy): Resolved {
  const maxRetryAfterMs = policy.maxRetryAfterMs ?? 30_000;
  if (typeof maxRetryAfterMs !== "number" || !Number.isFinite(maxRetryAfterMs) || maxRetryAfterMs < 0) {
    throw new RangeError(`maxRetryAfterMs must be a finite number of ms >= 0: got ${String(maxRetryAfterMs)}`);
  }
  const idempotencyKeyHeader = policy.idempotencyKeyHeader ?? "idempotency-key";
  if (typeof idempotencyKeyHeader !== "string" || idempotencyKeyHeader === "") {
    throw new TypeError(`idempotencyKeyHeader must be a field name: got ${JSON.stringify(idempotencyKeyHeader)}`);
  }
  if (policy.onRetry !== undefined && typeof policy.onRetry !== "function") {
    throw new TypeError(`onRetry must be a function: got ${typeof policy.onRetry}`);
  }
  return {
    strategy: policy.strategy === undefined ? DEFAULT_STRATEGY : toRetryStrategy(policy.strategy),
    maxRetryAfterMs,
    idempotencyKeyHeader,
    clock: checkClock(policy.clock),
    onRetry: policy.onRetry,
  };
}

/** Statuses worth retrying: 429 and 5xx except 501 and 505, which will not change. */
function retryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

// Transport failures and timeouts (a response cut short is a ConnectionClosed);
// not malformed responses, nor misuse of a closed client or a read body.
function retryableError(err: unknown): boolean {
  if (!(err instanceof SluiceError) || err instanceof HttpParseError) return false;
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

function decide(req: RestRequest, outcome: AttemptOutcome, p: Resolved): number | null {
  if (req.signal?.aborted) return null;
  // A stream body was consumed by the first attempt and cannot be replayed.
  const body = req.body as { getReader?: unknown } | undefined;
  if (typeof body === "object" && body !== null && typeof body.getReader === "function") return null;
  if (!isIdempotentMethod(req.method) && !hasHeader(req.headers, p.idempotencyKeyHeader)) return null;
  const reason = "error" in outcome ? outcome.error : outcome.response;
  if ("error" in outcome ? !retryableError(outcome.error) : !retryableStatus(outcome.response.status)) return null;
  // The strategy decides whether to go on, even when the server says when.
  const delay = p.strategy.nextDelay(outcome.attempt, reason, outcome.elapsedMs);
  if (delay === null) return null;
  if (typeof delay !== "number" || !Number.isFinite(delay) || delay < 0) {
    throw new RangeError(`the retry strategy must return a finite delay in ms >= 0 or null: got ${String(delay)}`);
  }
  if ("error" in outcome) return delay;
  const after = parseRetryAfter(outcome.response.headers.get("retry-after"), p.clock.now());
  if (after === null) return delay;
  return after <= p.maxRetryAfterMs ? after : null;
}

/**
 * Decides whether and when to retry: the pure rule behind {@link withRetry}.
 * Only idempotent methods, or requests carrying the idempotency key field,
 * are retried; only after a transport failure, a timeout, 429 or a 5xx other
 * than 501 and 505. Then the strategy is asked; when it goes on, a
 * `Retry-After` (up to `maxRetryAfterMs`) replaces its delay.
 *
 * @param req The request.
 * @param outcome The attempt number, the elapsed time and the response or error.
 * @param policy The strategy, limits and clock.
 * @returns The delay in ms before the next attempt, or null to stop.
 * @throws {TypeError|RangeError} On an invalid policy, or a strategy returning a bad delay.
 *
 * @example POST is not retried without an idempotency key
 * ```ts
 * import { exponentialBackoff, retryDelay, SluiceError } from "@sluice/net";
 * const error = new SluiceError("IO_ERROR", "reset", { retryable: true });
 * const strategy = exponentialBackoff({ initialMs: 100, maxAttempts: 3, random: () => 0.5 });
 * retryDelay({ method: "POST" }, { attempt: 1, elapsedMs: 0, error }, { strategy }); // null
 * retryDelay({ method: "GET" }, { attempt: 1, elapsedMs: 0, error }, { strategy }); // 50
 * ```
 */
export function retryDelay(req: RestRequest, outcome: AttemptOutcome, policy: RetryPolicy = {}): number | null {
  return decide(req, outcome, resolve(policy));
}

/**
 * Sends a request with retries per {@link retryDelay}: idempotent methods
 * (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) are retried on transport errors
 * (a response cut short included), timeouts, 429 and 5xx, paced by the
 * strategy, waiting `Retry-After` when the server sends one. POST and PATCH
 * are never retried blindly: only when the request carries an idempotency key.
 *
 * @param client Anything with the client's `request` method.
 * @param req The request.
 * @param policy The strategy, `Retry-After` cap, idempotency key field, clock and `onRetry`.
 * @returns The last response (possibly still a 5xx once the strategy gave up).
 * @throws The last error when the strategy gave up or the request is not retryable.
 * @throws {TypeError|RangeError} On an invalid policy.
 *
 * @example Up to five attempts with the "fast" backoff preset
 * ```ts ignore
 * import { BackoffPresets, exponentialBackoff, RestClient, withRetry } from "@sluice/net";
 * const client = await RestClient.connect("http://127.0.0.1:8080");
 * const strategy = exponentialBackoff({ ...BackoffPresets.fast, maxAttempts: 5 });
 * const res = await withRetry(client, { method: "GET", path: "/flaky" }, { strategy });
 * console.log(res.status);
 * ```
 *
 * @example A hand-written strategy: 250 ms apart, for at most 10 s
 * ```ts ignore
 * import { RestClient, withRetry } from "@sluice/net";
 * const client = await RestClient.connect("http://127.0.0.1:8080");
 * const res = await withRetry(client, { method: "PUT", path: "/items/1", body: "x" }, {
 *   strategy: (_attempt, _reason, elapsedMs) => (elapsedMs < 10_000 ? 250 : null),
 *   onRetry: (attempt, delayMs) => console.log(`retry ${attempt} in ${delayMs} ms`),
 * });
 * console.log(res.status);
 * ```
 */
export async function withRetry(
  client: { request(req: RestRequest): Promise<RestResponse> },
  req: RestRequest,
  policy: RetryPolicy = {},
): Promise<RestResponse> {
  const p = resolve(policy);
  const start = p.clock.now();
  for (let attempt = 1;; attempt++) {
    let outcome: AttemptOutcome;
    try {
      outcome = { attempt, elapsedMs: 0, response: await client.request(req) };
    } catch (error) {
      outcome = { attempt, elapsedMs: 0, error };
    }
    outcome.elapsedMs = p.clock.now() - start;
    const delay = decide(req, outcome, p);
    if (delay === null) {
      if ("error" in outcome) throw outcome.error;
      return outcome.response;
    }
    if ("response" in outcome) await outcome.response.discard();
    p.onRetry?.(attempt, delay, "error" in outcome ? outcome.error : outcome.response);
    await sleep(delay, p.clock, req.signal);
  }
}
