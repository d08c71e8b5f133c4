/**
 * The chunked transfer coding (RFC 9112 §7.1): an incremental decoder used by
 * the message readers, and the encoding helpers used by writers.
 *
 * @module
 */
import { HttpParseError } from "../errors.ts";
import { CR, HTAB, LF, SP, TCHAR } from "./chars.ts";
import type { HttpHeaders } from "./headers.ts";
import { type HeadLimits, parseFieldSection } from "./head.ts";

/** Longest chunk-size line accepted, extensions included. */
export const MAX_CHUNK_LINE_BYTES = 4096;

const SIZE = 0, DATA = 1, DATA_CRLF = 2, TRAILERS = 3, DONE = 4;
const HEX: Int8Array = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) t[0x30 + i] = i;
  for (let i = 0; i < 6; i++) t[0x41 + i] = t[0x61 + i] = 10 + i;
  return t;
})();

/** What {@link ChunkedDecoder.step} found. */
export type ChunkStep = "need" | "data" | "size" | "end";

/**
 * Decodes a chunked body incrementally. Internal to the codec: the caller
 * owns the bytes and passes `[pos, end)` each step.
 */
export class ChunkedDecoder {
  readonly #side: "request" | "response";
  readonly #limits: HeadLimits;
  #state = SIZE;
  #remaining = 0;

  /** After "data": the body bytes are `buf[dataStart, dataEnd)`. */
  dataStart = 0;
  /** After "data": end of the body bytes. */
  dataEnd = 0;
  /** After "end": the trailer fields, or null when there were none. */
  trailers: HttpHeaders | null = null;
  /** After any step: the position to continue from. */
  pos = 0;

  /**
   * @param side Whose message is decoded (bare-LF rule and error statuses for trailers).
   * @param limits Limits for the trailer section.
   */
  constructor(side: "request" | "response", limits: HeadLimits) {
    this.#side = side;
    this.#limits = limits;
  }

