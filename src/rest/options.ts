/**
 * The REST client's options and per-request settings, and their validation:
 * done once, up front, with messages naming the bad value.
 *
 * Units are in the names (`…Ms`, `…Bytes`); every timeout takes `0` for
 * "no limit", and a negative, NaN or infinite one is a `RangeError`.
 *
 * @module
 */
import { type Clock, systemClock } from "../common/clock.ts";
import type { HeadLimits } from "../core/http1/head.ts";
import type { BodyInit, HeaderInit, QueryInit } from "../core/http1/request_writer.ts";
import type { ClientTlsOptions, Transport } from "../transports/mod.ts";

/**
 * Options for {@link RestClient.connect}. Validated once, then frozen.
 *
 * @example A pipelined pool with a short connect limit and no read limit
 * ```ts
 * import type { RestClientOptions } from "@sluice/net";
 * const options: RestClientOptions = {
 *   connectTimeoutMs: 2_000,
 *   readTimeoutMs: 0,
 *   maxConnections: 4,
 *   maxInFlightRequestsPerConnection: 8,
 *   maxBodyBytes: 8 * 1024 * 1024,
 * };
 * ```
 */
export interface RestClientOptions extends Partial<HeadLimits> {
  /** TLS: `true` or options; defaults to on for `https:` URLs. @default by URL scheme */
  tls?: boolean | ClientTlsOptions;
  /** Disable Nagle's algorithm so small requests go out at once. @default true */
  noDelay?: boolean;
  /** Limit for TCP connect plus TLS handshake, in ms; 0: no limit. @default 10000 */
  connectTimeoutMs?: number;
  /** Longest wait for response bytes while a response is due, in ms; 0: no limit. @default 30000 */
  readTimeoutMs?: number;
  /** Fields sent with every request. @default {} */
  defaultHeaders?: HeaderInit;
  /** Largest response body accepted, in bytes. @default 67108864 (64 MiB) */
  maxBodyBytes?: number;
  /** Bodies of known length up to this many bytes are read before the response is returned; larger ones stream. @default 1048576 */
  maxBufferedBodyBytes?: number;
  /** Requests in flight on one connection, the one being answered included (1: no pipelining). @default 1 */
  maxInFlightRequestsPerConnection?: number;
  /** Most connections open to the origin at once (a small pool for concurrency). @default 1 */
  maxConnections?: number;
  /** The transport adapter to use instead of the runtime's. @default detected */
  transport?: Transport;
  /** The clock behind the connect and read timeouts (inject a manual one in tests). @default systemClock */
  clock?: Clock;
}

/** One request. */
export interface RestRequest {
  /** The method, such as "GET". */
  method: string;
  /** The path after the base URL's path, such as "/items/1". @default "/" */
  path?: string;
  /** Query parameters, percent-encoded. */
  query?: QueryInit;
  /** Fields for this request, after the default ones. */
  headers?: HeaderInit;
  /** The body: text, bytes, `{ json }`, or a stream (sent chunked, never retried). */
  body?: BodyInit;
  /** Aborts the request (closing its connection if the exchange had started). */
  signal?: AbortSignal;
  /** Overrides the client's `readTimeoutMs` for this request, in ms; 0: no limit. */
  readTimeoutMs?: number;
}

/** The client's options once validated. */
export interface ResolvedRestOptions {
  readonly hostname: string;
  readonly port: number;
  readonly tls: boolean | ClientTlsOptions;
  readonly noDelay: boolean;
  readonly connectTimeoutMs: number;
  readonly readTimeoutMs: number;
  readonly maxInFlightRequestsPerConnection: number;
  readonly maxConnections: number;
  readonly transport: Transport | undefined;
  readonly clock: Clock;
  readonly codec: {
    readonly maxBodySize: number;
    readonly maxHeaderBytes: number | undefined;
    readonly maxHeaderCount: number | undefined;
    readonly maxBufferedBodyBytes: number;
  };
}

/**
 * Checks a timeout: a finite number of ms ≥ 0, where 0 means no limit.
 *
 * @param name The option, for the message.
 * @param value The value given, or undefined.
 * @param fallback The default.
 * @returns The timeout in ms (0: no limit).
 * @throws {RangeError} On a negative, NaN or infinite value, or a non-number.
 */
export function timeoutMs(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a finite number of ms >= 0 (use 0 for no limit): got ${String(value)}`);
  }
  return value;
}

/**
 * Checks a count or a size: an integer ≥ `min`.
 *
 * @param name The option, for the message.
 * @param value The value given, or undefined.
 * @param fallback The default.
 * @param min The least value allowed.
 * @returns The value.
 * @throws {RangeError} When it is not a safe integer ≥ `min`.
 */
export function atLeast(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}: got ${String(value)}`);
  }
  return value;
}

/**
 * Checks an injected clock.
 *
 * @param clock The clock given, or undefined.
 * @returns The clock, or {@link systemClock}.
 * @throws {TypeError} When it lacks `now`, `setTimeout` or `clearTimeout`.
 */
export function checkClock(clock: Clock | undefined): Clock {
  if (clock === undefined) return systemClock;
  const c = clock as Partial<Clock> | null;
  if (
    typeof c !== "object" || c === null || typeof c.now !== "function" ||
    typeof c.setTimeout !== "function" || typeof c.clearTimeout !== "function"
  ) {
    throw new TypeError(`clock must have now, setTimeout and clearTimeout: got ${String(clock)}`);
  }
  return clock;
}

/**
 * Validates the client's options against its base URL.
 *
 * @param url The parsed base URL.
 * @param options The options.
 * @returns The frozen settings.
 * @throws {TypeError} On a bad URL or clock.
 * @throws {RangeError} On an out-of-range number.
 */
export function resolveRestOptions(url: URL, options: RestClientOptions): ResolvedRestOptions {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`baseUrl must be http: or https:: got ${JSON.stringify(url.protocol)}`);
  }
  if (url.search || url.hash || url.username) {
    throw new TypeError(`baseUrl must not have a query, fragment or credentials: got ${url.href}`);
  }
  const secure = url.protocol === "https:";
  return Object.freeze({
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port ? Number(url.port) : secure ? 443 : 80,
    tls: options.tls ?? secure,
    noDelay: options.noDelay ?? true,
    connectTimeoutMs: timeoutMs("connectTimeoutMs", options.connectTimeoutMs, 10_000),
    readTimeoutMs: timeoutMs("readTimeoutMs", options.readTimeoutMs, 30_000),
    maxInFlightRequestsPerConnection: atLeast(
      "maxInFlightRequestsPerConnection",
      options.maxInFlightRequestsPerConnection,
      1,
      1,
    ),
    maxConnections: atLeast("maxConnections", options.maxConnections, 1, 1),
    transport: options.transport,
    clock: checkClock(options.clock),
    codec: Object.freeze({
      maxBodySize: atLeast("maxBodyBytes", options.maxBodyBytes, 64 * 1024 * 1024, 1),
      maxHeaderBytes: options.maxHeaderBytes,
      maxHeaderCount: options.maxHeaderCount,
      maxBufferedBodyBytes: atLeast("maxBufferedBodyBytes", options.maxBufferedBodyBytes, 1 << 20, 0),
    }),
  });
}
