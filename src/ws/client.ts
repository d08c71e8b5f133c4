/**
 * The WebSocket client: `connectWebSocket(url)` on Deno, Bun and Node.
 *
 * @module
 */
import { HandshakeError } from "../core/errors.ts";
import { parseResponseHead } from "../core/http1/head.ts";
import { buildClientHandshake, validateServerHandshake } from "../core/ws/handshake.ts";
import type { HeaderInit } from "../core/http1/request_writer.ts";
import { connect } from "../transports/detect.ts";
import type { ChunkIO, ClientTlsOptions, Connection, Transport } from "../transports/types.ts";
import { settingsOf, WebSocketConnectionImpl, type WebSocketOptions } from "./connection.ts";
import { timeoutOption } from "./deferred.ts";
import { readHead } from "./head_io.ts";
import { takeIo } from "./io.ts";
import type { WebSocketConnection } from "./types.ts";

/** Options for {@link connectWebSocket}. */
export interface ConnectWebSocketOptions extends WebSocketOptions {
  /** Subprotocols to offer, in order of preference. @default [] */
  protocols?: readonly string[];
  /** Extra handshake headers (e.g. `Authorization`). @default none */
  headers?: HeaderInit;
  /** The `Origin` header to send. @default none */
  origin?: string;
  /** TLS settings for `wss://` (custom CA, client certificate, SNI, ALPN, insecure). @default system trust */
  tls?: ClientTlsOptions;
  /** Disable Nagle's algorithm, so small messages leave at once. @default true */
  noDelay?: boolean;
  /** Limit on the TCP (and TLS) connect, ms. @default 10000 */
  connectTimeout?: number;
  /** Limit on the opening handshake after connecting, ms. @default 10000 */
  handshakeTimeout?: number;
  /** Largest handshake response head in bytes. @default 16384 */
  maxHeaderBytes?: number;
  /** Aborts connecting and the handshake. */
  signal?: AbortSignal;
  /** The transport to use instead of the running runtime's. @default detected */
  transport?: Transport;
}

/** A `ws:`/`wss:` URL taken apart. */
export interface WebSocketTarget {
  /** True for `wss:` (and `https:`). */
  secure: boolean;
  /** The host name or IP address, without IPv6 brackets. */
  hostname: string;
  /** The port, defaulted from the scheme (80 or 443). */
  port: number;
  /** The Host header: hostname plus `:port` when not the default. */
  host: string;
  /** Path and query. */
  path: string;
}

/**
 * Parses a WebSocket URL (RFC 6455 §3); `http:`/`https:` are accepted as
 * `ws:`/`wss:`.
 *
 * @param url The URL.
 * @returns Its parts.
 * @throws {TypeError} On another scheme or a fragment.
 *
 * @example
 * ```ts
 * import { parseWebSocketUrl } from "@sluice/net";
 * parseWebSocketUrl("wss://example.com/feed?x=1");
 * // { secure: true, hostname: "example.com", port: 443, host: "example.com", path: "/feed?x=1" }
 * ```
 */
export function parseWebSocketUrl(url: string | URL): WebSocketTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`not a valid URL: ${String(url)}`);
  }
  const scheme = u.protocol;
  const secure = scheme === "wss:" || scheme === "https:";
  if (!secure && scheme !== "ws:" && scheme !== "http:") {
    throw new TypeError(`WebSocket URL must use ws: or wss: (got ${scheme} in ${u.href})`);
  }
  if (u.hash !== "" || String(url).includes("#")) {
    throw new TypeError(`WebSocket URL must not have a fragment (RFC 6455 §3): ${String(url)}`);
  }
  const port = u.port === "" ? (secure ? 443 : 80) : Number(u.port);
  const hostname = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  return {
    secure,
    hostname,
    port,
    host: u.port === "" ? u.hostname : `${u.hostname}:${u.port}`,
    path: (u.pathname || "/") + u.search,
  };
}

function isIp(hostname: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname.includes(":");
}

/**
 * Opens a WebSocket connection: TCP (or TLS) connect, the RFC 6455 opening
 * handshake, then an open {@link WebSocketConnection}.
 *
 * @param url A `ws://` or `wss://` URL.
 * @param options Protocols, headers, TLS, limits and timeouts.
 * @returns The open connection.
 * @throws {HandshakeError} When the server refused the upgrade: carries the
 *   status, headers and the first bytes of the body.
 * @throws {TlsError} When TLS verification or the TLS handshake failed.
 * @throws {TimeoutError} When connecting or the handshake took too long.
 * @throws {ConnectionClosed} When the connection was refused or dropped (cause kept).
 *
 * @example Echo a message
 * ```ts
 * import { connectWebSocket } from "@sluice/net";
 * const ws = await connectWebSocket("ws://127.0.0.1:9001/", { protocols: ["chat"] });
 * await ws.sendText("hello");
 * const reply = await ws.recv();
 * if (reply?.type === "text") console.log(reply.text);
 * await ws.close();
 * ```
 */
