/**
 * The engine shared by {@link ResponseReader} and {@link RequestReader}:
 * buffer management (zero-copy `push`, or `spare`/`filled` to read a socket
 * straight into the buffer), head parsing, and body framing by length,
 * chunked coding or connection close.
 *
 * @module
 */
import { HttpParseError } from "../errors.ts";
import { ChunkedDecoder } from "./chunked.ts";
import type { BodyKind, Framing } from "./framing.ts";
import type { HttpHeaders } from "./headers.ts";
import { type HeadLimits, resolveLimits } from "./head.ts";

/**
 * Options shared by the request and response readers. An absent or undefined
 * field takes its default.
 */
export interface MessageReaderOptions {
  /** Largest head in bytes, start line and final empty line included (see {@link HeadLimits}). @default 16384 */
  maxHeaderBytes?: number | undefined;
  /** Most header field lines (see {@link HeadLimits}). @default 100 */
  maxHeaderCount?: number | undefined;
  /** Largest body accepted, in bytes; larger ones fail with `HTTP_BODY_TOO_LARGE` (413). @default 67108864 (64 MiB) */
  maxBodySize?: number | undefined;
  /** Initial receive buffer size in bytes; grows as a head or chunk line needs. @default 16384 */
  bufferCapacity?: number | undefined;
}

/** The head of a message, with how its body is framed. */
export interface HeadEvent<H> {
  /** Discriminant. */
  readonly type: "head";
  /** The parsed head. */
  readonly head: H;
  /** How the body is delimited: none, Content-Length, chunked, or until the peer closes. */
  readonly body: BodyKind;
  /** The Content-Length when `body` is "length", else null. */
  readonly contentLength: number | null;
  /** Whether the connection can carry another message after this one. */
  readonly keepAlive: boolean;
  /** Whether the protocol switches after this head (see the readers' `detach()`). */
  readonly upgrade: boolean;
}

/** A piece of the body: a borrowed view, valid until the next call on the reader. */
export interface DataEvent {
  /** Discriminant. */
  readonly type: "data";
  /** Body bytes (chunked framing removed). */
  readonly data: Uint8Array;
}

/** Trailer fields after a chunked body (RFC 9112 §7.1.2). */
export interface TrailersEvent {
  /** Discriminant. */
  readonly type: "trailers";
  /** The trailer fields. */
  readonly trailers: HttpHeaders;
}

/** The message is complete. */
export interface EndEvent {
  /** Discriminant. */
  readonly type: "end";
  /** Whether the connection can carry another message. */
  readonly keepAlive: boolean;
}

/** Internal: what a reader side supplies to the engine. */
export interface ReaderSide<H extends { headLength: number }> {
  side: "request" | "response";
  parse(buf: Uint8Array, limits: HeadLimits): H | null;
  /** Framing for a head, or null for an interim (1xx) response. */
  frame(head: H, maxBodySize: number): Framing | null;
  /** Called when a final message ends. */
  done(): void;
}

