/**
 * Plain HTTP/1.1 on the WebSocket server's port: requests that are not
 * upgrades go to a `fetch(request)` handler with Web-standard `Request` and
 * `Response`, over keep-alive connections, every head, body and wait bounded.
 *
 * @module
 */
import { ConnectionClosed, HttpParseError, TimeoutError } from "../core/errors.ts";
import { encodeChunk, LAST_CHUNK } from "../core/http1/chunked.ts";
import type { RequestHead } from "../core/http1/head.ts";
import type { HeadEvent } from "../core/http1/message_reader.ts";
import { isUpgradeRequest, RequestReader } from "../core/http1/request_reader.ts";
import { buildResponseHead, isBodylessStatus, type ResponseBody } from "../core/http1/response_writer.ts";
import type { ChunkIO, Connection, NetAddr } from "../transports/types.ts";
import { timeoutOption } from "../ws/deferred.ts";

/**
 * Where a request came from, for a {@link FetchHandler}.
 *
 * @example Log the client's address
 * ```ts
 * import type { FetchHandler } from "@sluice/net";
 * const fetch: FetchHandler = (req, info) => {
 *   console.log(req.method, req.url, "from", info.remoteAddr.hostname);
 *   return new Response("ok");
 * };
 * ```
 */
export interface FetchInfo {
  /** The client's address. */
  readonly remoteAddr: NetAddr;
}

/**
 * Answers a plain HTTP request (one that is not a WebSocket upgrade). The
 * request arrives with its whole body; its `signal` is aborted when the
 * connection ends (the server closing, the socket reset), so a long poll or a
 * streamed body can stop.
 *
 * @example A health route
 * ```ts
 * import type { FetchHandler } from "@sluice/net";
 * const fetch: FetchHandler = (req) =>
 *   new URL(req.url).pathname === "/health" ? new Response("ok") : new Response("no", { status: 404 });
 * ```
 */
export type FetchHandler = (request: Request, info: FetchInfo) => Response | Promise<Response>;

/**
 * Limits of the plain HTTP side of `serveWebSocket`.
 *
 * @example Small bodies, short waits
 * ```ts
 * import { serveWebSocket } from "@sluice/net";
 * const server = await serveWebSocket({
 *   port: 0,
 *   handler: () => {},
 *   fetch: async (req) => new Response(`got ${(await req.arrayBuffer()).byteLength} bytes`),
 *   maxRequestBodyBytes: 64 * 1024,
 *   keepAliveTimeoutMs: 2000,
 *   requestTimeoutMs: 5000,
 * });
 * await server.close();
 * ```
 */
export interface HttpOptions {
  /** Largest request body accepted, in bytes (413 past it; bodies are read whole before `fetch`). @default 1048576 */
  maxRequestBodyBytes?: number | undefined;
  /** How long a keep-alive connection may sit idle between requests (ms; 0 = no limit). @default 5000 */
  keepAliveTimeoutMs?: number | undefined;
  /** How long a whole request, head and body, may take to arrive from its first bytes (ms; 0 = no limit; 408 past it; a connection's first head is bounded by `handshakeTimeout`). @default 30000 */
  requestTimeoutMs?: number | undefined;
  /** Largest request head, in bytes (431 past it). @default 16384 */
  maxHeaderBytes?: number | undefined;
  /** Most header fields in a request (431 past it). @default 100 */
  maxHeaderCount?: number | undefined;
  /** Serve over TLS: request URLs are https://. @default plain */
  tls?: unknown;
}

