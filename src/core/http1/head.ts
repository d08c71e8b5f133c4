/**
 * A bounded, pure parser for HTTP/1.x message heads (RFC 9112 §2–§5): the
 * request or status line and the header fields, up to and including the empty
 * line. Bodies are framed elsewhere (see `body_framing.ts`).
 *
 * Policies, all strict unless said otherwise:
 * - Limits are enforced while scanning, before the terminating empty line has
 *   arrived, so a peer cannot make the caller buffer more than
 *   `maxHeaderBytes` or more than `maxHeaderCount` lines.
 * - Line endings: CRLF. A CR not followed by LF is always rejected
 *   (`HTTP_BARE_CR`). A bare LF is rejected in requests (`HTTP_BARE_LF`, since a
 *   proxy and a server that disagree about line ends enable request smuggling)
 *   but accepted as a line end in responses, where LF-only servers exist in the
 *   wild and the client is the only party reading them (RFC 9112 §2.2 allows
 *   either).
 * - Obsolete line folding (a field line starting with SP or HTAB) and
 *   whitespace between the start line and the first field are rejected
 *   (RFC 9112 §5.2, §2.2), as is whitespace between a field name and its colon
 *   (§5.1).
 * - Requests may be preceded by empty lines (CRLF), which are skipped
 *   (RFC 9112 §2.2); they count towards `headLength` and `maxHeaderBytes`.
 * - `HttpParseError.status` is what a server should answer: 400, 431 for the
 *   limits, 505 for an HTTP version other than 1.x. For response heads it is
 *   502, what a gateway answers after an invalid upstream response
 *   (RFC 9110 §15.6.3).
 *
 * @module
 */
import { HttpParseError } from "../errors.ts";
import { CR, FIELD_CHAR, HTAB, LF, SP, TARGET_CHAR, TCHAR } from "./chars.ts";
import { headersFromParsed, type HttpHeaders } from "./headers.ts";
import { decodeLatin1 } from "./latin1.ts";

export { HttpHeaders } from "./headers.ts";

/** Bounds on a message head. Both are on by default. */
export interface HeadLimits {
  /** Largest head in bytes, start line and final empty line included. @default 16384 */
  maxHeaderBytes: number;
  /** Most header field lines. @default 100 */
  maxHeaderCount: number;
}

/** The default {@link HeadLimits}: 16 KiB and 100 fields. */
export const DEFAULT_HEAD_LIMITS: Readonly<HeadLimits> = Object.freeze({
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
});

/** A parsed request line and header fields. */
export interface RequestHead {
  /** The method token, case preserved (methods are case-sensitive, RFC 9110 §9.1). */
  method: string;
  /** The request-target exactly as sent (origin-form, absolute-form, `*`…). */
  target: string;
  /** The protocol version; `HTTP/1.x` with x > 1 is read as "1.1" (RFC 9112 §2.3). */
  version: "1.0" | "1.1";
  /** The header fields in order. */
  headers: HttpHeaders;
  /** Bytes consumed, from the first byte through the final CRLFCRLF. */
  headLength: number;
}

/** A parsed status line and header fields. */
export interface ResponseHead {
  /** The protocol version. */
  version: "1.0" | "1.1";
  /** The three-digit status code, 100–999. */
  status: number;
  /** The reason phrase, possibly empty. */
  reason: string;
  /** The header fields in order. */
  headers: HttpHeaders;
  /** Bytes consumed, from the first byte through the final CRLFCRLF. */
  headLength: number;
}

type Side = "request" | "response";

function fail(side: Side, code: string, message: string, status = 400): never {
  throw new HttpParseError(code, message, { status: side === "response" ? 502 : status });
}

