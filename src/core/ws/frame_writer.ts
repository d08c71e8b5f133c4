/**
 * The sending half of the RFC 6455 codec: messages in, frame bytes out.
 *
 * @module
 */
import { maskInPlace } from "./mask.ts";
import { encodeClosePayload } from "./close_payload.ts";
import { HEADROOM, type WriteBuf } from "./write_buf.ts";

/** Options for {@link FrameWriter}. */
export interface FrameWriterOptions {
  /** Which side this writer is on: a client masks every frame, a server never does. */
  role: "client" | "server";
  /** Split data messages into frames of at most this many payload bytes. @default Infinity (no fragmentation) */
  maxFrameSize?: number | undefined;
  /**
   * Source of mask keys: fills the array with random bytes. Only a client uses
   * it; override for deterministic tests. @default crypto.getRandomValues
   */
  random?: ((bytes: Uint8Array) => void) | undefined;
}

/** Frame opcodes by name, for {@link FrameWriter.header} and {@link FrameWriter.frameInto}. */
export type DataOpcode = "text" | "binary";

const OPCODES = { text: 0x1, binary: 0x2 } as const;
const OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xa;
/** Every opcode appendFrame takes: one lookup, no comparisons, on the batched send path. */
const FRAME_OPCODES = { ...OPCODES, ping: OP_PING, pong: OP_PONG, close: OP_CLOSE } as const;

/** Frames up to this size are carved out of a shared slab instead of allocated alone. */
const SLAB_SIZE = 64 * 1024;
const SMALL = 4096;
const TINY = 64;
const SMALL_COPY = 48; // payloads copied byte by byte rather than with set()
const KEY_BATCH = 1024; // mask keys fetched per getRandomValues call

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** Where mask keys come from, fetched KEY_BATCH at a time. */
interface KeySource {
  keys: Uint8Array;
  pos: number;
}

const defaultRandom = (bytes: Uint8Array): void => void crypto.getRandomValues(bytes);
/** The keys of every writer on the default source: no 4 KiB batch per connection. */
const sharedKeys: KeySource = { keys: EMPTY, pos: 0 };

// The slab small frames are carved from, shared by every writer (frames are
// handed to their callers for good; a full slab is replaced, never rewound),
// so a connection holds no slab of its own.
let slab: Uint8Array = EMPTY;
/** A word view of the slab, so masking needs no view of its own per frame. */
let slabWords: Uint32Array | undefined = undefined;
let slabPos = 0;

function headerLength(len: number, masked: boolean): number {
  return (len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/** UTF-8 length of `s` without encoding it. */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // 4 bytes for 2 UTF-16 units
        i++;
      } else n += 2; // lone surrogate: U+FFFD, 3 bytes
    } else n += 2;
  }
  return n;
}

/**
 * Encodes messages as WebSocket frames (RFC 6455 §5), without I/O.
 *
 * Each method returns a fresh `Uint8Array` the caller owns (small frames are
 * carved out of a shared slab, as Node's `Buffer.allocUnsafe` does, so they
 * cost no allocation of their own). A client-role writer masks every frame with
 * a fresh random key; keys are fetched from the random source in batches.
 *
 * @example Encode and send
 * ```ts
 * import { FrameWriter } from "@sluice/net/core";
 * const writer = new FrameWriter({ role: "client" });
 * const bytes = writer.text("hello"); // one masked text frame
 * const closing = writer.close(1000, "bye");
 * console.log(bytes.length, closing.length); // 11 11
 * ```
 */
export class FrameWriter {
  readonly #mask: boolean;
  readonly #maxFrame: number;
  readonly #random: (bytes: Uint8Array) => void;
  /** Mask keys: shared by every writer on the default random source, else this writer's own. */
  readonly #ks: KeySource;

  /**
   * Creates a writer.
   *
   * @param options Role, fragmentation and key source.
   * @throws {TypeError} When `role` is not "client" or "server".
   * @throws {RangeError} When `maxFrameSize` is not a positive integer.
   */
  constructor(options: FrameWriterOptions) {
    if (options?.role !== "client" && options?.role !== "server") {
      throw new TypeError(`role must be "client" or "server": got ${String(options?.role)}`);
    }
    this.#mask = options.role === "client";
    const max = options.maxFrameSize ?? Infinity;
    if (max !== Infinity && (!Number.isSafeInteger(max) || max <= 0)) {
      throw new RangeError(`maxFrameSize must be a positive integer: got ${max}`);
    }
    this.#maxFrame = max;
    this.#random = options.random ?? defaultRandom;
    this.#ks = options.random === undefined ? sharedKeys : { keys: EMPTY, pos: 0 };
  }

