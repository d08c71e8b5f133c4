/**
 * The WebSocket opening handshake (RFC 6455 §4), both sides, without I/O:
 * build the client's upgrade request and check the server's 101; check a
 * client's upgrade request and build the 101 or the refusal.
 *
 * Heads are parsed by `parseRequestHead`/`parseResponseHead` from the HTTP/1.1
 * codec; these functions take the parsed heads.
 *
 * @module
 */
import { allocBytes } from "../copy_pool.ts";
import { HandshakeError } from "../errors.ts";
import { assertHeader, type HttpHeaders } from "../http1/headers.ts";
import type { RequestHead, ResponseHead } from "../http1/head.ts";
import type { HeaderInit } from "../http1/request_writer.ts";
import { TCHAR } from "../http1/chars.ts";
import { base64, base64Decode, sha1 } from "./sha1.ts";

/** The GUID every accept key is derived with (RFC 6455 §1.3). */
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();

/** Head text to bytes: header values are latin1 (RFC 9110 §5.5), so one byte per char. */
function latin1(text: string): Uint8Array {
  // From the shared slabs: a server answers every handshake without an allocation of its own.
  const out = allocBytes(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** Headers a caller may not set: the handshake owns them. */
const RESERVED = new Set([
  "host",
  "upgrade",
  "connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-accept",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
]);

function pairs(init: HeaderInit | undefined): [string, string][] {
  if (init === undefined) return [];
  if (Symbol.iterator in init) {
    return Array.from(init as Iterable<readonly [string, string]>, ([n, v]) => [n, v]);
  }
  return Object.entries(init);
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TCHAR[c] !== 1) return false;
  }
  return true;
}

/** Comma-separated list elements, trimmed, empty ones dropped (RFC 9110 §5.6.1). */
function list(value: string | null): string[] {
  if (value === null) return [];
  return value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}

function hasToken(value: string | null, token: string): boolean {
  return list(value).some((t) => t.toLowerCase() === token);
}

/**
 * Computes `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2),
 * synchronously, with no runtime crypto.
 *
 * @param key The client's base64 key.
 * @returns The base64 SHA-1 of key + GUID.
 *
 * @example The RFC's own example
 * ```ts
 * import { computeAccept } from "@sluice/net/core";
 * computeAccept("dGhlIHNhbXBsZSBub25jZQ=="); // "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
 * ```
 */
export function computeAccept(key: string): string {
  return base64(sha1(encoder.encode(key + GUID)));
}

/** Options for {@link buildClientHandshake}. */
export interface ClientHandshakeOptions {
  /** The `Host` header value: hostname, and `:port` when not the scheme's default. */
  host: string;
  /** The request target: path and query, starting with "/". @default "/" */
  path?: string | undefined;
  /** Subprotocols to offer, in order of preference; each must be a token. @default [] */
  protocols?: readonly string[] | undefined;
  /** The `Origin` header, for servers that check it. @default none */
  origin?: string | undefined;
  /** Extra header fields (not the handshake's own). @default none */
  headers?: HeaderInit | undefined;
  /** Random source for the key. @default crypto.getRandomValues */
  random?: ((bytes: Uint8Array) => void) | undefined;
}

/** A client handshake in progress: the bytes to send, and what the answer must match. */
export interface ClientHandshake {
  /** The complete HTTP request to send. */
  readonly request: Uint8Array;
  /** The `Sec-WebSocket-Key` sent. */
  readonly key: string;
  /** The `Sec-WebSocket-Accept` the server must answer with. */
  readonly expectedAccept: string;
  /** The subprotocols offered. */
  readonly protocols: readonly string[];
}

/**
 * Builds the client's opening handshake request (RFC 6455 §4.1) with a fresh
 * random key.
 *
 * @param options Host, path, subprotocols and extra headers.
 * @returns The request bytes and what to check the response against.
 * @throws {TypeError} On a bad path, a non-token or repeated subprotocol, an
 *   invalid header (CR, LF or NUL: no header injection), or a header the handshake owns.
 *
 * @example
 * ```ts
 * import { buildClientHandshake } from "@sluice/net/core";
 * const hs = buildClientHandshake({ host: "example.com", path: "/feed", protocols: ["v2"] });
 * // write hs.request to the socket, parse the response head, then:
 * // validateServerHandshake(responseHead, hs)
 * ```
 */
