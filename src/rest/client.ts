/**
 * {@link RestClient}: HTTP/1.1 requests to one origin over warm keep-alive
 * connections, on Deno, Bun and Node.
 *
 * @module
 */
import { withTimeout } from "../common/clock.ts";
import { ConnectionStale, SluiceError } from "../core/errors.ts";
import { type EncodedRequest, RequestWriter } from "../core/http1/request_writer.ts";
import { type Connection, connect } from "../transports/mod.ts";
import { RestConnection } from "./connection.ts";
import type { SendOptions } from "./exchange.ts";
import {
  resolveRestOptions,
  type ResolvedRestOptions,
  type RestClientOptions,
  type RestRequest,
  timeoutMs,
} from "./options.ts";
import type { RestResponse } from "./response.ts";

/**
 * The transport's own connect deadline, left at the longest timer delay
 * (about 24.8 days): the client enforces `connectTimeoutMs` on its clock.
 */
const TRANSPORT_DEADLINE_MS = 2_147_483_647;

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

/**
 * A REST client for one origin. Requests reuse one warm keep-alive connection
 * (or a small pool, and optional pipelining); a connection the server closed
 * while idle is replaced transparently and the request resent once, which is
 * safe even for POST since the server never saw it (`ConnectionStale`).
 *
 * Other failures reject with typed errors that say whether a retry is safe
 * (`retryable`): `TimeoutError` (`CONNECT_TIMEOUT`, `READ_TIMEOUT`),
 * `ConnectionClosed` (also when the server closes the connection in the
 * middle of a response: its `cause` is the `HttpParseError`
 * `HTTP_INCOMPLETE_MESSAGE`, and its message names the request and how much
 * of the body arrived), `ConnectionPoisoned` (an earlier failure broke the
 * connection mid-request; the next call reconnects), `HttpParseError` for a
 * malformed response, and `SluiceError` `IO_ERROR`. See `withRetry` for
 * automatic retries.
 *
 * @example GET and POST JSON
 * ```ts ignore
 * import { RestClient } from "@sluice/net";
 * const client = await RestClient.connect("http://127.0.0.1:8080/api", { readTimeoutMs: 5_000 });
 * const list = await client.request({ method: "GET", path: "/items", query: { limit: 10 } });
 * console.log(list.status, await list.json());
 * await client.request({ method: "POST", path: "/items", body: { json: { name: "x" } } });
 * await client.close();
 * ```
 *
 * @example A pool of pipelined connections, no read limit for one slow call
 * ```ts ignore
 * import { RestClient } from "@sluice/net";
 * const client = await RestClient.connect("http://127.0.0.1:8080", {
 *   maxConnections: 4,
 *   maxInFlightRequestsPerConnection: 8,
 *   connectTimeoutMs: 2_000,
 * });
 * const report = await client.request({ method: "GET", path: "/report", readTimeoutMs: 0 });
 * console.log(report.status);
 * await client.close();
 * ```
 */
export class RestClient {
  readonly #o: ResolvedRestOptions;
  readonly #writer: RequestWriter;
  readonly #pool: RestConnection[] = [];
  #opening = 0;
  #waiters: (() => void)[] = [];
  #closed = false;

  private constructor(o: ResolvedRestOptions, writer: RequestWriter) {
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
   * @throws {RangeError} On an out-of-range number, such as a negative, NaN
   *   or infinite timeout (0 means no limit).
   * @throws {TimeoutError} `CONNECT_TIMEOUT` when the connection is not up within `connectTimeoutMs`.
   * @throws {ConnectionClosed} When the connection is refused or fails.
   */
  static async connect(baseUrl: string | URL, options: RestClientOptions = {}): Promise<RestClient> {
    const url = new URL(baseUrl);
    const o = resolveRestOptions(url, options);
    const writer = new RequestWriter({
      host: url.host,
      basePath: url.pathname === "/" ? "" : url.pathname,
      defaultHeaders: options.defaultHeaders,
    });
    const client = new RestClient(o, writer);
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
      const conn = await this.#connect(signal);
      return new RestConnection(conn, { ...o.codec, clock: o.clock, onSlot: () => this.#wake() });
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

  // TCP connect plus TLS handshake, bounded by connectTimeoutMs on the
  // client's clock (0: only the signal ends it).
  #connect(signal: AbortSignal | undefined): Promise<Connection> {
    const o = this.#o;
    const open = (s: AbortSignal | undefined) =>
      connect({
        hostname: o.hostname,
        port: o.port,
        tls: o.tls,
        noDelay: o.noDelay,
        connectTimeout: TRANSPORT_DEADLINE_MS,
        signal: s,
        transport: o.transport,
      });
    if (o.connectTimeoutMs === 0) return open(signal);
    const where = o.hostname.includes(":") ? `[${o.hostname}]:${o.port}` : `${o.hostname}:${o.port}`;
    return withTimeout(open, o.connectTimeoutMs, {
      clock: o.clock,
      code: "CONNECT_TIMEOUT",
      what: `connecting to ${where} (${o.tls === false ? "" : "TCP connect plus TLS handshake, "}connectTimeoutMs)`,
      ...(signal === undefined ? {} : { signal }),
    });
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
      if (
        c.alive && c.inFlight < this.#o.maxInFlightRequestsPerConnection &&
        (best === null || c.inFlight < best.inFlight)
      ) best = c;
    }
    if (best !== null && best.inFlight === 0) return best;
    if (this.#pool.length + this.#opening < this.#o.maxConnections) return "open";
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
   * @throws {RangeError} On a negative, NaN or infinite `readTimeoutMs`.
   * @throws {TimeoutError} `READ_TIMEOUT` or `CONNECT_TIMEOUT`.
   * @throws {ConnectionClosed} When the connection closed or failed, also in
   *   the middle of the response (`cause`: the `HTTP_INCOMPLETE_MESSAGE` error).
   * @throws {ConnectionPoisoned} When an earlier failure broke the connection mid-request.
   * @throws {HttpParseError} When the response is malformed.
   */
  async request(req: RestRequest): Promise<RestResponse> {
    const enc = this.#writer.request(req.method, req);
    const opts: SendOptions = {
      method: enc.method,
      path: req.path ?? "/",
      readTimeoutMs: timeoutMs("readTimeoutMs", req.readTimeoutMs, this.#o.readTimeoutMs),
      idempotent: isIdempotentMethod(enc.method),
      signal: req.signal,
    };
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
