/**
 * The receiving half of the RFC 6455 codec: bytes in, complete messages out.
 * The header rules live in `frame_header.ts`, the buffer the bytes wait in in
 * `receive_buffer.ts`, close payloads in `close_payload.ts`; this file joins
 * frames into messages (fragments, unmasking, UTF-8) and holds the limits.
 *
 * @module
 */
import { ProtocolError } from "../errors.ts";
import { parseClosePayload } from "./close_payload.ts";
import {
  checkFrameStart,
  OP_BINARY,
  OP_CLOSE,
  OP_CONT,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  payloadLength,
} from "./frame_header.ts";
import { maskInPlace } from "./mask.ts";
import type { Message } from "./message.ts";
import { MIN_SPARE, ReceiveBuffer } from "./receive_buffer.ts";
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
  /** The bytes waiting to be parsed, and the cursor over them. */
  readonly #in: ReceiveBuffer;

  // Current frame header, once parsed.
  #hasHeader = false;
  #fin = false;
  #opcode = 0;
  #masked = false;
  #headerLen = 0;
  #payloadLen = 0;
  /** Payload bytes of the current frame already unmasked (and validated, for text). */
  #done = 0;

  // The fragmented message being assembled (its bytes: #in.asmStart, #in.asmLen).
  #asmOpcode = 0;
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
    this.#in = new ReceiveBuffer(
      Math.max(MIN_SPARE, positiveInt("bufferCapacity", options.bufferCapacity, 65536)),
    );
  }

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
    return this.#in.heldBytes;
  }

  /** Bytes received but not yet returned as part of a message. */
  get buffered(): number {
    return this.#in.buffered;
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
    return this.#in.spare();
  }

  /**
   * Marks `n` bytes of the last {@link FrameReader.spare} view as received.
   *
   * @param n Number of bytes written into the spare view.
   * @throws {RangeError} When `n` is larger than the spare space.
   */
  filled(n: number): void {
    this.#in.filled(n);
  }

  /**
   * Moves unread bytes to the front of the buffer so its whole tail is free.
   * {@link FrameReader.spare} and {@link FrameReader.push} do this on their
   * own when needed.
   */
  compact(): void {
    this.#in.compact();
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
    this.#in.push(chunk, this.#hasHeader);
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
      if (e instanceof ProtocolError) {
        this.#error = e;
        this.#closed = true;
      }
      throw e;
    }
  }

  #next(): Message | null {
    const b = this.#in;
    for (;;) {
      if (!this.#hasHeader && !this.#readHeader()) {
        if (b.tail !== null) {
          b.takeFromTail(false);
          continue;
        }
        b.needMore();
        return null;
      }
      const src = b.src;
      const start = b.pos + this.#headerLen;
      const len = this.#payloadLen;
      const have = Math.min(b.end - start, len);
      const opcode = this.#opcode;
      const isText = opcode === OP_TEXT || (opcode === OP_CONT && this.#asmOpcode === OP_TEXT);
      if (have < len) {
        // Partial payload: unmask and validate what is here, to fail fast (§8.1).
        if (have > this.#done && (isText || this.#masked)) this.#process(start, have, isText);
        b.need = this.#headerLen + len;
        if (b.tail !== null) {
          b.takeFromTail(true);
          continue;
        }
        b.needMore();
        return null;
      }
      if (len > this.#done) {
        this.#process(start, len, isText && (this.#streaming || b.fragmented || !this.#fin));
      }
      this.#hasHeader = false;
      this.#done = 0;
      const next = start + len;
      b.pos = next;

      if (opcode >= OP_CLOSE) return this.#control(opcode, src.subarray(start, next));
      if (this.#fin && !b.fragmented) {
        const data = src.subarray(start, next);
        b.release();
        if (opcode === OP_BINARY) return { type: "binary", data };
        return { type: "text", text: this.#finishText(data), data };
      }
      if (!b.fragmented) {
        b.fragmented = true;
        this.#asmOpcode = opcode;
        b.asmStart = start;
        b.asmLen = len;
        this.#fragments = 1;
        continue;
      }
      const asmEnd = b.asmStart + b.asmLen;
      if (start !== asmEnd && len > 0) b.buf.copyWithin(asmEnd, start, next);
      b.asmLen += len;
      if (!this.#fin) continue;
      b.fragmented = false;
      const data = b.buf.subarray(b.asmStart, b.asmStart + b.asmLen);
      if (this.#asmOpcode === OP_BINARY) return { type: "binary", data };
      return { type: "text", text: this.#finishText(data), data };
    }
  }

  /** Parses the frame header at the cursor; false when it has not fully arrived. */
  #readHeader(): boolean {
    const b = this.#in;
    const src = b.src;
    const pos = b.pos;
    const avail = b.end - pos;
    if (avail < 2) {
      b.need = 2;
      return false;
    }
    const b0 = src[pos]!, b1 = src[pos + 1]!;
    checkFrameStart(b0, b1, this.#server, b.fragmented);
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    const headerLen = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
    if (avail < headerLen) {
      b.need = headerLen;
      return false;
    }
    const len = payloadLength(src, pos, len7);
    if (opcode < OP_CLOSE) {
      const total = (b.fragmented ? b.asmLen : 0) + len;
      if (total > this.#maxMessage) {
        throw new ProtocolError(
          "WS_MESSAGE_TOO_BIG",
          1009,
          `message of at least ${total} bytes exceeds maxMessageSize ${this.#maxMessage}`,
        );
      }
      if (opcode === OP_CONT && ++this.#fragments > this.#maxFragments) {
        throw new ProtocolError(
          "WS_TOO_MANY_FRAGMENTS",
          1009,
          `message has more than maxFragments ${this.#maxFragments} fragments`,
        );
      }
      if (!fin && b.src !== b.buf) {
        // Fragments are joined in our own buffer: leave the borrowed chunk now.
        b.internalize();
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

  /** Unmasks payload bytes [#done, upTo) and, for text, validates them. */
  #process(start: number, upTo: number, validate: boolean): void {
    const src = this.#in.src;
    const from = start + this.#done;
    const to = start + upTo;
    if (this.#masked) maskInPlace(src, from, to, src, start - 4, this.#done, this.#in.words());
    if (validate) {
      if (!this.#streaming) {
        // First partial bytes of a single-frame text message.
        this.#utf8.reset();
        this.#streaming = true;
      }
      const bad = this.#utf8.update(src, from, to);
      if (bad >= 0) {
        throw new ProtocolError(
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
        throw new ProtocolError(
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
      throw new ProtocolError(
        "WS_INVALID_UTF8",
        1007,
        "invalid UTF-8 in text message (RFC 6455 §8.1)",
        { cause },
      );
    }
  }

  #control(opcode: number, data: Uint8Array): Message {
    if (opcode === OP_PING) return { type: "ping", data };
    if (opcode === OP_PONG) return { type: "pong", data };
    this.#closed = true;
    return parseClosePayload(data);
  }
}