export function buildClientHandshake(options: ClientHandshakeOptions): ClientHandshake {
  const path = options.path ?? "/";
  if (!path.startsWith("/") || /[^\x21-\x7e]/.test(path)) {
    throw new TypeError(
      `path must start with "/" and be percent-encoded ASCII without spaces: got ${
        JSON.stringify(path)
      }`,
    );
  }
  assertHeader("host", options.host);
  const protocols = [...(options.protocols ?? [])];
  for (const p of protocols) {
    if (!isToken(p)) {
      throw new TypeError(`subprotocol must be an HTTP token: got ${JSON.stringify(p)}`);
    }
  }
  if (new Set(protocols).size !== protocols.length) {
    throw new TypeError(`subprotocols must be unique: got ${protocols.join(", ")}`);
  }
  const nonce = new Uint8Array(16);
  (options.random ?? ((b) => crypto.getRandomValues(b)))(nonce);
  const key = base64(nonce);

  let head =
    `GET ${path} HTTP/1.1\r\nHost: ${options.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
  if (protocols.length > 0) head += `Sec-WebSocket-Protocol: ${protocols.join(", ")}\r\n`;
  if (options.origin !== undefined) {
    assertHeader("origin", options.origin);
    head += `Origin: ${options.origin}\r\n`;
  }
  for (const [name, value] of pairs(options.headers)) {
    assertHeader(name, value);
    if (RESERVED.has(name.toLowerCase())) {
      throw new TypeError(
        `header ${name} is set by the WebSocket handshake itself; use the matching option instead`,
      );
    }
    head += `${name}: ${value}\r\n`;
  }
  head += "\r\n";
  return { request: latin1(head), key, expectedAccept: computeAccept(key), protocols };
}

/** What a successful handshake negotiated. */
export interface HandshakeResult {
  /** The subprotocol the server selected, or "" for none. */
  readonly protocol: string;
  /** The extensions in force ("": sluice negotiates none). */
  readonly extensions: string;
}

/**
 * Checks the server's answer to a client handshake (RFC 6455 §4.2.2 and
 * §4.1 steps 1–6 of the client's checks).
 *
 * @param head The parsed response head.
 * @param handshake What {@link buildClientHandshake} returned.
 * @returns The negotiated subprotocol and extensions.
 * @throws {HandshakeError} When the status is not 101, Upgrade or Connection lack
 *   their token, the accept key is wrong, or the server picked a subprotocol or
 *   extension that was not offered. The error carries the status and headers.
 *
 * @example
 * ```ts
 * import { buildClientHandshake, parseResponseHead, validateServerHandshake } from "@sluice/net/core";
 * const hs = buildClientHandshake({ host: "localhost" });
 * const raw = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
 *   `Sec-WebSocket-Accept: ${hs.expectedAccept}\r\n\r\n`;
 * const head = parseResponseHead(new TextEncoder().encode(raw))!;
 * validateServerHandshake(head, hs); // { protocol: "", extensions: "" }
 * ```
 */
export function validateServerHandshake(
  head: ResponseHead,
  handshake: ClientHandshake,
): HandshakeResult {
  const h = head.headers;
  const fail = (code: string, message: string): never => {
    throw new HandshakeError(code, message, { status: head.status, headers: h.toHeaders() });
  };
  if (head.status !== 101) {
    fail(
      "WS_HANDSHAKE_STATUS",
      `server refused the WebSocket upgrade: expected status 101, got ${head.status} ${head.reason}`
        .trim(),
    );
  }
  if (!hasToken(h.get("upgrade"), "websocket")) {
    fail(
      "WS_HANDSHAKE_UPGRADE",
      `101 response lacks "Upgrade: websocket": got ${JSON.stringify(h.get("upgrade"))}`,
    );
  }
  if (!hasToken(h.get("connection"), "upgrade")) {
    fail(
      "WS_HANDSHAKE_CONNECTION",
      `101 response lacks "Connection: Upgrade": got ${JSON.stringify(h.get("connection"))}`,
    );
  }
  const accepts = h.getAll("sec-websocket-accept");
  if (accepts.length !== 1 || accepts[0] !== handshake.expectedAccept) {
    fail(
      "WS_HANDSHAKE_ACCEPT",
      `Sec-WebSocket-Accept mismatch: expected ${handshake.expectedAccept}, got ${
        JSON.stringify(accepts.join(", ") || null)
      }`,
    );
  }
  const chosen = list(h.get("sec-websocket-protocol"));
  if (chosen.length > 1) {
    fail(
      "WS_HANDSHAKE_PROTOCOL",
      `server selected more than one subprotocol: ${chosen.join(", ")}`,
    );
  }
  const protocol = chosen[0] ?? "";
  if (protocol !== "" && !handshake.protocols.includes(protocol)) {
    fail(
      "WS_HANDSHAKE_PROTOCOL",
      `server selected subprotocol ${JSON.stringify(protocol)}, which was not offered (offered: ${
        handshake.protocols.join(", ") || "none"
      })`,
    );
  }
  const extensions = list(h.get("sec-websocket-extensions"));
  if (extensions.length > 0) {
    fail(
      "WS_HANDSHAKE_EXTENSION",
      `server accepted extensions that were not offered: ${extensions.join(", ")}`,
    );
  }
  return { protocol, extensions: "" };
}

/** A client's upgrade request, checked (RFC 6455 §4.2.1). */
export interface UpgradeRequest {
  /** The request target: path and query. */
  readonly path: string;
  /** The `Host` header. */
  readonly host: string;
  /** The `Origin` header, or null (non-browser clients often send none). */
  readonly origin: string | null;
  /** The client's `Sec-WebSocket-Key`. */
  readonly key: string;
  /** The subprotocols offered, in the client's order of preference. */
  readonly protocols: readonly string[];
  /** The extensions offered (raw list elements); sluice accepts none. */
  readonly extensions: readonly string[];
  /** All request header fields. */
  readonly headers: HttpHeaders;
}

/**
 * Checks a client's opening handshake (RFC 6455 §4.2.1).
 *
 * @param head The parsed request head.
 * @returns The checked request, for choosing a subprotocol and building the answer.
 * @throws {HandshakeError} With the HTTP status to refuse with: 405 (not GET),
 *   400 (not HTTP/1.1, no Host, bad Connection/Upgrade/key), 426 (no Upgrade
 *   header, or a version other than 13, with `Sec-WebSocket-Version: 13` in
 *   the error's headers for the answer).
 *
 * @example
 * ```ts
 * import { buildAcceptResponse, parseRequestHead, parseUpgradeRequest } from "@sluice/net/core";
 * const raw = "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
 *   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
 * const req = parseUpgradeRequest(parseRequestHead(new TextEncoder().encode(raw))!);
 * const answer = buildAcceptResponse(req);
 * ```
 */
export function parseUpgradeRequest(head: RequestHead): UpgradeRequest {
  const h = head.headers;
  const fail = (code: string, message: string, status = 400, headers?: Headers): never => {
    throw new HandshakeError(code, message, { status, headers });
  };
  if (head.method !== "GET") {
    fail(
      "WS_UPGRADE_METHOD",
      `WebSocket upgrade must use GET: got ${head.method}`,
      405,
      new Headers({ allow: "GET" }),
    );
  }
  if (head.version !== "1.1") {
    fail("WS_UPGRADE_VERSION", `WebSocket upgrade needs HTTP/1.1: got HTTP/${head.version}`);
  }
  const host = h.get("host");
  if (host === null || host === "") {
    fail("WS_UPGRADE_HOST", "WebSocket upgrade request has no Host header");
  }
  const upgrade = h.get("upgrade");
  if (upgrade === null) {
    fail(
      "WS_UPGRADE_REQUIRED",
      "this endpoint only speaks WebSocket: send an upgrade request",
      426,
      new Headers({ upgrade: "websocket", connection: "Upgrade" }),
    );
  }
  if (!hasToken(upgrade, "websocket")) {
    fail(
      "WS_UPGRADE_UPGRADE",
      `Upgrade header must name websocket: got ${JSON.stringify(upgrade)}`,
    );
  }
  if (!hasToken(h.get("connection"), "upgrade")) {
    fail(
      "WS_UPGRADE_CONNECTION",
      `Connection header must include Upgrade: got ${JSON.stringify(h.get("connection"))}`,
    );
  }
  const versions = list(h.get("sec-websocket-version"));
  if (versions.length !== 1 || versions[0] !== "13") {
    fail(
      "WS_UPGRADE_WS_VERSION",
      `unsupported Sec-WebSocket-Version ${
        JSON.stringify(versions.join(", ") || null)
      }: only 13 is supported`,
      426,
      new Headers({ "sec-websocket-version": "13" }),
    );
  }
  const keys = h.getAll("sec-websocket-key");
  const nonce = keys.length === 1 ? base64Decode(keys[0]!) : null;
  if (nonce === null || nonce.length !== 16) {
    fail(
      "WS_UPGRADE_KEY",
      `Sec-WebSocket-Key must be the base64 of 16 bytes: got ${
        JSON.stringify(keys.join(", ") || null)
      }`,
    );
  }
  const protocols = list(h.get("sec-websocket-protocol"));
  for (const p of protocols) {
    if (!isToken(p)) {
      fail("WS_UPGRADE_PROTOCOL", `subprotocol must be an HTTP token: got ${JSON.stringify(p)}`);
    }
  }
  return {
    path: head.target,
    host: host as string,
    origin: h.get("origin"),
    key: keys[0]!, // exactly one: checked with the nonce above
    protocols,
    extensions: list(h.get("sec-websocket-extensions")),
    headers: h,
  };
}

/** Options for {@link buildAcceptResponse}. */
export interface AcceptOptions {
  /** The subprotocol to select; must be one the client offered. @default none */
  protocol?: string | undefined;
  /** Extra response header fields. @default none */
  headers?: HeaderInit | undefined;
}

/**
 * Builds the server's `101 Switching Protocols` answer (RFC 6455 §4.2.2).
 *
 * @param request The checked upgrade request.
 * @param options The subprotocol to select and extra headers.
 * @returns The response bytes.
 * @throws {TypeError} When `protocol` was not offered, or a header is invalid or owned by the handshake.
 *
 * @example
 * ```ts
 * import { buildAcceptResponse, type UpgradeRequest } from "@sluice/net/core";
 * function accept(req: UpgradeRequest): Uint8Array {
 *   const protocol = req.protocols.includes("v2") ? "v2" : undefined;
 *   return buildAcceptResponse(req, { protocol });
 * }
 * ```
 */
export function buildAcceptResponse(
  request: Pick<UpgradeRequest, "key" | "protocols">,
  options: AcceptOptions = {},
): Uint8Array {
  let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${computeAccept(request.key)}\r\n`;
  if (options.protocol !== undefined) {
    if (!request.protocols.includes(options.protocol)) {
      throw new TypeError(
        `protocol ${JSON.stringify(options.protocol)} was not offered by the client (offered: ${
          request.protocols.join(", ") || "none"
        })`,
      );
    }
    head += `Sec-WebSocket-Protocol: ${options.protocol}\r\n`;
  }
  for (const [name, value] of pairs(options.headers)) {
    assertHeader(name, value);
    if (RESERVED.has(name.toLowerCase())) {
      throw new TypeError(`header ${name} is set by the WebSocket handshake itself`);
    }
    head += `${name}: ${value}\r\n`;
  }
  return latin1(head + "\r\n");
}