  /**
   * Encodes a text message.
   *
   * @param text The message text (lone surrogates become U+FFFD).
   * @returns The frame bytes (several frames when fragmenting).
   */
  text(text: string): Uint8Array {
    if (text.length <= SMALL_COPY && this.#maxFrame === Infinity) {
      // Short ASCII text: write the bytes directly, no encoder call.
      const len = text.length;
      const hl = headerLength(len, this.#mask);
      const out = this.#take(hl + len, hl);
      let i = 0;
      for (; i < len; i++) {
        const c = text.charCodeAt(i);
        if (c >= 0x80) break;
        out[hl + i] = c;
      }
      if (i === len) {
        this.#writeHeader(out, 0, 0x1, len, true);
        if (this.#mask) {
          for (let j = 0; j < len; j++) out[hl + j]! ^= out[hl - 4 + (j & 3)]!;
        }
        return out;
      }
    }
    if (text.length * 3 <= SMALL && this.#maxFrame === Infinity) {
      // Encode straight into the slab behind the largest possible header.
      const room = HEADROOM + text.length * 3;
      const slab = this.#take(room);
      const payloadAt = HEADROOM;
      const { written } = encoder.encodeInto(text, slab.subarray(payloadAt));
      const at = payloadAt - headerLength(written, this.#mask);
      this.#writeHeader(slab, at, 0x1, written, true);
      if (this.#mask) {
        maskInPlace(
          slab,
          payloadAt,
          payloadAt + written,
          slab,
          payloadAt - 4,
          0,
          this.#wordsFor(slab),
        );
      }
      this.#giveBack(room - payloadAt - written);
      return slab.subarray(at, payloadAt + written);
    }
    const bytes = new Uint8Array(utf8Length(text));
    encoder.encodeInto(text, bytes);
    return this.#data(0x1, bytes);
  }

  /**
   * Encodes a binary message. The payload is copied (and masked, for a
   * client); `data` is not modified.
   *
   * @param data The message payload.
   * @returns The frame bytes (several frames when fragmenting).
   */
  binary(data: Uint8Array): Uint8Array {
    return this.#data(0x2, data);
  }

  /**
   * Encodes a ping (RFC 6455 §5.5.2).
   *
   * @param data Application data, at most 125 bytes.
   * @returns The frame bytes.
   * @throws {RangeError} When `data` is longer than 125 bytes.
   */
  ping(data: Uint8Array = EMPTY): Uint8Array {
    return this.#controlFrame(OP_PING, data, "ping");
  }

  /**
   * Encodes a pong (RFC 6455 §5.5.3).
   *
   * @param data Application data (the ping's, when answering one), at most 125 bytes.
   * @returns The frame bytes.
   * @throws {RangeError} When `data` is longer than 125 bytes.
   */
  pong(data: Uint8Array = EMPTY): Uint8Array {
    return this.#controlFrame(OP_PONG, data, "pong");
  }

  /**
   * Encodes a close frame (RFC 6455 §5.5.1). Without a code the frame is
   * empty (the peer sees 1005).
   *
   * @param code A close code valid on the wire (see `isValidCloseCode`).
   * @param reason A reason of at most 123 UTF-8 bytes.
   * @returns The frame bytes.
   * @throws {RangeError} When the code is not valid on the wire or the reason is too long.
   * @throws {TypeError} When a reason is given without a code.
   */
  close(code?: number, reason = ""): Uint8Array {
    if (code === undefined) {
      if (reason !== "") throw new TypeError("a close reason needs a close code");
      return this.#controlFrame(OP_CLOSE, EMPTY, "close");
    }
    return this.#controlFrame(OP_CLOSE, encodeClosePayload(code, reason), "close");
  }

  /**
   * Frames the payload of `buf` in place: writes the header into the headroom
   * in front of it and masks it (client role). No payload byte is copied.
   * Does not fragment.
   *
   * @param buf A buffer holding the payload.
   * @param opcode "text" or "binary". @default "binary"
   * @param fin False for a non-final fragment (then send the rest with `header`/continuations). @default true
   * @returns A view of `buf` holding header and payload; valid until `buf` changes.
   */
  frameInto(buf: WriteBuf, opcode: DataOpcode = "binary", fin = true): Uint8Array {
    const bytes = buf.bytes;
    const start = buf.payloadStart;
    const len = buf.length;
    const at = start - headerLength(len, this.#mask);
    this.#writeHeader(bytes, at, OPCODES[opcode], len, fin);
    if (this.#mask) maskInPlace(bytes, start, start + len, bytes, start - 4, 0, buf.words);
    return bytes.subarray(at, start + len);
  }

  /**
   * Appends a whole frame (header, payload, mask) to the end of `buf`'s
   * payload, so many frames can be batched into one socket write with no
   * allocation per frame. Does not fragment.
   *
   * @param buf The batch being built.
   * @param opcode "text", "binary", "ping", "pong" or "close" (with a payload
   *   from `encodeClosePayload` or `ConnectionState`, which checked it).
   * @param payload The payload; it is copied, not modified.
   * @throws {RangeError} When a control payload is over 125 bytes.
   */
  appendFrame(
    buf: WriteBuf,
    opcode: DataOpcode | "ping" | "pong" | "close",
    payload: Uint8Array,
  ): void {
    const op = FRAME_OPCODES[opcode];
    const len = payload.length;
    if (op >= OP_CLOSE && len > 125) {
      throw new RangeError(
        `${opcode} payload must be at most 125 bytes (RFC 6455 §5.5): got ${len}`,
      );
    }
    const hl = headerLength(len, this.#mask);
    buf.ensure(hl + len);
    const out = buf.bytes, at = buf.end, p = at + hl;
    this.#writeHeader(out, at, op, len, true);
    if (len <= SMALL_COPY && this.#mask) {
      for (let i = 0; i < len; i++) out[p + i] = payload[i]! ^ out[p - 4 + (i & 3)]!;
    } else {
      out.set(payload, p);
      if (this.#mask) maskInPlace(out, p, p + len, out, p - 4, 0, buf.words);
    }
    buf.commit(hl + len);
  }

  /**
   * Appends a whole text frame to `buf`, encoding the text straight into it.
   *
   * @param buf The batch being built.
   * @param text The message text.
   */
  appendText(buf: WriteBuf, text: string): void {
    const bound = text.length * 3;
    const guess = headerLength(bound, this.#mask);
    buf.ensure(guess + bound);
    const out = buf.bytes, at = buf.end;
    const { written } = encoder.encodeInto(text, out.subarray(at + guess, at + guess + bound));
    const hl = headerLength(written, this.#mask);
    // The bound overestimates: shift the payload down to sit right after its real header.
    if (hl < guess && written > 0) out.copyWithin(at + hl, at + guess, at + guess + written);
    this.#writeHeader(out, at, 0x1, written, true);
    if (this.#mask) maskInPlace(out, at + hl, at + hl + written, out, at + hl - 4, 0, buf.words);
    buf.commit(hl + written);
  }

  /**
   * Encodes only the header of an unmasked frame, for a vectored write of
   * header and payload (server role: the payload needs no copy at all).
   *
   * @param opcode "text" or "binary".
   * @param payloadLength The payload size in bytes.
   * @param fin Whether this is the final fragment. @default true
   * @returns The header bytes.
   * @throws {TypeError} For a client-role writer, whose frames must be masked: use `binary()`.
   */
  header(opcode: DataOpcode, payloadLength: number, fin = true): Uint8Array {
    if (this.#mask) {
      throw new TypeError(
        "header() is for unmasked (server-role) frames; a client must mask: use binary() or frameInto()",
      );
    }
    const out = this.#take(headerLength(payloadLength, false));
    this.#writeHeader(out, 0, OPCODES[opcode], payloadLength, fin);
    return out;
  }

  #data(opcode: number, data: Uint8Array): Uint8Array {
    const len = data.length;
    const max = this.#maxFrame;
    if (len <= SMALL_COPY && len <= max) return this.#small(opcode, data, len);
    if (len <= max) {
      const hl = headerLength(len, this.#mask);
      const out = this.#take(hl + len, hl);
      this.#writeHeader(out, 0, opcode, len, true);
      out.set(data, hl);
      if (this.#mask) maskInPlace(out, hl, hl + len, out, hl - 4, 0, this.#wordsFor(out));
      return out;
    }
    // Fragmented: all frames in one buffer, first with the opcode, rest continuations.
    let total = 0;
    for (let off = 0; off < len; off += max) {
      total += headerLength(Math.min(max, len - off), this.#mask) + Math.min(max, len - off);
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (let off = 0; off < len; off += max) {
      const n = Math.min(max, len - off);
      const hl = headerLength(n, this.#mask);
      this.#writeHeader(out, at, off === 0 ? opcode : 0x0, n, off + n >= len);
      out.set(data.subarray(off, off + n), at + hl);
      if (this.#mask) maskInPlace(out, at + hl, at + hl + n, out, at + hl - 4, 0);
      at += hl + n;
    }
    return out;
  }

  /** A frame with a 7-bit length and a small payload: the hot path, written out in full. */
  #small(opcode: number, data: Uint8Array, len: number): Uint8Array {
    if (!this.#mask) {
      const out = new Uint8Array(2 + len);
      out[0] = 0x80 | opcode;
      out[1] = len;
      out.set(data, 2);
      return out;
    }
    const out = new Uint8Array(6 + len);
    out[0] = 0x80 | opcode;
    out[1] = 0x80 | len;
    const ks = this.#ks;
    let keys = ks.keys, kp = ks.pos;
    if (kp === keys.length) {
      keys = this.#refillKeys();
      kp = 0;
    }
    const k0 = keys[kp]!, k1 = keys[kp + 1]!, k2 = keys[kp + 2]!, k3 = keys[kp + 3]!;
    ks.pos = kp + 4;
    out[2] = k0;
    out[3] = k1;
    out[4] = k2;
    out[5] = k3;
    let i = 0;
    for (; i + 3 < len; i += 4) {
      out[6 + i] = data[i]! ^ k0;
      out[7 + i] = data[i + 1]! ^ k1;
      out[8 + i] = data[i + 2]! ^ k2;
      out[9 + i] = data[i + 3]! ^ k3;
    }
    for (; i < len; i++) out[6 + i] = data[i]! ^ out[2 + (i & 3)]!;
    return out;
  }

  #refillKeys(): Uint8Array {
    const ks = this.#ks;
    if (ks.keys.length === 0) ks.keys = new Uint8Array(KEY_BATCH * 4);
    this.#random(ks.keys);
    ks.pos = 0;
    return ks.keys;
  }

  #controlFrame(opcode: number, data: Uint8Array, name: string): Uint8Array {
    if (data.length > 125) {
      throw new RangeError(
        `${name} payload must be at most 125 bytes (RFC 6455 §5.5): got ${data.length}`,
      );
    }
    const hl = headerLength(data.length, this.#mask);
    const out = this.#take(hl + data.length, hl);
    this.#writeHeader(out, 0, opcode, data.length, true);
    out.set(data, hl);
    if (this.#mask) maskInPlace(out, hl, hl + data.length, out, hl - 4, 0, this.#wordsFor(out));
    return out;
  }

  /** Writes a frame header at `at`, with a fresh mask key for a client. */
  #writeHeader(out: Uint8Array, at: number, opcode: number, len: number, fin: boolean): void {
    out[at] = (fin ? 0x80 : 0) | opcode;
    const maskBit = this.#mask ? 0x80 : 0;
    let p = at + 2;
    if (len < 126) out[at + 1] = maskBit | len;
    else if (len < 65536) {
      out[at + 1] = maskBit | 126;
      out[at + 2] = len >>> 8;
      out[at + 3] = len & 0xff;
      p = at + 4;
    } else {
      out[at + 1] = maskBit | 127;
      const hi = Math.floor(len / 0x100000000);
      out[at + 2] = hi >>> 24;
      out[at + 3] = (hi >>> 16) & 0xff;
      out[at + 4] = (hi >>> 8) & 0xff;
      out[at + 5] = hi & 0xff;
      out[at + 6] = len >>> 24;
      out[at + 7] = (len >>> 16) & 0xff;
      out[at + 8] = (len >>> 8) & 0xff;
      out[at + 9] = len & 0xff;
      p = at + 10;
    }
    if (this.#mask) {
      const ks = this.#ks;
      if (ks.pos === ks.keys.length) this.#refillKeys();
      const k = ks.keys, i = ks.pos;
      out[p] = k[i]!;
      out[p + 1] = k[i + 1]!;
      out[p + 2] = k[i + 2]!;
      out[p + 3] = k[i + 3]!;
      ks.pos = i + 4;
    }
  }

  /**
   * Returns `n` fresh bytes; small requests come from the slab. With `alignAt`,
   * byte `alignAt` of the result is 4-byte aligned (for word-wise masking).
   */
  #take(n: number, alignAt = 0): Uint8Array {
    // V8 keeps typed arrays up to 64 bytes on its heap: cheaper than a slab view.
    if (n <= TINY) return new Uint8Array(n);
    if (n > SMALL) {
      return new Uint8Array(n + ((4 - (alignAt & 3)) & 3)).subarray((4 - (alignAt & 3)) & 3);
    }
    let pos = slabPos;
    pos += (4 - ((pos + alignAt) & 3)) & 3;
    if (pos + n > slab.length) {
      slab = new Uint8Array(SLAB_SIZE);
      slabWords = new Uint32Array(slab.buffer);
      pos = (4 - (alignAt & 3)) & 3;
    }
    slabPos = pos + n;
    return slab.subarray(pos, pos + n);
  }

  /** The cached word view when `out` is carved from the current slab. */
  #wordsFor(out: Uint8Array): Uint32Array | undefined {
    // Frames of 64 bytes or less live on V8's heap: reading their .buffer would move them.
    if (out.length <= TINY) return undefined;
    return out.buffer === slab.buffer ? slabWords : undefined;
  }

  /** Returns the unused tail of the last slab piece. */
  #giveBack(n: number): void {
    slabPos -= n;
  }
}
