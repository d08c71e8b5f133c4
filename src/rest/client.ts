/**
 * {@link RestClient}: HTTP/1.1 requests to one origin over warm keep-alive
 * connections, on Deno, Bun and Node.
 *
 * @module
 */
import { ConnectionStale, SluiceError } from "../core/errors.ts";
import type { HeadLimits } from "../core/http1/head.ts";
import {
  type BodyInit,
  type EncodedRequest,
  type HeaderInit,
  type QueryInit,
  RequestWriter,
} from "../core/http1/request_writer.ts";
import { connect } from "../transports/mod.ts";
import type { ClientTlsOptions, Transport } from "../transports/mod.ts";
import { RestConnection } from "./connection.ts";
import type { SendOptions } from "./exchange.ts";
import type { RestResponse } from "./response.ts";

/** Options for {@link RestClient.connect}. Validated once, then frozen. */
export interface RestClientOptions extends Partial<HeadLimits> {
  /** TLS: `true` or options; defaults to on for `https:` URLs. @default by URL scheme */
  tls?: boolean | ClientTlsOptions;
  /** Disable Nagle's algorithm so small requests go out at once. @default true */
  noDelay?: boolean;
  /** Limit for TCP connect plus TLS handshake, in ms. @default 10000 */
  connectTimeout?: number;
  /** Longest wait for response bytes while a response is due, in ms; 0 disables. @default 30000 */
  readTimeout?: number;
  /** Fields sent with every request. @default {} */
  defaultHeaders?: HeaderInit;
  /** Largest response body accepted, in bytes. @default 67108864 (64 MiB) */
  maxBodySize?: number;
  /** Bodies of known length up to this size are read before the response is returned; larger ones stream. @default 1048576 */
  bufferBodyBytes?: number;
  /** Requests in flight per connection (1: no pipelining). @default 1 */
  pipeline?: number;
  /** Most connections to the origin (a small pool for concurrency). @default 1 */
  connections?: number;
  /** The transport adapter to use instead of the runtime's. @default detected */
  transport?: Transport;
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
  /** Overrides the client's `readTimeout` for this request, in ms. */
  readTimeout?: number;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]);

/**
 * Whether a method is idempotent (RFC 9110 §9.2.2): repeating it has the same
 * effect as sending it once.
 *
 * @param method The request method.
 * @returns True for GET, HEAD, PUT, DELETE, OPTIONS and TRACE.
 *
 * @example
 * ```ts
 * import { isIdempotentMethod } from "@sluice/net";
 * isIdempotentMethod("PUT"); // true
 * isIdempotentMethod("POST"); // false
 * ```
 */
export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT.has(method.toUpperCase());
}

function posInt(name: string, v: number | undefined, def: number, min = 1): number {
  if (v === undefined) return def;
  if (!Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`${name} must be an integer ≥ ${min}: got ${v}`);
  }
  return v;
}

interface Resolved {
  hostname: string;
  port: number;
  tls: boolean | ClientTlsOptions;
  noDelay: boolean;
  connectTimeout: number;
  readTimeout: number;
  pipeline: number;
  connections: number;
  transport: Transport | undefined;
  codec: {
    maxBodySize: number;
    maxHeaderBytes: number | undefined;
    maxHeaderCount: number | undefined;
    bufferBodyBytes: number;
  };
}

/**
 * A REST client for one origin. Requests reuse one warm keep-alive connection
 * (or a small pool, and optional pipelining); a connection the server closed
 * while idle is replaced transparently and the request resent once, which is
 * safe even for POST since the server never saw it (`ConnectionStale`).
 *
 * Other failures reject with typed errors that say whether a retry is safe
 * (`retryable`): `TimeoutError` (`CONNECT_TIMEOUT`, `READ_TIMEOUT`),
 * `ConnectionClosed`, `ConnectionPoisoned` (an earlier failure broke the
 * connection mid-request; the next call reconnects), `HttpParseError` for a
 * malformed response, and `SluiceError` `IO_ERROR`. See `withRetry` for
 * automatic retries.
 *
 * @example GET and POST JSON
 * ```ts ignore
 * import { RestClient } from "@sluice/net";
 * const client = await RestClient.connect("http://127.0.0.1:8080/api", { readTimeout: 5_000 });
 * const list = await client.request({ method: "GET", path: "/items", query: { limit: 10 } });
 * console.log(list.status, await list.json());
 * await client.request({ method: "POST", path: "/items", body: { json: { name: "x" } } });
 * await client.close();
 * ```
 */
export class RestClient {
  readonly #o: Resolved;
  readonly #writer: RequestWriter;
  readonly #pool: RestConnection[] = [];
  #opening = 0;
  #waiters: (() => void)[] = [];
  #closed = false;

  private constructor(o: Resolved, writer: RequestWriter) {
    this.#o = o;
    this.#writer = writer;
  }