function resolveLimits(
  limits: { maxHeaderBytes?: number | undefined; maxHeaderCount?: number | undefined } | undefined,
): HeadLimits {
  if (limits === undefined) return DEFAULT_HEAD_LIMITS;
  const maxHeaderBytes = limits.maxHeaderBytes ?? DEFAULT_HEAD_LIMITS.maxHeaderBytes;
  const maxHeaderCount = limits.maxHeaderCount ?? DEFAULT_HEAD_LIMITS.maxHeaderCount;
  if (!Number.isSafeInteger(maxHeaderBytes) || maxHeaderBytes < 16) {
    throw new RangeError(`maxHeaderBytes must be an integer ≥ 16: got ${maxHeaderBytes}`);
  }
  if (!Number.isSafeInteger(maxHeaderCount) || maxHeaderCount < 0) {
    throw new RangeError(`maxHeaderCount must be a non-negative integer: got ${maxHeaderCount}`);
  }
  return { maxHeaderBytes, maxHeaderCount };
}

function show(buf: Uint8Array, start: number, end: number): string {
  return JSON.stringify(decodeLatin1(buf, start, Math.min(end, start + 80)));
}

// Names a byte that is not allowed where it was found.
function badByte(side: Side, buf: Uint8Array, at: number, where: string, code: string): never {
  const b = buf[at]!;
  if (b === CR) fail(side, "HTTP_BARE_CR", `CR not followed by LF in the ${where} (RFC 9112 §2.2)`);
  const hex = "0x" + b.toString(16).padStart(2, "0");
  fail(side, code, `invalid byte ${hex} at offset ${at} in the ${where}`);
}

/**
 * Finds the end of the head: the offset after the empty line, or -1 when more
 * bytes are needed. Enforces both limits on what has arrived so far.
 */
function findEnd(
  buf: Uint8Array,
  start: number,
  side: Side,
  limits: HeadLimits,
  startLines = 1,
): number {
  const max = limits.maxHeaderBytes;
  let pos = start;
  let lines = 0;
  for (;;) {
    const lf = buf.indexOf(LF, pos);
    if (lf === -1 ? buf.length >= max : lf >= max) {
      fail(
        side,
        "HTTP_HEAD_TOO_LARGE",
        `message head exceeds maxHeaderBytes ${max} (RFC 9112 §2.3)`,
        431,
      );
    }
    if (lf === -1) return -1;
    if (side === "request" && (lf === 0 || buf[lf - 1] !== CR)) {
      fail(side, "HTTP_BARE_LF", `line ending in LF without CR at offset ${lf} (RFC 9112 §2.2)`);
    }
    if (lf === pos || (lf === pos + 1 && buf[pos] === CR)) return lf + 1;
    if (++lines > limits.maxHeaderCount + startLines) {
      fail(
        side,
        "HTTP_TOO_MANY_HEADERS",
        `more than maxHeaderCount ${limits.maxHeaderCount} header fields`,
        431,
      );
    }
    pos = lf + 1;
  }
}

// End of the line that starts at `pos` (excluding CRLF or LF); `next` is after the LF.
let next = 0;
function lineEnd(buf: Uint8Array, pos: number): number {
  const lf = buf.indexOf(LF, pos);
  next = lf + 1;
  return lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
}

function parseFields(buf: Uint8Array, pos: number, end: number, side: Side): HttpHeaders {
  const text = decodeLatin1(buf, 0, end);
  const names: string[] = [];
  const values: string[] = [];
  while (pos < end) {
    const le = lineEnd(buf, pos);
    const lineStart = pos;
    pos = next;
    if (le === lineStart) break; // the empty line
    const first = buf[lineStart];
    if (first === SP || first === HTAB) {
      fail(
        side,
        "HTTP_OBS_FOLD",
        names.length === 0
          ? `whitespace between the start line and the first field (RFC 9112 §2.2): ${show(buf, lineStart, le)}`
          : `obsolete line folding is not accepted (RFC 9112 §5.2): ${show(buf, lineStart, le)}`,
      );
    }
    let i = lineStart;
    let upper = false;
    for (; i < le; i++) {
      const c = buf[i]!;
      if (TCHAR[c] === 0) break;
      if (c <= 0x5a && c >= 0x41) upper = true;
    }
    if (i === le) {
      fail(side, "HTTP_BAD_HEADER", `field line without a colon: ${show(buf, lineStart, le)}`);
    }
    if (buf[i] !== 0x3a) {
      if (buf[i] === SP || buf[i] === HTAB) {
        fail(
          side,
          "HTTP_BAD_HEADER_NAME",
          `whitespace between field name and colon (RFC 9112 §5.1): ${show(buf, lineStart, le)}`,
        );
      }
      badByte(side, buf, i, "field name", "HTTP_BAD_HEADER_NAME");
    }
    if (i === lineStart) fail(side, "HTTP_BAD_HEADER_NAME", `empty field name: ${show(buf, i, le)}`);
    const name = text.slice(lineStart, i);
    let vs = i + 1;
    let ve = le;
    while (vs < ve && (buf[vs] === SP || buf[vs] === HTAB)) vs++;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
    for (let j = vs; j < ve; j++) {
      if (FIELD_CHAR[buf[j]!] === 0) badByte(side, buf, j, `value of ${name}`, "HTTP_BAD_HEADER_VALUE");
    }
    names.push(upper ? name.toLowerCase() : name);
    values.push(text.slice(vs, ve));
  }
  return headersFromParsed(names, values);
}