const HEAD = 0, LENGTH = 1, CHUNKED = 2, CLOSE = 3, END = 4, DETACHED = 5;
const MIN_SPARE = 4096;

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer: got ${value}`);
  }
  return value;
}

/**
 * Internal engine; use {@link ResponseReader} or {@link RequestReader}.
 */
export class MessageReader<H extends { headLength: number }> {
  readonly #sideHooks: ReaderSide<H>;
  readonly #limits: HeadLimits;
  readonly #maxBody: number;
  #buf: Uint8Array;
  /** Bytes being parsed: `#buf`, or a chunk borrowed from `push()`. */
  #src: Uint8Array;
  #pos = 0;
  #end = 0;
  #state = HEAD;
  #remaining = 0;
  #bodyBytes = 0;
  #keepAlive = true;
  #eof = false;
  #error: HttpParseError | null = null;
  #chunked: ChunkedDecoder;

  /**
   * @param options Limits and buffer size.
   * @param side The request- or response-specific hooks.
   */
  constructor(options: MessageReaderOptions, side: ReaderSide<H>) {
    this.#sideHooks = side;
    this.#limits = resolveLimits(options);
    this.#maxBody = positiveInt("maxBodySize", options.maxBodySize, 64 * 1024 * 1024);
    this.#buf = new Uint8Array(positiveInt("bufferCapacity", options.bufferCapacity, 16384));
    this.#src = this.#buf;
    this.#chunked = new ChunkedDecoder(side.side, this.#limits);
  }

  /** Bytes received and not yet returned. */
  get buffered(): number {
    return this.#end - this.#pos;
  }

  /** True between messages: no partial message is buffered or in progress. */
  get idle(): boolean {
    return this.#state === HEAD && this.#pos === this.#end;
  }

  /**
   * Body bytes of the current message returned so far as `data` (chunk
   * framing excluded), reset as each head is parsed. Says how much of a body
   * arrived when the peer cut it short.
   */
  get receivedBodyBytes(): number {
    return this.#bodyBytes;
  }

  /** True once the peer's end of stream was signalled with `eof()`. */
  get ended(): boolean {
    return this.#eof;
  }

  /**
   * Returns free space at the end of the buffer to read into; then call
   * `filled(n)`. At least 4 KiB.
   *
   * @returns A writable view.
   * @throws {HttpParseError} When the reader has already failed.
   */
  spare(): Uint8Array {
    if (this.#error) throw this.#error;
    if (this.#src !== this.#buf) this.#internalize();
    // Offer as much of the buffer as possible, so a socket read into it is as
    // large as the buffer: free when all was consumed, else move a small rest.
    const unread = this.#end - this.#pos;
    if (unread === 0) this.#pos = this.#end = 0;
    else if (this.#pos > 0 && unread < MIN_SPARE && this.#end > this.#buf.length >> 1) this.compact();
    this.#ensureSpace(MIN_SPARE);
    return this.#buf.subarray(this.#end);
  }

  /**
   * Marks `n` bytes of the last `spare()` view as received.
   *
   * @param n Bytes written.
   * @throws {RangeError} When `n` exceeds the spare space.
   */
  filled(n: number): void {
    if (this.#src !== this.#buf) this.#internalize();
    if (!Number.isInteger(n) || n < 0 || this.#end + n > this.#buf.length) {
      throw new RangeError(`filled(${n}) exceeds the spare space of ${this.#buf.length - this.#end} bytes`);
    }
    this.#end += n;
  }

  /** Moves unread bytes to the front of the buffer (done on demand by `spare` and `push`). */
  compact(): void {
    if (this.#src !== this.#buf) this.#internalize();
    if (this.#pos === 0) return;
    this.#buf.copyWithin(0, this.#pos, this.#end);
    this.#end -= this.#pos;
    this.#pos = 0;
  }

  /**
   * Adds received bytes. When nothing is buffered the chunk is parsed in place
   * and body views point into it (it is never written to).
   *
   * @param chunk Bytes from the peer.
   * @throws {HttpParseError} When the reader has already failed.
   */
  push(chunk: Uint8Array): void {
    if (this.#error) throw this.#error;
    if (chunk.length === 0) return;
    if (this.#pos === this.#end) {
      this.#src = chunk;
      this.#pos = 0;
      this.#end = chunk.length;
      return;
    }
    if (this.#src !== this.#buf) this.#internalize();
    this.#ensureSpace(chunk.length);
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /**
   * Signals that the peer closed its sending side: a body delimited by close
   * ends, and a partial message becomes an `HTTP_INCOMPLETE_MESSAGE` error.
   */
  eof(): void {
    this.#eof = true;
  }

  /**
   * Stops parsing and returns the unread bytes (a copy), for a protocol that
   * takes over the connection after an upgrade.
   *
   * @returns Bytes received after the last message consumed.
   */
  detach(): Uint8Array {
    const rest = this.#src.slice(this.#pos, this.#end);
    this.#pos = this.#end = 0;
    this.#src = this.#buf;
    this.#state = DETACHED;
    return rest;
  }

  /**
   * Returns the next event, or null when more bytes are needed.
   *
   * @returns An event, or null.
   * @throws {HttpParseError} On malformed input; afterwards every call throws it.
   */
  nextEvent(): HeadEvent<H> | DataEvent | TrailersEvent | EndEvent | { type: "informational"; head: H } | null {
    if (this.#error) throw this.#error;
    try {
      return this.#next();
    } catch (e) {
      if (e instanceof HttpParseError) this.#error = e;
      throw e;
    }
  }

  #next(): HeadEvent<H> | DataEvent | TrailersEvent | EndEvent | { type: "informational"; head: H } | null {
    const src = this.#src;
    switch (this.#state) {
      case HEAD: {
        if (this.#pos === this.#end) return null;
        const head = this.#sideHooks.parse(src.subarray(this.#pos, this.#end), this.#limits);
        if (head === null) return this.#needMore("head");
        this.#pos += head.headLength;
        const f = this.#sideHooks.frame(head, this.#maxBody);
        if (f === null) return { type: "informational", head };
        this.#keepAlive = f.keepAlive && f.body !== "close";
        this.#bodyBytes = 0;
        if (f.upgrade) this.#state = DETACHED;
        else if (f.body === "length" && f.length! > 0) {
          this.#state = LENGTH;
          this.#remaining = f.length!;
        } else if (f.body === "chunked") {
          this.#state = CHUNKED;
          this.#chunked = new ChunkedDecoder(this.#sideHooks.side, this.#limits);
        } else if (f.body === "close") this.#state = CLOSE;
        else this.#state = END;
        return {
          type: "head",
          head,
          body: f.body,
          contentLength: f.length,
          keepAlive: this.#keepAlive,
          upgrade: f.upgrade,
        };
      }
      case LENGTH: {
        const avail = this.#end - this.#pos;
        if (avail === 0) return this.#needMore("body");
        const n = Math.min(avail, this.#remaining);
        const data = src.subarray(this.#pos, this.#pos + n);
        this.#pos += n;
        this.#remaining -= n;
        this.#bodyBytes += n;
        if (this.#remaining === 0) this.#state = END;
        return { type: "data", data };
      }
      case CHUNKED: {
        const d = this.#chunked;
        for (;;) {
          const r = d.step(src, this.#pos, this.#end);
          this.#pos = d.pos;
          if (r === "size") continue;
          if (r === "need") return this.#needMore("chunked body");
          if (r === "data") {
            this.#countBody(d.dataEnd - d.dataStart);
            return { type: "data", data: src.subarray(d.dataStart, d.dataEnd) };
          }
          this.#state = END;
          if (d.trailers !== null) return { type: "trailers", trailers: d.trailers };
          return this.#next();
        }
      }
      case CLOSE: {
        const avail = this.#end - this.#pos;
        if (avail > 0) {
          this.#countBody(avail);
          const data = src.subarray(this.#pos, this.#end);
          this.#pos = this.#end;
          return { type: "data", data };
        }
        if (!this.#eof) return null;
        this.#state = END;
        return this.#next();
      }
      case END: {
        this.#state = this.#keepAlive ? HEAD : DETACHED;
        this.#sideHooks.done();
        return { type: "end", keepAlive: this.#keepAlive };
      }
      default:
        return null;
    }
  }

  #countBody(n: number): void {
    this.#bodyBytes += n;
    if (this.#bodyBytes > this.#maxBody) {
      throw new HttpParseError(
        "HTTP_BODY_TOO_LARGE",
        `the body exceeds the limit of ${this.#maxBody} bytes`,
        { status: this.#sideHooks.side === "response" ? 502 : 413 },
      );
    }
  }

  #needMore(what: string): null {
    if (this.#eof) {
      throw new HttpParseError(
        "HTTP_INCOMPLETE_MESSAGE",
        `the peer closed the connection in the middle of the ${what}`,
        { status: 400 },
      );
    }
    // Keep the partial bytes: the caller may reuse the chunk it pushed.
    if (this.#src !== this.#buf) this.#internalize();
    return null;
  }

  #internalize(): void {
    const rest = this.#src.subarray(this.#pos, this.#end);
    this.#src = this.#buf;
    this.#pos = 0;
    this.#end = 0;
    this.#ensureSpace(rest.length);
    this.#buf.set(rest, 0);
    this.#end = rest.length;
  }

  #ensureSpace(n: number): void {
    if (this.#buf.length - this.#end >= n) return;
    this.compact();
    if (this.#buf.length - this.#end >= n) return;
    let size = this.#buf.length * 2;
    while (size - this.#end < n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buf.subarray(0, this.#end));
    this.#buf = grown;
    this.#src = grown;
  }
}