/** {@link HttpOptions} with the defaults filled in, checked. */
export interface ResolvedHttpOptions {
  /** Largest request body, bytes (0: none accepted). */
  readonly maxRequestBodyBytes: number;
  /** Idle time allowed between requests, ms (0 or Infinity: no limit). */
  readonly keepAliveTimeoutMs: number;
  /** Time allowed for a whole request to arrive, ms (0 or Infinity: no limit). */
  readonly requestTimeoutMs: number;
  /** Largest request head, bytes. */
  readonly maxHeaderBytes: number;
  /** Most header fields in a request. */
  readonly maxHeaderCount: number;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer: got ${value}`);
  }
  return value;
}

/**
 * Checks the plain-HTTP limits once and fills in their defaults, so a server
 * can refuse bad options at start rather than fail every connection.
 *
 * @param options The limits.
 * @returns The limits, defaults filled in.
 * @throws {RangeError} Naming the first invalid option and its value.
 *
 * @example Check options up front
 * ```ts ignore
 * const limits = resolveHttpOptions({ maxRequestBodyBytes: 65536, keepAliveTimeoutMs: 10_000 });
 * console.log(limits.requestTimeoutMs); // 30000
 * resolveHttpOptions({ maxRequestBodyBytes: -1 }); // RangeError: maxRequestBodyBytes must be …
 * ```
 */
export function resolveHttpOptions(options: HttpOptions): ResolvedHttpOptions {
  const maxRequestBodyBytes = options.maxRequestBodyBytes ?? 1 << 20;
  if (!Number.isSafeInteger(maxRequestBodyBytes) || maxRequestBodyBytes < 0) {
    throw new RangeError(`maxRequestBodyBytes must be a non-negative integer: got ${maxRequestBodyBytes}`);
  }
  return Object.freeze({
    maxRequestBodyBytes,
    keepAliveTimeoutMs: timeoutOption("keepAliveTimeoutMs", options.keepAliveTimeoutMs, 5000),
    requestTimeoutMs: timeoutOption("requestTimeoutMs", options.requestTimeoutMs, 30_000),
    maxHeaderBytes: positive("maxHeaderBytes", options.maxHeaderBytes, 16384),
    maxHeaderCount: positive("maxHeaderCount", options.maxHeaderCount, 100),
  });
}

/** The upgrade request that ended plain HTTP on a connection, and the bytes after it. */
export interface UpgradeNext {
  head: RequestHead;
  rest: Uint8Array;
}

/** A response body up to this size is read whole and sent with Content-Length. */
const BUFFER_BODY_BYTES = 64 * 1024;
const encoder = new TextEncoder();
let dateCache = "";
let dateSecond = -1;

/** The Date field value (RFC 9110 §6.6.1), made at most once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateCache = new Date(now).toUTCString();
  }
  return dateCache;
}

/** Races a read against a timeout; on timeout the connection is closed (the read then ends). */
function readWithin(io: ChunkIO, ms: number): Promise<Uint8Array | null | "timeout"> {
  const read = io.read();
  if (ms === 0 || ms === Infinity) return read;
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), Math.min(ms, 0x7fffffff));
  });
  return Promise.race([read, timeout]).finally(() => clearTimeout(timer));
}

/** Writes `bytes`; false when the client is gone (not an error worth reporting). */
async function send(io: ChunkIO, bytes: Uint8Array): Promise<boolean> {
  if (bytes.length === 0) return true;
  try {
    await io.write(bytes);
    return true;
  } catch {
    return false;
  }
}

/** An error answer, closing the connection unless `keepAlive`. */
function errorResponse(status: number, text: string, keepAlive = false): Uint8Array {
  const body = encoder.encode(text);
  const head = buildResponseHead({
    status,
    headers: { "Content-Type": "text/plain;charset=UTF-8", Date: httpDate() },
    body: { length: body.length },
    keepAlive,
  });
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** Web `Headers` of a request head. */
function toHeaders(head: RequestHead): Headers {
  const h = new Headers();
  for (const [name, value] of head.headers) h.append(name, value);
  return h;
}

/**
 * Serves plain HTTP requests on `conn` until it closes, fails, goes idle, or
 * a request asks to upgrade (returned, with the bytes after it, for the
 * WebSocket handshake).
 *
 * Each request is read whole (head and body, within `requestTimeoutMs` in
 * total and the size limits) before `fetch` sees it; responses go out in
 * order, so pipelined requests are answered one after the other. A handler
 * that throws, or whose `Response` cannot be sent (status 0 from
 * `Response.error()`, a field the wire cannot carry, a body that fails before
 * its first bytes), answers 500 and is reported to `onError`; the connection
 * then goes on as keep-alive allows.
 *
 * @param conn The connection.
 * @param io Its chunk I/O.
 * @param first Bytes already read: the first request's head (checked) and what followed.
 * @param fetch The handler.
 * @param options Limits.
 * @param onError Told when the handler throws, returns something that is not a Response, or its body fails.
 * @param stopping Whether the server is shutting down (no more keep-alive).
 * @returns The upgrade request, or null when the connection is done (it is closed then).
 * @throws {RangeError} When an option is invalid (the connection is closed).
 *
 * @example Hand a connection over after its first request head (as `serveWebSocket({ fetch })` does)
 * ```ts ignore
 * const next = await serveHttp(conn, io, read.bytes, () => new Response("ok"), {}, console.error, () => false);
 * if (next !== null) await upgrade(conn, io, next.head, next.rest, acceptOptions);
 * ```
 */
export async function serveHttp(
  conn: Connection,
  io: ChunkIO,
  first: Uint8Array,
  fetch: FetchHandler,
  options: HttpOptions,
  onError: (error: unknown) => void,
  stopping: () => boolean,
): Promise<UpgradeNext | null> {
  let limits: ResolvedHttpOptions;
  let reader: RequestReader;
  try {
    limits = resolveHttpOptions(options);
    reader = new RequestReader({
      maxBodySize: Math.max(1, limits.maxRequestBodyBytes),
      maxHeaderBytes: limits.maxHeaderBytes,
      maxHeaderCount: limits.maxHeaderCount,
      bufferCapacity: 4096,
    });
  } catch (e) {
    conn.close();
    throw e;
  }
  // Aborted when the connection ends (client gone, server closing): each
  // request's `signal`, and what stops a response body that waits for data.
  const closed = new AbortController();
  void conn.closed.then(() => closed.abort());
  const maxBody = limits.maxRequestBodyBytes;
  const idleMs = limits.keepAliveTimeoutMs;
  const requestMs = limits.requestTimeoutMs;
  const scheme = options.tls ? "https" : "http";
  const limited = requestMs > 0 && requestMs !== Infinity;
  // When the request being read began (its first bytes): the whole of it,
  // head and body, must arrive within requestTimeoutMs of that — a client
  // trickling a byte at a time cannot stretch it. The first request's head is
  // already in.
  let started: number | null = Date.now();
  try {
    reader.push(first);
    for (;;) {
      // -- one request: its head, then its whole body (bounded)
      let head: HeadEvent<RequestHead> | null = null;
      const body: Uint8Array<ArrayBuffer>[] = [];
      let bodyBytes = 0;
      let ended = false;
      while (!ended) {
        const ev = reader.next();
        if (ev === null) {
          const idle = head === null && reader.idle;
          let waitMs = idleMs;
          if (!idle) {
            started ??= Date.now();
            waitMs = limited ? Math.max(1, started + requestMs - Date.now()) : 0;
          }
          const chunk = await readWithin(io, waitMs);
          if (chunk === "timeout") {
            if (head === null && reader.idle) return done(conn); // idle keep-alive: just close
            await send(io, errorResponse(408, "the request did not arrive in time"));
            return done(conn);
          }
          if (chunk === null) {
            reader.eof();
            if (head === null && reader.idle) return done(conn);
            continue;
          }
          reader.push(chunk);
          continue;
        }
        if (ev.type === "head") {
          head = ev;
          if (isUpgradeRequest(ev.head)) return { head: ev.head, rest: reader.detach() };
          if (ev.body !== "none" && maxBody === 0) {
            await send(io, errorResponse(413, "request bodies are not accepted here"));
            return done(conn);
          }
          const expect = ev.head.headers.get("expect");
          if (expect !== null && expect.toLowerCase() === "100-continue" && ev.body !== "none") {
            if (!(await send(io, buildResponseHead({ status: 100, body: "none" })))) return done(conn);
          }
        } else if (ev.type === "data") {
          bodyBytes += ev.data.length;
          body.push(ev.data.slice());
        } else if (ev.type === "end") ended = true;
      }
      const h = head!;
      const request = buildRequest(h.head, body, bodyBytes, scheme, conn, closed.signal);
      let prepared: Prepared;
      try {
        const response = await fetch(request, { remoteAddr: conn.remoteAddr });
        if (!(response instanceof Response)) {
          throw new TypeError(`fetch must return a Response: got ${describe(response)}`);
        }
        prepared = await prepareResponse(response, h.head, h.keepAlive && !stopping());
      } catch (e) {
        // Nothing of the response is sent yet: answer 500, and the request was
        // read whole, so the connection can carry on.
        onError(e);
        const keepAlive = h.keepAlive && !stopping();
        if (!(await send(io, errorResponse(500, "internal server error", keepAlive))) || !keepAlive) {
          return done(conn);
        }
        started = null;
        continue;
      }
      if (!(await sendPrepared(io, prepared, onError, closed.signal)) || !prepared.keepAlive) return done(conn);
      started = null;
    }
  } catch (e) {
    if (e instanceof HttpParseError) {
      await send(io, errorResponse(e.status || 400, e.message));
      return done(conn);
    }
    // A client gone (reset, closed) or a timeout is how connections end, not a server error.
    if (e instanceof TimeoutError || e instanceof ConnectionClosed) return done(conn);
    conn.close();
    throw e;
  }
}

function done(conn: Connection): null {
  conn.close();
  return null;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" ? `an object (${name})` : "an object";
}

// RFC 3986 §3.2.2 reg-name / IPv4 (unreserved, pct-encoded, sub-delims) or an
// IP literal, then an optional port (RFC 9110 §7.2). Anything else — a "/" or
// "?" or "#" above all — would move the request's path when glued into its URL.
const HOST = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?$/;

function badRequest(message: string, cause?: unknown): HttpParseError {
  return new HttpParseError("HTTP_BAD_REQUEST", message, { status: 400, cause });
}

function buildRequest(
  head: RequestHead,
  body: Uint8Array<ArrayBuffer>[],
  bodyBytes: number,
  scheme: string,
  conn: Connection,
  signal: AbortSignal,
): Request {
  const target = head.target;
  let url: string;
  if (target.startsWith("/")) {
    // No Host (HTTP/1.0) or an empty one (RFC 9112 §3.2): the address it came in on.
    const host = head.headers.get("host") || `${conn.localAddr.hostname}:${conn.localAddr.port}`;
    if (!HOST.test(host)) throw badRequest(`invalid Host: got ${JSON.stringify(host)}`);
    url = `${scheme}://${host}${target}`;
  } else if (/^https?:\/\//i.test(target)) url = target; // absolute-form (RFC 9112 §3.2.2)
  else throw badRequest(`unsupported request target: got ${JSON.stringify(target)}`);
  let payload: Uint8Array<ArrayBuffer> | undefined;
  if (body.length === 1) payload = body[0]!;
  else if (body.length > 1) {
    payload = new Uint8Array(bodyBytes);
    let at = 0;
    for (const b of body) {
      payload.set(b, at);
      at += b.length;
    }
  }
  const method = head.method;
  const init: RequestInit = { method, headers: toHeaders(head), signal };
  if (payload !== undefined && method !== "GET" && method !== "HEAD") init.body = payload;
  try {
    return new Request(url, init);
  } catch (e) {
    throw badRequest(`the request cannot be represented: ${String(e)}`, e);
  }
}

