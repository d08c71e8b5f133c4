/**
 * Message body length rules of RFC 9112 §6 shared by the request and response
 * readers: Content-Length values, Transfer-Encoding codings and persistence.
 *
 * @module
 */
import { HttpParseError } from "../errors.ts";
import type { HttpHeaders } from "./headers.ts";

/** How a message body is delimited (RFC 9112 §6.3). */
export type BodyKind = "none" | "length" | "chunked" | "close";

/** The framing decided from a head. */
export interface Framing {
  /** How the body is delimited. */
  body: BodyKind;
  /** The Content-Length for `body: "length"`, else null. */
  length: number | null;
  /** Whether the connection may carry another message after this one. */
  keepAlive: boolean;
  /** Whether the connection switches protocol after this head (101, CONNECT 2xx, an Upgrade request). */
  upgrade: boolean;
}

type Side = "request" | "response";

function fail(side: Side, code: string, message: string, status = 400): never {
  throw new HttpParseError(code, message, { status: side === "response" ? 502 : status });
}

/**
 * Reads Content-Length (RFC 9110 §8.6). Repeats and lists of one same value
 * are accepted as that value; differing values are an error, since two
 * parties picking different ones is how responses get split.
 *
 * @param values Every Content-Length field value.
 * @param side Whose message it is (for error statuses).
 * @param maxBodySize Largest acceptable length.
 * @returns The length, or null when the field is absent.
 * @throws {HttpParseError} `HTTP_BAD_CONTENT_LENGTH`, `HTTP_CONFLICTING_CONTENT_LENGTH` or `HTTP_BODY_TOO_LARGE` (413).
 */
export function contentLength(values: string[], side: Side, maxBodySize: number): number | null {
  if (values.length === 0) return null;
  let found = values.length === 1 ? digits(values[0]!) : -1;
  if (found !== -1) {
    if (found > maxBodySize) tooLarge(side, found, maxBodySize);
    return found;
  }
  for (const value of values) {
    for (const part of value.split(",")) {
      const v = part.trim();
      if (!/^[0-9]{1,16}$/.test(v)) {
        fail(side, "HTTP_BAD_CONTENT_LENGTH", `invalid Content-Length: got ${JSON.stringify(value)}`);
      }
      const n = Number(v);
      if (found !== -1 && n !== found) {
        fail(
          side,
          "HTTP_CONFLICTING_CONTENT_LENGTH",
          `conflicting Content-Length values: got ${JSON.stringify(values.join(", "))} (RFC 9112 §6.3)`,
        );
      }
      found = n;
    }
  }
  if (found > maxBodySize) tooLarge(side, found, maxBodySize);
  return found;
}

function tooLarge(side: Side, length: number, max: number): never {
  fail(side, "HTTP_BODY_TOO_LARGE", `Content-Length ${length} exceeds the body limit of ${max} bytes`, 413);
}

// The usual lone value of 1–15 digits (so below 2^53), without a regex; -1 otherwise.
function digits(value: string): number {
  const n = value.length;
  if (n === 0 || n > 15) return -1;
  let out = 0;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    out = out * 10 + c;
  }
  return out;
}

/**
 * Lists the transfer codings of Transfer-Encoding, lower-cased, parameters
 * dropped, empty list elements skipped (RFC 9110 §5.6.1).
 *
 * @param values Every Transfer-Encoding field value.
 * @returns The codings in order.
 */
export function transferCodings(values: string[]): string[] {
  const out: string[] = [];
  for (const value of values) {
    for (const part of value.split(",")) {
      const semi = part.indexOf(";");
      const name = (semi === -1 ? part : part.slice(0, semi)).trim().toLowerCase();
      if (name !== "") out.push(name);
    }
  }
  return out;
}

/**
 * Whether a connection option (a Connection token) is present, case-insensitively.
 *
 * @param headers The fields.
 * @param token A lower-case token such as "close".
 * @returns True when listed.
 */
export function hasConnectionToken(headers: HttpHeaders, token: string): boolean {
  for (const value of headers.getAll("connection")) {
    for (const part of value.split(",")) if (part.trim().toLowerCase() === token) return true;
  }
  return false;
}

/**
 * Whether the connection persists after this message (RFC 9112 §9.3):
 * HTTP/1.1 unless "close", HTTP/1.0 only with "keep-alive".
 *
 * @param version The message version.
 * @param headers The fields.
 * @returns True when the connection may be reused.
 */
export function persistent(version: "1.0" | "1.1", headers: HttpHeaders): boolean {
  if (hasConnectionToken(headers, "close")) return false;
  return version === "1.1" || hasConnectionToken(headers, "keep-alive");
}

/**
 * Checks Transfer-Encoding against Content-Length and returns whether the
 * body is chunked (chunked is the final coding) or not (other final coding).
 *
 * @param headers The fields.
 * @param side Whose message it is.
 * @returns "chunked", "other", or null when Transfer-Encoding is absent.
 * @throws {HttpParseError} `HTTP_TE_WITH_CL` when both are present, `HTTP_BAD_TRANSFER_ENCODING` when chunked is repeated or not last.
 */
export function transferFraming(headers: HttpHeaders, side: Side): "chunked" | "other" | null {
  const te = headers.getAll("transfer-encoding");
  if (te.length === 0) return null;
  if (headers.has("content-length")) {
    fail(
      side,
      "HTTP_TE_WITH_CL",
      "Transfer-Encoding together with Content-Length (RFC 9112 §6.3: a smuggling vector)",
    );
  }
  const codings = transferCodings(te);
  const chunkedAt = codings.indexOf("chunked");
  if (chunkedAt !== -1 && chunkedAt !== codings.length - 1) {
    fail(
      side,
      "HTTP_BAD_TRANSFER_ENCODING",
      `chunked must be the final transfer coding, once: got ${JSON.stringify(te.join(", "))} (RFC 9112 §6.1)`,
    );
  }
  return chunkedAt === -1 ? "other" : "chunked";
}