// Reads "HTTP/d.d" at `at`; returns the minor digit (0–9), or throws.
function parseVersion(buf: Uint8Array, at: number, end: number, side: Side): "1.0" | "1.1" {
  const ok = end - at === 8 && buf[at] === 0x48 && buf[at + 1] === 0x54 &&
    buf[at + 2] === 0x54 && buf[at + 3] === 0x50 && buf[at + 4] === 0x2f &&
    buf[at + 6] === 0x2e && isDigit(buf[at + 5]!) && isDigit(buf[at + 7]!);
  const where = side === "request" ? "request line" : "status line";
  if (!ok) {
    fail(side, side === "request" ? "HTTP_BAD_REQUEST_LINE" : "HTTP_BAD_STATUS_LINE",
      `bad HTTP version in the ${where}: ${show(buf, at, end)}`);
  }
  if (buf[at + 5] !== 0x31) {
    fail(side, "HTTP_VERSION_NOT_SUPPORTED", `unsupported HTTP version: ${show(buf, at, end)}`, 505);
  }
  return buf[at + 7] === 0x30 ? "1.0" : "1.1";
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/**
 * Parses a request head from the start of `buf` (RFC 9112 §3, §5).
 *
 * @param buf Bytes received so far; bytes after the head (a body) are ignored.
 * @param limits Overrides for {@link DEFAULT_HEAD_LIMITS}.
 * @returns The head, or `null` when the head is not complete yet.
 * @throws {HttpParseError} On malformed input or a limit exceeded, even
 *   before the head is complete; `status` is 400, 431 or 505.
 * @throws {RangeError} When a limit is not a valid number.
 *
 * @example Parse a GET
 * ```ts
 * import { parseRequestHead } from "@sluice/net/core";
 * const raw = ["GET /a?b=1 HTTP/1.1", "Host: example.com", "", ""].join("\r\n");
 * const head = parseRequestHead(new TextEncoder().encode(raw));
 * console.log(head?.method, head?.target, head?.headers.get("host")); // GET /a?b=1 example.com
 * ```
 */
export function parseRequestHead(buf: Uint8Array, limits?: Partial<HeadLimits>): RequestHead | null {
  const lim = resolveLimits(limits);
  let start = 0;
  // RFC 9112 §2.2: ignore empty lines received before the request line.
  while (start < buf.length && buf[start] === CR) {
    if (start + 1 === buf.length) break;
    if (buf[start + 1] !== LF) badByte("request", buf, start, "request line", "HTTP_BAD_REQUEST_LINE");
    start += 2;
  }
  const end = findEnd(buf, start, "request", lim);
  if (end === -1) return null;
  const le = lineEnd(buf, start);
  const afterLine = next;
  let i = start;
  while (i < le && TCHAR[buf[i]!] === 1) i++;
  if (i === start || i === le || buf[i] !== SP) {
    if (i < le && buf[i] !== SP) badByte("request", buf, i, "method", "HTTP_BAD_METHOD");
    fail("request", "HTTP_BAD_REQUEST_LINE", `bad request line: ${show(buf, start, le)}`);
  }
  const ts = i + 1;
  let j = ts;
  while (j < le && TARGET_CHAR[buf[j]!] === 1) j++;
  if (j === ts || j === le || buf[j] !== SP) {
    if (j < le && buf[j] !== SP) badByte("request", buf, j, "request-target", "HTTP_BAD_TARGET");
    fail("request", "HTTP_BAD_REQUEST_LINE", `bad request line: ${show(buf, start, le)}`);
  }
  const version = parseVersion(buf, j + 1, le, "request");
  const headers = parseFields(buf, afterLine, end, "request");
  return {
    method: decodeLatin1(buf, start, i),
    target: decodeLatin1(buf, ts, j),
    version,
    headers,
    headLength: end,
  };
}

/**
 * Parses a response head from the start of `buf` (RFC 9112 §4, §5). Accepts
 * `HTTP/1.1 200` without a reason phrase or its space, and bare-LF line ends.
 *
 * @param buf Bytes received so far; bytes after the head (a body) are ignored.
 * @param limits Overrides for {@link DEFAULT_HEAD_LIMITS}.
 * @returns The head, or `null` when the head is not complete yet.
 * @throws {HttpParseError} On malformed input or a limit exceeded, even
 *   before the head is complete; `status` is 502.
 * @throws {RangeError} When a limit is not a valid number.
 *
 * @example Parse a status line and fields
 * ```ts
 * import { parseResponseHead } from "@sluice/net/core";
 * const raw = ["HTTP/1.1 404 Not Found", "Content-Length: 0", "", ""].join("\r\n");
 * const head = parseResponseHead(new TextEncoder().encode(raw));
 * console.log(head?.status, head?.reason); // 404 Not Found
 * ```
 */
export function parseResponseHead(
  buf: Uint8Array,
  limits?: Partial<HeadLimits>,
): ResponseHead | null {
  const lim = resolveLimits(limits);
  const end = findEnd(buf, 0, "response", lim);
  if (end === -1) return null;
  const le = lineEnd(buf, 0);
  const afterLine = next;
  if (le < 12 || buf[8] !== SP) {
    fail("response", "HTTP_BAD_STATUS_LINE", `bad status line: ${show(buf, 0, le)}`);
  }
  const version = parseVersion(buf, 0, 8, "response");
  const d0 = buf[9]!, d1 = buf[10]!, d2 = buf[11]!; // le >= 12 checked above
  if (!isDigit(d0) || !isDigit(d1) || !isDigit(d2) || d0 === 0x30 || (le > 12 && buf[12] !== SP)) {
    fail("response", "HTTP_BAD_STATUS_LINE", `bad status code: ${show(buf, 0, le)}`);
  }
  for (let k = 13; k < le; k++) {
    if (FIELD_CHAR[buf[k]!] === 0) badByte("response", buf, k, "reason phrase", "HTTP_BAD_STATUS_LINE");
  }
  return {
    version,
    status: (d0 - 0x30) * 100 + (d1 - 0x30) * 10 + (d2 - 0x30),
    reason: le > 13 ? decodeLatin1(buf, 13, le) : "",
    headers: parseFields(buf, afterLine, end, "response"),
    headLength: end,
  };
}

/** A parsed trailer section (RFC 9112 §7.1.2). */
export interface FieldSection {
  /** The fields. */
  headers: HttpHeaders;
  /** Bytes consumed, through the final empty line. */
  length: number;
}

/**
 * Parses a field section without a start line (the trailers after the last
 * chunk), with the same rules and limits as a head. Internal to the codec.
 *
 * @param buf Bytes starting at the first trailer line (or the empty line).
 * @param side Which side's rules apply (bare LF, error statuses).
 * @param limits Resolved limits.
 * @returns The fields, or `null` when more bytes are needed.
 * @throws {HttpParseError} On malformed input or a limit exceeded.
 */
export function parseFieldSection(
  buf: Uint8Array,
  side: "request" | "response",
  limits: HeadLimits,
): FieldSection | null {
  const end = findEnd(buf, 0, side, limits, 0);
  if (end === -1) return null;
  return { headers: parseFields(buf, 0, end, side), length: end };
}

export { resolveLimits };