export async function connectWebSocket(
  url: string | URL,
  options: ConnectWebSocketOptions = {},
): Promise<WebSocketConnection> {
  const target = parseWebSocketUrl(url);
  const handshakeTimeout = timeoutOption("handshakeTimeout", options.handshakeTimeout, 10_000);
  settingsOf(options);
  // Validate the request before connecting: bad options fail without network traffic.
  const hs = buildClientHandshake({
    host: target.host,
    path: target.path,
    protocols: options.protocols,
    headers: options.headers,
    origin: options.origin,
  });
  let tls: ClientTlsOptions | boolean | undefined;
  if (target.secure) {
    tls = { ...options.tls };
    if (tls.serverName === undefined && !isIp(target.hostname)) tls.serverName = target.hostname;
  }
  const conn: Connection = await connect({
    hostname: target.hostname,
    port: target.port,
    tls,
    noDelay: options.noDelay ?? true,
    connectTimeout: options.connectTimeout,
    signal: options.signal,
    transport: options.transport,
  });
  const io = takeIo(conn);
  const onAbort = () => conn.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await io.write(hs.request);
    const { head, rest } = await readHead(
      io,
      () => conn.close(),
      parseResponseHead,
      handshakeTimeout,
      "WebSocket handshake response",
      {
        maxHeaderBytes: options.maxHeaderBytes ?? 16384,
      },
    );
    try {
      const result = validateServerHandshake(head, hs);
      return new WebSocketConnectionImpl(conn, io, "client", result.protocol, rest, options);
    } catch (e) {
      if (e instanceof HandshakeError && head.status !== 101) {
        // Keep the first bytes of the refusal's body: they usually say why.
        const body = await bodyStart(
          io,
          rest,
          /\bchunked\b/i.test(e.headers.get("transfer-encoding") ?? ""),
        );
        const text = bodyText(body);
        throw new HandshakeError(
          e.code,
          text === "" ? e.message : `${e.message}; the response body starts: ${JSON.stringify(text)}`,
          {
            status: e.status,
            headers: e.headers,
            bodyStart: body,
            cause: e.cause,
            retryable: retryableStatus(e.status),
          },
        );
      }
      if (e instanceof HandshakeError) {
        // A 101 that does not validate (a wrong accept key, say) is as likely
        // damage on the path as a broken server: worth another attempt.
        throw new HandshakeError(e.code, e.message, {
          status: e.status,
          headers: e.headers,
          cause: e.cause,
          retryable: true,
        });
      }
      throw e;
    }
  } catch (e) {
    conn.close();
    if (options.signal?.aborted) throw options.signal.reason;
    throw e;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Whether a refusal of the upgrade may go away on its own: a timeout, too many
 * requests, or a server error other than "not implemented" and "version not
 * supported" (the statuses RFC 9110 §15.6 and common proxies use while a
 * service restarts). A 4xx such as 401, 403 or 404 will not change by retrying.
 */
function retryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 ||
    (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

/** The start of a refusal's body as one line of text: up to 200 characters, controls removed. */
function bodyText(body: Uint8Array): string {
  const text = new TextDecoder().decode(body.subarray(0, 800))
    .replace(/\p{Cc}+/gu, " ").trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Up to 1 KiB of a refusal's body, waiting at most 200 ms for more of it. */
async function bodyStart(io: ChunkIO, rest: Uint8Array, chunked: boolean): Promise<Uint8Array> {
  const max = 1024;
  // A chunked body needs its framing removed: collect more raw bytes for it.
  const rawMax = chunked ? 4 * max : max;
  let body = rest.slice(0, rawMax);
  const deadline = Date.now() + 200;
  while (body.length < rawMax && Date.now() < deadline && !(chunked && endsChunked(body))) {
    const timeout = new Promise<null>((r) =>
      setTimeout(() => r(null), Math.max(1, deadline - Date.now()))
    );
    const r = await Promise.race([io.read(), timeout]).catch(() => null);
    if (r === null) break;
    const next = new Uint8Array(Math.min(rawMax, body.length + r.length));
    next.set(body);
    next.set(r.subarray(0, next.length - body.length), body.length);
    body = next;
  }
  return chunked ? dechunk(body).subarray(0, max) : body;
}

function endsChunked(raw: Uint8Array): boolean {
  const n = raw.length;
  return n >= 5 && raw[n - 5] === 0x30 && raw[n - 4] === 0x0d && raw[n - 3] === 0x0a &&
    raw[n - 2] === 0x0d && raw[n - 1] === 0x0a;
}

/** The data of a chunked body's start (RFC 9112 §7.1), leniently: stops at the last chunk or anything malformed. */
function dechunk(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(raw.length);
  let o = 0, i = 0;
  while (i < raw.length) {
    let size = 0, digits = 0;
    for (; i < raw.length; i++, digits++) {
      const c = raw[i]!;
      const v = c >= 0x30 && c <= 0x39
        ? c - 0x30
        : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66
        ? (c | 0x20) - 0x57
        : -1;
      if (v < 0) break;
      size = size * 16 + v;
    }
    if (digits === 0 || size === 0) break;
    while (i < raw.length && raw[i] !== 0x0a) i++; // extensions, CRLF
    i++;
    const take = Math.min(size, raw.length - i);
    out.set(raw.subarray(i, i + take), o);
    o += take;
    i += take + 2; // data, CRLF
  }
  return out.subarray(0, o);
}