  /**
   * Validates options and opens the first connection, so the first request
   * does not pay for the handshake.
   *
   * @param baseUrl `http://host[:port][/base/path]` or `https://…`.
   * @param options Connection, timeout, limit and pool settings.
   * @returns A connected client.
   * @throws {TypeError} On an invalid URL or option.
   * @throws {RangeError} On an out-of-range number.
   * @throws {TimeoutError} `CONNECT_TIMEOUT` when the connection is not up in time.
   * @throws {ConnectionClosed} When the connection is refused or fails.
   */
  static async connect(baseUrl: string | URL, options: RestClientOptions = {}): Promise<RestClient> {
    const url = new URL(baseUrl);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(`baseUrl must be http: or https:: got ${JSON.stringify(url.protocol)}`);
    }
    if (url.search || url.hash || url.username) {
      throw new TypeError(`baseUrl must not have a query, fragment or credentials: got ${url.href}`);
    }
    const secure = url.protocol === "https:";
    const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const o: Resolved = {
      hostname,
      port: url.port ? Number(url.port) : secure ? 443 : 80,
      tls: options.tls ?? secure,
      noDelay: options.noDelay ?? true,
      connectTimeout: posInt("connectTimeout", options.connectTimeout, 10_000),
      readTimeout: posInt("readTimeout", options.readTimeout, 30_000, 0),
      pipeline: posInt("pipeline", options.pipeline, 1),
      connections: posInt("connections", options.connections, 1),
      transport: options.transport,
      codec: {
        maxBodySize: posInt("maxBodySize", options.maxBodySize, 64 * 1024 * 1024),
        maxHeaderBytes: options.maxHeaderBytes,
        maxHeaderCount: options.maxHeaderCount,
        bufferBodyBytes: posInt("bufferBodyBytes", options.bufferBodyBytes, 1 << 20, 0),
      },
    };
    const writer = new RequestWriter({
      host: url.host,
      basePath: url.pathname === "/" ? "" : url.pathname,
      defaultHeaders: options.defaultHeaders,
    });
    const client = new RestClient(Object.freeze(o), writer);
    client.#pool.push(await client.#open());
    return client;
  }

  /** Connections currently open (for tests and metrics). */
  get connectionCount(): number {
    return this.#pool.filter((c) => c.alive).length;
  }

  async #open(signal?: AbortSignal): Promise<RestConnection> {
    const o = this.#o;
    this.#opening++;
    try {
      const conn = await connect({
        hostname: o.hostname,
        port: o.port,
        tls: o.tls,
        noDelay: o.noDelay,
        connectTimeout: o.connectTimeout,
        signal,
        transport: o.transport,
      });
      return new RestConnection(conn, { ...o.codec, onSlot: () => this.#wake() });
    } catch (e) {
      throw e instanceof SluiceError || (signal?.aborted && e === signal.reason) ? e : new SluiceError(
        "IO_ERROR",
        `could not connect: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e, retryable: true },
      );
    } finally {
      this.#opening--;
    }
  }

  #wake(): void {
    const w = this.#waiters.shift();
    if (w) w();
  }

  // Picks a live connection with a free pipeline slot: an idle one first,
  // then null when the pool may still grow, else the least busy one.
  #pick(): RestConnection | "open" | null {
    if (this.#closed) throw new SluiceError("CLIENT_CLOSED", "the client was closed");
    for (let i = this.#pool.length - 1; i >= 0; i--) {
      const c = this.#pool[i]!;
      if (!c.alive && c.inFlight === 0) {
        this.#pool.splice(i, 1);
        c.close();
      }
    }
    let best: RestConnection | null = null;
    for (const c of this.#pool) {
      if (c.alive && c.inFlight < this.#o.pipeline && (best === null || c.inFlight < best.inFlight)) best = c;
    }
    if (best !== null && best.inFlight === 0) return best;
    if (this.#pool.length + this.#opening < this.#o.connections) return "open";
    return best;
  }

  #waitSlot(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  // Sends on a connection with a free slot. Picking and sending happen in one
  // synchronous step, so concurrent calls never overfill a connection. A free
  // connection is used without an async frame of its own.
  #sendOnce(enc: EncodedRequest, opts: SendOptions): Promise<RestResponse> {
    const picked = this.#pick();
    if (picked instanceof RestConnection) return picked.send(enc, opts);
    return this.#sendLater(enc, opts, picked);
  }

  async #sendLater(
    enc: EncodedRequest,
    opts: SendOptions,
    picked: RestConnection | "open" | null,
  ): Promise<RestResponse> {
    for (;; picked = this.#pick()) {
      if (picked instanceof RestConnection) return await picked.send(enc, opts);
      if (picked === "open") {
        const conn = await this.#open(opts.signal);
        if (this.#closed) {
          conn.close();
          throw new SluiceError("CLIENT_CLOSED", "the client was closed");
        }
        this.#pool.push(conn);
        return await conn.send(enc, opts);
      }
      await this.#waitSlot(opts.signal);
    }
  }

  /**
   * Sends a request and resolves with the response once its head (and a small
   * body) arrived.
   *
   * @param req Method, path, query, fields, body, signal and timeout.
   * @returns The response.
   * @throws {TypeError} On an invalid method, path, field or body.
   * @throws {TimeoutError} `READ_TIMEOUT` or `CONNECT_TIMEOUT`.
   * @throws {ConnectionClosed} When the connection closed or failed.
   * @throws {ConnectionPoisoned} When an earlier failure broke the connection mid-request.
   * @throws {HttpParseError} When the response is malformed.
   */
  async request(req: RestRequest): Promise<RestResponse> {
    const enc = this.#writer.request(req.method, req);
    const readTimeout = req.readTimeout === undefined
      ? this.#o.readTimeout
      : posInt("readTimeout", req.readTimeout, 0, 0);
    const opts: SendOptions = { readTimeout, idempotent: isIdempotentMethod(enc.method), signal: req.signal };
    req.signal?.throwIfAborted();
    for (let attempt = 0;; attempt++) {
      try {
        return await this.#sendOnce(enc, opts);
      } catch (e) {
        // Stale: the server never saw the request, so one resend is safe for
        // any method; a stream body cannot be replayed.
        if (e instanceof ConnectionStale && attempt === 0 && enc.stream === null) continue;
        throw e;
      }
    }
  }

  /**
   * Closes every connection; requests in flight fail.
   *
   * @returns Once the sockets are closed.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const pool = this.#pool.splice(0);
    for (const c of pool) c.close();
    for (const w of this.#waiters.splice(0)) w();
    await Promise.all(pool.map((c) => c.closed));
  }
}