/** Options for {@link buildRejectResponse}. */
export interface RejectOptions {
  /** The reason phrase. @default a standard phrase for common statuses */
  reason?: string | undefined;
  /** Extra header fields (e.g. `Sec-WebSocket-Version: 13` for a 426). @default none */
  headers?: HeaderInit | undefined;
  /** A short body (UTF-8 text, sent as text/plain). @default "" */
  body?: string | undefined;
}

const PHRASES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/**
 * Builds an HTTP refusal of an upgrade request, closing the connection.
 *
 * @param status A 4xx or 5xx status.
 * @param options Reason phrase, headers and body.
 * @returns The response bytes.
 * @throws {RangeError} When `status` is not 400–599.
 * @throws {TypeError} When a header or the reason holds CR, LF or NUL.
 *
 * @example Refuse with what a HandshakeError says
 * ```ts
 * import { buildRejectResponse, HandshakeError } from "@sluice/net/core";
 * const err = new HandshakeError("WS_UPGRADE_WS_VERSION", "only 13", { status: 426, headers: new Headers({ "sec-websocket-version": "13" }) });
 * const bytes = buildRejectResponse(err.status, { headers: err.headers, body: err.message });
 * ```
 */
export function buildRejectResponse(status: number, options: RejectOptions = {}): Uint8Array {
  if (!Number.isInteger(status) || status < 400 || status > 599) {
    throw new RangeError(`status must be an integer from 400 to 599: got ${status}`);
  }
  const reason = options.reason ?? PHRASES[status] ?? "Error";
  if (reason.includes("\r") || reason.includes("\n") || reason.includes("\0")) {
    throw new TypeError("reason must not contain CR, LF or NUL");
  }
  const body = encoder.encode(options.body ?? "");
  let head =
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n`;
  for (const [name, value] of pairs(options.headers)) {
    assertHeader(name, value);
    const lower = name.toLowerCase();
    if (lower === "content-length" || lower === "connection" || lower === "content-type") continue;
    head += `${name}: ${value}\r\n`;
  }
  const headBytes = latin1(head + "\r\n");
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes);
  out.set(body, headBytes.length);
  return out;
}
