/**
 * The receiving half of the RFC 6455 codec: bytes in, complete messages out.
 *
 * @module
 */
import { ProtocolError } from "../errors.ts";
import { giveBuffer, MIN_POOLED_BYTES, type PooledBuffer, pooledSize, takeBuffer } from "../buf_pool.ts";
import { maskInPlace } from "./mask.ts";
import { parseClosePayload } from "./close_payload.ts";
import type { Message } from "./message.ts";
import { Utf8Validator } from "./utf8.ts";

/** Options for {@link FrameReader}. */
export interface FrameReaderOptions {
  /** Which side this reader is on: a server reads masked frames, a client unmasked ones. */
  role: "client" | "server";
  /** Largest message (all fragments together) accepted, in bytes; larger ones fail with 1009. @default 67108864 (64 MiB) */
  maxMessageSize?: number | undefined;
  /**
   * Largest view {@link FrameReader.spare} offers for streaming reads, in
   * bytes. The receive buffer itself comes from a pool shared by all readers
   * only while bytes wait in it (it grows up to what one message needs) and
   * goes back once the reader is empty, so an idle reader holds none.
   * @default 65536
   */
  bufferCapacity?: number | undefined;
  /** Most fragments one message may have; more fail with 1009. @default 1024 */
  maxFragments?: number | undefined;
}

const OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xa;
/** The smallest spare() view, and the read size of an idle connection. */
const MIN_SPARE = MIN_POOLED_BYTES;
const EMPTY = new Uint8Array(0);
/** Chunks at least this long are parsed where they are; shorter ones are copied. */
const BORROW_FROM = 1024;
/** A chunk pushed behind a partial frame is copied whole below this size, lazily from it. */
const LAZY_COPY_FROM = 4096;

const fatalDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenientDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer: got ${value}`);
  }
  return value;
}

/**
 * Decodes WebSocket frames (RFC 6455 §5) into messages, without I/O.
 *
 * Feed bytes either with {@link FrameReader.push} or, to read a socket
 * straight into the reader's buffer, with {@link FrameReader.spare} and
 * {@link FrameReader.filled}; then call {@link FrameReader.next} until it
 * returns `null`.
 *
 * **Borrowing:** a returned message's `data` is a view into the reader's
 * buffer (or into the chunk given to `push`), valid until the next call of
 * any method of this reader. Masked payloads are unmasked in place, so a
 * server-side reader writes into the chunks it is given. Copy with
 * `retainMessage()` to keep a message.
 *
 * Every protocol violation throws a {@link ProtocolError} carrying the close
 * code to send; after one, every call throws the same error.
 *
 * @example Read frames from a socket without copying
 * ```ts
 * import { FrameReader } from "@sluice/net/core";
 * const reader = new FrameReader({ role: "client", maxMessageSize: 1 << 20 });
 * // with a BYOB-capable source: read into reader.spare(), then reader.filled(n)
 * const frame = new Uint8Array([0x82, 0x03, 1, 2, 3]);
 * reader.spare().set(frame);
 * reader.filled(frame.length);
 * for (let msg = reader.next(); msg !== null; msg = reader.next()) {
 *   if (msg.type === "binary") console.log(msg.data); // Uint8Array [1, 2, 3]
 * }
 * ```
 */
export class FrameReader {
  readonly #server: boolean;
  readonly #maxMessage: number;
  readonly #maxFragments: number;

  /**
   * The own buffer, taken from the shared pool only while bytes must wait in
   * it (a partial frame, a fragmented message, small chunks) and given back
   * once it is empty, so an idle reader holds no memory.
   */
  #own: PooledBuffer | null = null;
  #buf: Uint8Array = EMPTY;
  /** The own buffer's word view, fetched when masked bytes are first unmasked in it. */
  #words: Uint32Array | null = null;
  /** Bytes being parsed: `#buf`, or a chunk borrowed from `push()`. */
  #src: Uint8Array = EMPTY;
  #srcWordsOf: Uint8Array | null = null;
  #srcWords: Uint32Array | undefined = undefined;
  #pos = 0;
  #end = 0;

  // Current frame header, once parsed.
  #hasHeader = false;
  #fin = false;
  #opcode = 0;
  #masked = false;
  #headerLen = 0;
  #payloadLen = 0;
  /** Payload bytes of the current frame already unmasked (and validated, for text). */
  #done = 0;

  // Fragmented message being assembled in #buf at [#asmStart, #asmStart + #asmLen).
  #fragmented = false;
  #asmOpcode = 0;
  #asmStart = 0;
  #asmLen = 0;
  #fragments = 0;

  /** Made for the first text message validated incrementally (most never are). */
  #utf8Validator: Utf8Validator | null = null;
  get #utf8(): Utf8Validator {
    return this.#utf8Validator ??= new Utf8Validator();
  }
  /** Whether the current text message is being validated incrementally. */
  #streaming = false;

  #error: ProtocolError | null = null;
  #closed = false;
  /** Bytes from #pos the current frame needs in all (for spare() sizing). */
  #need = 0;
  /**
   * A pushed chunk whose bytes follow the own buffer's, not copied yet: only
   * what completes the partial frame in the buffer is copied, then the rest
   * is parsed where it is.
   */
  #tail: Uint8Array | null = null;

  /**
   * Creates a reader.
   *
   * @param options Role and limits.
   * @throws {TypeError} When `role` is not "client" or "server".
   * @throws {RangeError} When a limit is not a positive integer.
   */
  constructor(options: FrameReaderOptions) {
    if (options?.role !== "client" && options?.role !== "server") {
      throw new TypeError(`role must be "client" or "server": got ${String(options?.role)}`);
    }
    this.#server = options.role === "server";
    this.#maxMessage = positiveInt("maxMessageSize", options.maxMessageSize, 64 * 1024 * 1024);
    this.#maxFragments = positiveInt("maxFragments", options.maxFragments, 1024);
    this.#readLimit = Math.max(
      MIN_SPARE,
      positiveInt("bufferCapacity", options.bufferCapacity, 65536),
    );
  }

  /** The largest spare() view offered for streaming reads (bufferCapacity). */
  readonly #readLimit: number;
  /** The size of the next spare() view when no frame is waiting: grows while reads fill it. */
  #readHint = MIN_SPARE;
  /** The length of the last spare() view. */
  #lastSpare = 0;

  /** True once a close frame was read; later bytes are ignored (RFC 6455 §5.5.1). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Bytes of buffer this reader holds of its own: 0 while it waits between
   * frames (its buffer went back to the shared pool), more only while a
   * partial frame or a streaming read needs room.
   */
  get heldBytes(): number {
    return this.#own === null ? 0 : this.#own.bytes.length;
  }

  /** Bytes received but not yet returned as part of a message. */
  get buffered(): number {
    return this.#end - this.#pos + (this.#fragmented ? this.#asmLen : 0) +
      (this.#tail?.length ?? 0);
  }

  /**
   * Returns free space at the end of the buffer to read into; call
   * {@link FrameReader.filled} with how many bytes were written. The view is
   * at least 1 KiB, and doubles (up to `bufferCapacity`) while reads fill it,
   * so a connection between bursts waits in a small read; while a large frame
   * is arriving the buffer grows geometrically towards what the frame needs.
   *
   * @returns A writable view of the free space.
   * @throws {ProtocolError} When the reader has already failed.
   */
  spare(): Uint8Array {
    if (this.#error) throw this.#error;
    if (this.#src !== this.#buf) this.#internalize();
    if (this.#tail !== null) this.#absorbTail();
    // Grow at most geometrically: a header alone must not make us allocate
    // the whole announced payload before any of it arrives.
    const missing = this.#need - (this.#end - this.#pos);
    const want = Math.max(this.#readHint, Math.min(missing, this.#buf.length));
    this.#ensureSpace(want);
    // At most what a frame needs or bufferCapacity, whichever is more (the
    // pooled buffer may be bigger). An empty buffer within that is offered
    // whole: no view object for the read to hold.
    const cap = Math.max(want, this.#readLimit);
    const buf = this.#buf;
    const view = this.#end === 0 && buf.length <= cap
      ? buf
      : buf.subarray(this.#end, Math.min(buf.length, this.#end + cap));
    this.#lastSpare = view.length;
    return view;
  }

  /**
   * Marks `n` bytes of the last {@link FrameReader.spare} view as received.
   *
   * @param n Number of bytes written into the spare view.
   * @throws {RangeError} When `n` is larger than the spare space.
   */
  filled(n: number): void {
    if (this.#src !== this.#buf) this.#internalize();
    if (this.#tail !== null) this.#absorbTail();
    if (!Number.isInteger(n) || n < 0 || this.#end + n > this.#buf.length) {
      throw new RangeError(
        `filled(${n}) exceeds the spare space of ${this.#buf.length - this.#end} bytes`,
      );
    }
    this.#end += n;
    // Streaming reads that fill their view get a bigger one next time (up to
    // bufferCapacity); one that did not gets a view the size of what it read
    // (a power of two), so a burst keeps reads large while the read an idle
    // connection waits in, after a small message, holds only MIN_SPARE bytes.
    this.#readHint = n >= this.#lastSpare
      ? Math.min(this.#readHint * 2, this.#readLimit)
      : Math.min(pooledSize(n), this.#readLimit);
  }

  /**
   * Moves unread bytes to the front of the buffer so its whole tail is free.
   * {@link FrameReader.spare} and {@link FrameReader.push} do this on their
   * own when needed.
   */
  compact(): void {
    if (this.#src !== this.#buf) this.#internalize();
    const buf = this.#buf;
    let to = 0;
    if (this.#fragmented) {
      if (this.#asmStart !== 0) buf.copyWithin(0, this.#asmStart, this.#asmStart + this.#asmLen);
      this.#asmStart = 0;
      to = this.#asmLen;
    }
    if (this.#pos !== to) {
      buf.copyWithin(to, this.#pos, this.#end);
      this.#end -= this.#pos - to;
      this.#pos = to;
    }
  }

  /**
   * Adds received bytes. When the reader holds no partial frame, the chunk is
   * parsed where it is, without a copy, and returned messages are views into
   * it: don't modify it until {@link FrameReader.next} has returned `null`.
   *
   * @param chunk Bytes received from the peer.
   * @throws {ProtocolError} When the reader has already failed.
   */
  push(chunk: Uint8Array): void {
    if (this.#error) throw this.#error;
    if (chunk.length === 0) return;
    // Messages are views of the chunk: keep them plain Uint8Arrays, not Node
    // Buffers (whose slice() is a view), whatever subclass the socket gave.
    if (chunk.constructor !== Uint8Array) {
      chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
    if (this.#src !== this.#buf) this.#internalize();
    if (this.#tail !== null) this.#absorbTail();
    if (this.#pos === this.#end && !this.#fragmented && !this.#hasHeader) {
      if (chunk.length >= BORROW_FROM) {
        this.#giveBack();
        this.#src = chunk;
        this.#pos = 0;
        this.#end = chunk.length;
        return;
      }
      // A small chunk is copied: cheaper than a view of it where it may be an
      // on-heap array (JavaScriptCore moves those off the heap first, which
      // costs microseconds; Bun hands each socket read over as one).
      if (this.#pos === this.#end) this.#pos = this.#end = 0;
    }
    if (chunk.length >= LAZY_COPY_FROM && !this.#fragmented) {
      // A partial frame waits in the buffer: copy only what completes it
      // (next() does), and parse the rest of the chunk where it is.
      this.#tail = chunk;
      return;
    }
    this.#ensureSpace(chunk.length);
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /**
   * Returns the next complete message, or `null` when more bytes are needed
   * (or after a close frame). Control frames are returned as they arrive, also
   * in the middle of a fragmented message.
   *
   * @returns The next message (borrowed: see the class docs), or null.
   * @throws {ProtocolError} On any violation of RFC 6455 or of the limits.
   */
  next(): Message | null {
    if (this.#error) throw this.#error;
    if (this.#closed) return null;
    try {
      return this.#next();
    } catch (e) {
      if (e instanceof ProtocolError) this.#error = e;
      throw e;
    }
  }

  #next(): Message | null {
    for (;;) {
      if (!this.#hasHeader && !this.#readHeader()) {
        if (this.#tail !== null) {
          this.#takeFromTail();
          continue;
        }
        return this.#needMore();
      }
      const src = this.#src;
      const start = this.#pos + this.#headerLen;
      const len = this.#payloadLen;
      const have = Math.min(this.#end - start, len);
      const opcode = this.#opcode;
      const isText = opcode === OP_TEXT || (opcode === OP_CONT && this.#asmOpcode === OP_TEXT);
      if (have < len) {
        // Partial payload: unmask and validate what is here, to fail fast (§8.1).
        if (have > this.#done && (isText || this.#masked)) this.#process(start, have, isText);
        this.#need = this.#headerLen + len;
        if (this.#tail !== null) {
          this.#takeFromTail();
          continue;
        }
        return this.#needMore();
      }
      if (len > this.#done) {
        this.#process(start, len, isText && (this.#streaming || this.#fragmented || !this.#fin));
      }
      this.#hasHeader = false;
      this.#done = 0;
      const next = start + len;
      this.#pos = next;

      if (opcode >= OP_CLOSE) return this.#control(opcode, src.subarray(start, next));
      if (this.#fin && !this.#fragmented) {
        const data = src.subarray(start, next);
        this.#release();
        if (opcode === OP_BINARY) return { type: "binary", data };
        return { type: "text", text: this.#finishText(data), data };
      }
      if (!this.#fragmented) {
        this.#fragmented = true;
        this.#asmOpcode = opcode;
        this.#asmStart = start;
        this.#asmLen = len;
        this.#fragments = 1;
        continue;
      }
      const asmEnd = this.#asmStart + this.#asmLen;
      if (start !== asmEnd && len > 0) this.#buf.copyWithin(asmEnd, start, next);
      this.#asmLen += len;
      if (!this.#fin) continue;
      this.#fragmented = false;
      const data = this.#buf.subarray(this.#asmStart, this.#asmStart + this.#asmLen);
      if (this.#asmOpcode === OP_BINARY) return { type: "binary", data };
      return { type: "text", text: this.#finishText(data), data };
    }
  }

  /** Parses the frame header at #pos; false when it has not fully arrived. */
  #readHeader(): boolean {
    const src = this.#src;
    const pos = this.#pos;
    const avail = this.#end - pos;
    if (avail < 2) {
      this.#need = 2;
      return false;
    }
    const b0 = src[pos]!, b1 = src[pos + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    if ((b0 & 0x70) !== 0) {
      throw this.#fail(
        "WS_RSV_BITS",
        1002,
        `RSV bits 0x${
          (b0 & 0x70).toString(16)
        } set but no extension was negotiated (RFC 6455 §5.2)`,
      );
    }
    if (opcode >= OP_CLOSE) {
      if (opcode > OP_PONG) {
        throw this.#fail(
          "WS_RESERVED_OPCODE",
          1002,
          `reserved control opcode 0x${opcode.toString(16)} (RFC 6455 §5.2)`,
        );
      }
      if (!fin) {
        throw this.#fail(
          "WS_FRAGMENTED_CONTROL",
          1002,
          `control frame 0x${opcode.toString(16)} is fragmented (RFC 6455 §5.5)`,
        );
      }
      if (len7 > 125) {
        throw this.#fail(
          "WS_CONTROL_TOO_LONG",
          1002,
          `control frame payload of ${
            len7 === 126 ? "16-bit" : "64-bit"
          } length exceeds 125 bytes (RFC 6455 §5.5)`,
        );
      }
    } else if (opcode > OP_BINARY) {
      throw this.#fail(
        "WS_RESERVED_OPCODE",
        1002,
        `reserved data opcode 0x${opcode.toString(16)} (RFC 6455 §5.2)`,
      );
    } else if (opcode === OP_CONT) {
      if (!this.#fragmented) {
        throw this.#fail(
          "WS_UNEXPECTED_CONTINUATION",
          1002,
          "continuation frame without a message to continue (RFC 6455 §5.4)",
        );
      }
    } else if (this.#fragmented) {
      throw this.#fail(
        "WS_EXPECTED_CONTINUATION",
        1002,
        `new data frame (opcode 0x${
          opcode.toString(16)
        }) inside a fragmented message (RFC 6455 §5.4)`,
      );
    }
    if (masked !== this.#server) {
      throw this.#server
        ? this.#fail("WS_UNMASKED_CLIENT_FRAME", 1002, "client frame is not masked (RFC 6455 §5.1)")
        : this.#fail("WS_MASKED_SERVER_FRAME", 1002, "server frame is masked (RFC 6455 §5.1)");
    }
    const headerLen = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
    if (avail < headerLen) {
      this.#need = headerLen;
      return false;
    }
    let len = len7;
    if (len7 === 126) len = (src[pos + 2]! << 8) | src[pos + 3]!;
    else if (len7 === 127) {
      const hi = ((src[pos + 2]! << 24) | (src[pos + 3]! << 16) | (src[pos + 4]! << 8) |
        src[pos + 5]!) >>> 0;
      const lo = ((src[pos + 6]! << 24) | (src[pos + 7]! << 16) | (src[pos + 8]! << 8) |
        src[pos + 9]!) >>> 0;
      if (hi >= 0x80000000) {
        throw this.#fail(
          "WS_LENGTH_TOP_BIT",
          1002,
          "64-bit payload length has its most significant bit set (RFC 6455 §5.2)",
        );
      }
      len = hi * 0x100000000 + lo;
    }
    if (opcode < OP_CLOSE) {
      const total = (this.#fragmented ? this.#asmLen : 0) + len;
      if (total > this.#maxMessage) {
        throw this.#fail(
          "WS_MESSAGE_TOO_BIG",
          1009,
          `message of at least ${total} bytes exceeds maxMessageSize ${this.#maxMessage}`,
        );
      }
      if (opcode === OP_CONT && ++this.#fragments > this.#maxFragments) {
        throw this.#fail(
          "WS_TOO_MANY_FRAGMENTS",
          1009,
          `message has more than maxFragments ${this.#maxFragments} fragments`,
        );
      }
      if (!fin && this.#src !== this.#buf) {
        // Fragments are joined in our own buffer: leave the borrowed chunk now.
        this.#internalize();
        return this.#readHeader();
      }
      if (opcode === OP_TEXT && !fin) {
        this.#utf8.reset();
        this.#streaming = true;
      }
    }
    this.#fin = fin;
    this.#opcode = opcode;
    this.#masked = masked;
    this.#headerLen = headerLen;
    this.#payloadLen = len;
    this.#done = 0;
    this.#hasHeader = true;
    return true;
  }

  /** A word view over a borrowed chunk's whole buffer, made once per chunk, not per frame. */
  #chunkWords(src: Uint8Array): Uint32Array | undefined {
    if (this.#srcWordsOf !== src) {
      this.#srcWordsOf = src;
      const buffer = src.buffer;
      this.#srcWords = buffer.byteLength >= 4
        ? new Uint32Array(buffer, 0, buffer.byteLength >>> 2)
        : undefined;
    }
    return this.#srcWords;
  }

  /** Unmasks payload bytes [#done, upTo) and, for text, validates them. */
  #process(start: number, upTo: number, validate: boolean): void {
    const src = this.#src;
    const from = start + this.#done;
    const to = start + upTo;
    if (this.#masked) {
      // (A borrowed chunk is at least BORROW_FROM long: never a small on-heap
      // array, so its word view is cheap.)
      maskInPlace(
        src,
        from,
        to,
        src,
        start - 4,
        this.#done,
        src === this.#buf ? (this.#words ??= this.#own!.words) : this.#chunkWords(src),
      );
    }
    if (validate) {
      if (!this.#streaming) {
        // First partial bytes of a single-frame text message.
        this.#utf8.reset();
        this.#streaming = true;
      }
      const bad = this.#utf8.update(src, from, to);
      if (bad >= 0) {
        throw this.#fail(
          "WS_INVALID_UTF8",
          1007,
          `invalid UTF-8 in text message at payload byte ${bad - start} (RFC 6455 §8.1)`,
        );
      }
    }
    this.#done = upTo;
  }

  #finishText(data: Uint8Array): string {
    if (this.#streaming) {
      this.#streaming = false;
      if (!this.#utf8.complete) {
        throw this.#fail(
          "WS_INVALID_UTF8",
          1007,
          "text message ends inside a UTF-8 sequence (RFC 6455 §8.1)",
        );
      }
      return lenientDecoder.decode(data);
    }
    try {
      return fatalDecoder.decode(data);
    } catch (cause) {
      throw this.#fail(
        "WS_INVALID_UTF8",
        1007,
        "invalid UTF-8 in text message (RFC 6455 §8.1)",
        cause,
      );
    }
  }

  #control(opcode: number, data: Uint8Array): Message {
    if (opcode === OP_PING) return { type: "ping", data };
    if (opcode === OP_PONG) return { type: "pong", data };
    this.#closed = true;
    return parseClosePayload(data);
  }

  #fail(code: string, closeCode: number, message: string, cause?: unknown): ProtocolError {
    this.#closed = true;
    return new ProtocolError(code, closeCode, message, { cause });
  }

  /** Called when a borrowed chunk is fully parsed: go back to the own buffer. */
  #release(): void {
    if (this.#src !== this.#buf && this.#pos === this.#end) {
      this.#src = this.#buf;
      this.#pos = 0;
      this.#end = 0;
    }
  }

  #needMore(): null {
    if (this.#src !== this.#buf) this.#internalize();
    else if (this.#pos === this.#end && !this.#fragmented) {
      // Nothing waits: the buffer goes back to the pool (the messages returned
      // before this call were only valid until it).
      this.#pos = 0;
      this.#end = 0;
      this.#giveBack();
    }
    return null;
  }

  /** Returns the (empty) own buffer to the pool. */
  #giveBack(): void {
    const own = this.#own;
    if (own === null) return;
    const wasSource = this.#src === this.#buf;
    this.#own = null;
    this.#buf = EMPTY;
    this.#words = null;
    if (wasSource) this.#src = EMPTY;
    this.#pos = 0;
    this.#end = 0;
    giveBuffer(own);
  }

  /**
   * Feeds the partial frame in the own buffer from the pending tail: the
   * bytes it still needs are copied; once the buffer holds nothing unparsed,
   * the rest of the tail becomes the borrowed source instead.
   */
  #takeFromTail(): void {
    const tail = this.#tail!;
    if (this.#pos === this.#end && !this.#hasHeader && !this.#fragmented) {
      this.#tail = null;
      this.#src = tail;
      this.#pos = 0;
      this.#end = tail.length;
      return;
    }
    const want = Math.max(1, this.#need - (this.#end - this.#pos));
    const n = Math.min(want, tail.length);
    this.#ensureSpace(n);
    this.#buf.set(n === tail.length ? tail : tail.subarray(0, n), this.#end);
    this.#end += n;
    this.#tail = n === tail.length ? null : tail.subarray(n);
  }

  /** Copies the whole pending tail into the own buffer. */
  #absorbTail(): void {
    const tail = this.#tail!;
    this.#tail = null;
    this.#ensureSpace(tail.length);
    this.#buf.set(tail, this.#end);
    this.#end += tail.length;
  }

  /** Copies the unparsed rest of a borrowed chunk into the own buffer. */
  #internalize(): void {
    const chunk = this.#src;
    const rest = chunk.subarray(this.#pos, this.#end);
    this.#src = this.#buf;
    this.#pos = 0;
    this.#end = 0;
    this.#ensureSpace(rest.length);
    this.#buf.set(rest, this.#end);
    this.#end += rest.length;
  }

  /** Makes at least `n` bytes free at the end of #buf, compacting, then growing. */
  #ensureSpace(n: number): void {
    if (this.#buf.length - this.#end >= n) return;
    const live = this.#end - this.#pos + (this.#fragmented ? this.#asmLen : 0);
    const reclaim = this.#end - live;
    if (reclaim > 0 && this.#buf.length - live >= n) {
      this.compact();
      return;
    }
    const old = this.#own;
    const own = takeBuffer(Math.max(live + n, this.#buf.length * 2));
    const next = own.bytes;
    let to = 0;
    if (this.#fragmented) {
      next.set(this.#buf.subarray(this.#asmStart, this.#asmStart + this.#asmLen));
      this.#asmStart = 0;
      to = this.#asmLen;
    }
    next.set(this.#buf.subarray(this.#pos, this.#end), to);
    this.#end = to + this.#end - this.#pos;
    this.#pos = to;
    this.#own = own;
    this.#buf = next;
    this.#words = null;
    this.#src = next;
    if (old !== null) giveBuffer(old);
  }
}
