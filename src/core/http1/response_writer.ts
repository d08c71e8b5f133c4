/**
 * The head of an HTTP/1.1 response (RFC 9112 §4, RFC 9110 §15), for a server:
 * the status line and the fields, with the framing fields set from the body.
 *
 * @module
 */
import { writeLatin1 } from "./latin1.ts";
import { fieldLines, type HeaderInit } from "./request_writer.ts";

/** How the body after the head is framed. */
export type ResponseBody =
  /** Exactly this many bytes follow (`Content-Length`). */
  | { length: number }
  /** A body of unknown length in chunks (`Transfer-Encoding: chunked`; see `encodeChunk`). */
  | "chunked"
  /** A body that ends when the connection closes (for HTTP/1.0 clients; sets `Connection: close`). */
  | "until-close"
  /** No body: 1xx, 204 and 304 (and nothing else needs it). */
  | "none";

/** What {@link buildResponseHead} writes. */
export interface ResponseHeadInit {
  /** The status code, 100–599. */
  status: number;
  /** The reason phrase. @default the standard one for `status`, or "" */
  statusText?: string | undefined;
  /** Fields to send; `Content-Length`, `Transfer-Encoding` and `Connection` are set by the writer. @default none */
  headers?: HeaderInit | undefined;
  /** How the body is framed. */
  body: ResponseBody;
  /** Whether the connection stays open after this response; false sends `Connection: close`. @default true */
  keepAlive?: boolean | undefined;
}

const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** Fields only the writer sets (framing and connection management). */
const OWN = new Set(["content-length", "transfer-encoding", "connection"]);

/**
 * Whether a response with this status carries no body whatever its fields
 * say (RFC 9110 §6.4.1): 1xx, 204 and 304.
 *
 * @param status The status code.
 * @returns True for 1xx, 204 and 304.
 *
 * @example Pick the body framing for a status
 * ```ts
 * import { buildResponseHead, isBodylessStatus } from "@sluice/net/core";
 * const status = 304;
 * const head = buildResponseHead({ status, body: isBodylessStatus(status) ? "none" : { length: 2 } });
 * console.log(new TextDecoder().decode(head)); // HTTP/1.1 304 Not Modified, no Content-Length
 * ```
 */
export function isBodylessStatus(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/**
 * Encodes a response head. Every field name and value is checked (a CR, LF or
 * NUL anywhere throws, so nothing can be injected); the framing fields come
 * from `body` only.
 *
 * @param init Status, reason, fields, body framing and keep-alive.
 * @returns The head's bytes, ending with the blank line.
 * @throws {RangeError} On a status outside 100–599, or a body length that is not a non-negative integer.
 * @throws {TypeError} On a bad reason phrase or field (a CR, LF or NUL, a name that is not a token), a
 *   framing or `Connection` field in `headers`, or a body for 1xx/204/304.
 *
 * @example A JSON response
 * ```ts
 * import { buildResponseHead } from "@sluice/net/core";
 * const body = new TextEncoder().encode('{"ok":true}');
 * const head = buildResponseHead({
 *   status: 200,
 *   headers: { "Content-Type": "application/json" },
 *   body: { length: body.length },
 * });
 * console.log(new TextDecoder().decode(head).split("\r\n")[0]); // HTTP/1.1 200 OK
 * ```
 */
export function buildResponseHead(init: ResponseHeadInit): Uint8Array {
  const status = init?.status;
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new RangeError(`status must be an integer from 100 to 599: got ${status}`);
  }
  const reason = init.statusText ?? REASONS[status] ?? "";
  if (typeof reason !== "string") {
    throw new TypeError(`statusText must be a string: got ${typeof reason}`);
  }
  for (let i = 0; i < reason.length; i++) {
    const c = reason.charCodeAt(i);
    // RFC 9112 §4: reason-phrase = *( HTAB / SP / VCHAR / obs-text )
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) {
      throw new TypeError(`statusText must be visible text: got ${JSON.stringify(reason)}`);
    }
  }
  const seen = new Set<string>();
  const fields = fieldLines(ownPairs(init.headers), seen);
  let head = `HTTP/1.1 ${status} ${reason}\r\n${fields}`;
  const body = init.body;
  const bodyless = isBodylessStatus(status);
  if (bodyless && body !== "none") {
    throw new TypeError(`a ${status} response has no body: use body "none"`);
  }
  if (typeof body === "object" && body !== null) {
    if (!Number.isSafeInteger(body.length) || body.length < 0) {
      throw new RangeError(`body length must be a non-negative integer: got ${body.length}`);
    }
    head += `Content-Length: ${body.length}\r\n`;
  } else if (body === "chunked") head += "Transfer-Encoding: chunked\r\n";
  else if (body === "none") {
    // A 200 without a body says so; 1xx, 204 and 304 must not (RFC 9110 §8.6).
    if (!bodyless) head += "Content-Length: 0\r\n";
  } else if (body !== "until-close") {
    throw new TypeError(`body must be {length}, "chunked", "until-close" or "none": got ${String(body)}`);
  }
  if (init.keepAlive === false || body === "until-close") head += "Connection: close\r\n";
  head += "\r\n";
  const out = new Uint8Array(head.length);
  writeLatin1(head, out, 0);
  return out;
}

/**
 * The fields as a list of pairs, read once (a one-shot iterable such as a
 * generator must not be consumed by the check and then found empty), with the
 * fields the writer owns refused by name.
 */
function ownPairs(init: HeaderInit | undefined): [string, string][] | undefined {
  if (init === undefined || init === null) return undefined;
  const out: [string, string][] = [];
  if (Symbol.iterator in init) {
    // Pairs, a Map, a generator, or a Fetch Headers (iterable on every runtime;
    // its lib types may lack DOM.Iterable, hence the cast). Not forEach first:
    // iterator helpers give every generator a forEach that passes indexes.
    for (const [k, v] of init as Iterable<readonly [string, string]>) out.push([k, v]);
  } else if (typeof (init as { forEach?: unknown }).forEach === "function") {
    (init as unknown as { forEach(fn: (v: string, k: string) => void): void }).forEach((v, k) => out.push([k, v]));
  } else out.push(...Object.entries(init as Record<string, string>));
  for (const [name] of out) {
    if (typeof name === "string" && OWN.has(name.toLowerCase())) {
      throw new TypeError(`header ${name} is set by the writer from the body and keepAlive; remove it`);
    }
  }
  return out;
}