  #fail(code: string, message: string): never {
    throw new HttpParseError(code, message, { status: this.#side === "response" ? 502 : 400 });
  }

  /**
   * Advances over `buf[pos, end)`. Returns "data" with a body slice, "size"
   * after consuming framing bytes only, "end" after the trailer section, or
   * "need" when nothing more can be decoded from these bytes. Always read
   * {@link ChunkedDecoder.pos} afterwards.
   *
   * @param buf The bytes.
   * @param pos Where unread bytes start.
   * @param end Where they end.
   * @returns What was found.
   * @throws {HttpParseError} `HTTP_BAD_CHUNK` for a bad size line or a missing CRLF.
   */
  step(buf: Uint8Array, pos: number, end: number): ChunkStep {
    this.pos = pos;
    switch (this.#state) {
      case SIZE:
        return this.#size(buf, pos, end);
      case DATA: {
        if (pos === end) return "need";
        const n = Math.min(this.#remaining, end - pos);
        this.#remaining -= n;
        this.dataStart = pos;
        this.dataEnd = pos + n;
        this.pos = pos + n;
        if (this.#remaining === 0) this.#state = DATA_CRLF;
        return "data";
      }
      case DATA_CRLF: {
        if (pos === end) return "need";
        if (buf[pos] !== CR) this.#fail("HTTP_BAD_CHUNK", "missing CRLF after chunk data (RFC 9112 §7.1)");
        if (pos + 1 === end) return "need";
        if (buf[pos + 1] !== LF) this.#fail("HTTP_BAD_CHUNK", "missing CRLF after chunk data (RFC 9112 §7.1)");
        this.pos = pos + 2;
        this.#state = SIZE;
        return "size";
      }
      case TRAILERS: {
        const section = parseFieldSection(buf.subarray(pos, end), this.#side, this.#limits);
        if (section === null) return "need";
        this.trailers = section.headers.size > 0 ? section.headers : null;
        this.pos = pos + section.length;
        this.#state = DONE;
        return "end";
      }
      default:
        return "need";
    }
  }

  // chunk-size [ chunk-ext ] CRLF, with chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )
  #size(buf: Uint8Array, pos: number, end: number): ChunkStep {
    const stop = Math.min(end, pos + MAX_CHUNK_LINE_BYTES);
    const lf = buf.subarray(pos, stop).indexOf(LF);
    if (lf === -1) {
      if (stop - pos >= MAX_CHUNK_LINE_BYTES) {
        this.#fail("HTTP_BAD_CHUNK", `chunk size line longer than ${MAX_CHUNK_LINE_BYTES} bytes`);
      }
      // Fail early on garbage instead of waiting for a line end.
      if (pos < end && HEX[buf[pos]!] === -1) this.#badSize(buf, pos, end);
      return "need";
    }
    const lineEnd = pos + lf;
    if (lf === 0 || buf[lineEnd - 1] !== CR) {
      this.#fail("HTTP_BAD_CHUNK", "chunk size line must end in CRLF (RFC 9112 §7.1)");
    }
    const le = lineEnd - 1;
    let i = pos;
    let size = 0;
    for (; i < le && HEX[buf[i]!] !== -1; i++) {
      if (i - pos >= 15) this.#fail("HTTP_BAD_CHUNK", "chunk size has more than 15 hex digits");
      size = size * 16 + HEX[buf[i]!]!;
    }
    if (i === pos) this.#badSize(buf, pos, le);
    this.#extensions(buf, i, le);
    this.pos = lineEnd + 1;
    if (size === 0) {
      this.#state = TRAILERS;
    } else {
      this.#remaining = size;
      this.#state = DATA;
    }
    return "size";
  }

  #badSize(buf: Uint8Array, pos: number, end: number): never {
    const text = String.fromCharCode(...buf.subarray(pos, Math.min(end, pos + 20)));
    this.#fail("HTTP_BAD_CHUNK", `invalid chunk size: got ${JSON.stringify(text)} (RFC 9112 §7.1)`);
  }

  // No closures here: this runs once per chunk.
  #extensions(buf: Uint8Array, i: number, le: number): void {
    for (;;) {
      i = skipWs(buf, i, le);
      if (i === le) return;
      if (buf[i] !== 0x3b) break;
      i = skipWs(buf, i + 1, le);
      let t = skipToken(buf, i, le);
      if (t === i) break;
      i = skipWs(buf, t, le);
      if (i < le && buf[i] === 0x3d) {
        i = skipWs(buf, i + 1, le);
        if (i < le && buf[i] === 0x22) {
          // quoted-string: qdtext or quoted-pair, no CTLs but HTAB
          i++;
          let closed = false;
          while (i < le) {
            const c = buf[i++]!;
            if (c === 0x22) {
              closed = true;
              break;
            }
            if (c === 0x5c) i++;
            else if ((c < 0x20 && c !== HTAB) || c === 0x7f) break;
          }
          if (!closed || i > le) break;
        } else {
          t = skipToken(buf, i, le);
          if (t === i) break;
          i = t;
        }
      }
    }
    this.#fail("HTTP_BAD_CHUNK", "malformed chunk extension (RFC 9112 §7.1.1)");
  }
}

function skipWs(buf: Uint8Array, i: number, le: number): number {
  while (i < le && (buf[i] === SP || buf[i] === HTAB)) i++;
  return i;
}

function skipToken(buf: Uint8Array, i: number, le: number): number {
  while (i < le && TCHAR[buf[i]!] === 1) i++;
  return i;
}

const enc = new TextEncoder();

/** The last chunk with no trailers: `0\r\n\r\n`. */
export const LAST_CHUNK: Uint8Array = enc.encode("0\r\n\r\n");

/**
 * Frames one chunk: size in hex, CRLF, the data, CRLF, in one new buffer so
 * it goes out in one write. Empty data gives an empty array (an empty chunk
 * would end the body).
 *
 * @param data The chunk payload.
 * @returns The framed bytes.
 *
 * @example Frame a body piece
 * ```ts
 * import { encodeChunk, LAST_CHUNK } from "@sluice/net/core";
 * const wire = [encodeChunk(new TextEncoder().encode("hello")), LAST_CHUNK];
 * console.log(new TextDecoder().decode(wire[0])); // "5\r\nhello\r\n"
 * ```
 */
export function encodeChunk(data: Uint8Array): Uint8Array {
  if (data.length === 0) return new Uint8Array(0);
  const size = data.length.toString(16);
  const out = new Uint8Array(size.length + 4 + data.length);
  enc.encodeInto(size, out);
  out[size.length] = CR;
  out[size.length + 1] = LF;
  out.set(data, size.length + 2);
  out[out.length - 2] = CR;
  out[out.length - 1] = LF;
  return out;
}