/** The response's fields, less the ones the writer owns, and what those said. */
function responseHeaders(response: Response): {
  headers: [string, string][];
  close: boolean;
  length: number | null;
} {
  const headers: [string, string][] = [];
  let hasDate = false;
  let close = false;
  let length: number | null = null;
  response.headers.forEach((value, name) => {
    if (name === "connection") {
      // The handler may ask for the connection to end after this response.
      close ||= value.split(",").some((t) => t.trim().toLowerCase() === "close");
      return;
    }
    if (name === "content-length") {
      if (/^[0-9]{1,15}$/.test(value)) length = Number(value);
      return;
    }
    if (name === "transfer-encoding" || name === "keep-alive") return;
    if (name === "date") hasDate = true;
    headers.push([name, value]);
  });
  if (!hasDate) headers.push(["date", httpDate()]);
  return { headers, close, length };
}

/** A response ready to send: its head, the start of its body, the rest still to read. */
interface Prepared {
  head: Uint8Array;
  /** Body bytes read already (all of it when `rest` is null). */
  parts: Uint8Array[];
  size: number;
  /** The rest of the body, or null. */
  rest: ReadableStreamDefaultReader<Uint8Array> | null;
  /** A read of `rest` already under way, to take first. */
  next: Promise<ReadableStreamReadResult<Uint8Array>> | null;
  chunked: boolean;
  /** Whether the connection can carry another request afterwards. */
  keepAlive: boolean;
}

/**
 * The read's result when it settles before the next macrotask (the data was
 * there already), else null and the read stays pending. Rejects as the read does.
 */
function ready<T>(read: Promise<T>): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const later = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), 0);
  });
  return Promise.race([read, later]).finally(() => clearTimeout(timer));
}

function chunkOf(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`a response body chunk must be a Uint8Array: got ${describe(value)}`);
  }
  return value;
}

/**
 * Builds the head of `response` and reads the start of its body: with
 * Content-Length when the body is short (or, for HEAD, when the handler gave
 * one), else chunked (HTTP/1.1) or until the close (HTTP/1.0). Nothing is
 * sent, so a failure here can still be answered with a 500.
 *
 * @throws What the head or the body's first reads threw (the body is cancelled).
 */
async function prepareResponse(response: Response, request: RequestHead, keepAlive: boolean): Promise<Prepared> {
  const stream = response.body;
  let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  try {
    const status = response.status;
    const fields = responseHeaders(response);
    keepAlive &&= !fields.close;
    const isHead = request.method === "HEAD";
    // An empty statusText (the Response default) means the standard reason.
    const statusText = response.statusText || undefined;
    const build = (body: ResponseBody) =>
      buildResponseHead({
        status,
        statusText,
        headers: fields.headers,
        body,
        keepAlive: keepAlive && body !== "until-close",
      });
    const bodyless = isBodylessStatus(status);
    // HEAD: the fields a GET would get (RFC 9110 §9.3.2), so the handler's length stands.
    const declared = isHead && !bodyless && fields.length !== null ? { length: fields.length } : null;
    if (stream === null || bodyless || declared !== null) {
      const head = build(declared ?? "none");
      await stream?.cancel().catch(() => {});
      return { head, parts: [], size: 0, rest: null, next: null, chunked: false, keepAlive };
    }
    reader = stream.getReader();
    // Take what the body has ready, up to BUFFER_BODY_BYTES: a short body
    // already there (a string, bytes, JSON) goes out with its length in one
    // write. A body that makes us wait (events, a long poll) is sent chunked
    // at once, so its head and first bytes are not held back.
    const parts: Uint8Array[] = [];
    let size = 0;
    let finished = false;
    let next: Promise<ReadableStreamReadResult<Uint8Array>> | null = reader.read();
    while (size < BUFFER_BODY_BYTES) {
      const r = await ready(next);
      if (r === null) break; // not ready: stream the rest
      next = null;
      if (r.done) {
        finished = true;
        break;
      }
      const chunk = chunkOf(r.value);
      parts.push(chunk);
      size += chunk.length;
      next = reader.read();
    }
    const framing: ResponseBody = finished
      ? { length: size }
      : request.version === "1.0"
      ? "until-close"
      : "chunked";
    const head = build(framing);
    // The head says Connection: close for a body that ends at the close, HEAD or not.
    const persist = keepAlive && framing !== "until-close";
    if (isHead || finished) {
      if (!finished) {
        next?.catch(() => {});
        await reader.cancel().catch(() => {});
      }
      return { head, parts: isHead ? [] : parts, size: isHead ? 0 : size, rest: null, next: null, chunked: false, keepAlive: persist };
    }
    return { head, parts, size, rest: reader, next, chunked: framing === "chunked", keepAlive: persist };
  } catch (e) {
    if (reader !== null) await reader.cancel(e).catch(() => {});
    else await stream?.cancel(e).catch(() => {});
    throw e;
  }
}

/**
 * Sends a prepared response. A body that fails once its head is out cannot be
 * answered any more: it is reported and the connection cut (a chunked body
 * then lacks its last chunk, so the client sees it truncated). A client gone
 * cancels the body.
 *
 * @returns False when the connection must end (failed, or the client is gone).
 */
async function sendPrepared(
  io: ChunkIO,
  p: Prepared,
  onError: (error: unknown) => void,
  closed: AbortSignal,
): Promise<boolean> {
  const { rest, chunked } = p;
  let pending = p.next;
  if (rest === null) {
    const out = new Uint8Array(p.head.length + p.size);
    out.set(p.head);
    let at = p.head.length;
    for (const part of p.parts) {
      out.set(part, at);
      at += part.length;
    }
    return await send(io, out);
  }
  const gone = async () => {
    pending?.catch(() => {});
    await rest.cancel().catch(() => {});
    return false;
  };
  if (!(await send(io, p.head))) return gone();
  for (const part of p.parts) {
    if (part.length > 0 && !(await send(io, chunked ? encodeChunk(part) : part))) return gone();
  }
  // A body that waits for data (events, a long poll) must not outlive its
  // connection: when it ends, the body is cancelled and the pending read ends.
  if (closed.aborted) return gone();
  const onClosed = () => void rest.cancel().catch(() => {});
  closed.addEventListener("abort", onClosed, { once: true });
  try {
    for (;;) {
      let chunk: Uint8Array;
      try {
        const r = await (pending ?? rest.read());
        pending = null;
        if (r.done) break;
        chunk = chunkOf(r.value);
      } catch (e) {
        if (!closed.aborted) onError(e);
        await rest.cancel(e).catch(() => {});
        return false;
      }
      if (chunk.length > 0 && !(await send(io, chunked ? encodeChunk(chunk) : chunk))) return gone();
    }
    if (closed.aborted) return false;
    if (chunked) return await send(io, LAST_CHUNK);
    return true;
  } finally {
    closed.removeEventListener("abort", onClosed);
  }
}
