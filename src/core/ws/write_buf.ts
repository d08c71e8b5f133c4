/**
 * A growable write buffer with headroom, so a frame header can be written in
 * front of a payload that was built in place, without copying the payload.
 *
 * @module
 */

/** Bytes kept free in front of the payload: the largest header (14) rounded up so
 * the payload starts 4-byte aligned for word-at-a-time masking. */
export const HEADROOM = 16;

const encoder = new TextEncoder();

/**
 * A payload under construction, with room for a frame header in front of it.
 * Fill it with {@link WriteBuf.write}, {@link WriteBuf.writeText} or
 * {@link WriteBuf.reserve}/{@link WriteBuf.commit}, then hand it to
 * `FrameWriter.frameInto()`.
 *
 * @example Build a text payload in place and frame it
 * ```ts
 * import { FrameWriter, WriteBuf } from "@sluice/net/core";
 * const buf = new WriteBuf();
 * buf.writeText('{"op":"subscribe","channel":"trades"}');
 * const frame = new FrameWriter({ role: "client" }).frameInto(buf, "text");
 * // `frame` views `buf`: write it out before reusing `buf`.
 * buf.clear();
 * ```
 */
export class WriteBuf {
  #bytes: Uint8Array;
  #words: Uint32Array | undefined = undefined;
  #end = HEADROOM;

  /**
   * Creates an empty buffer.
   *
   * @param capacity Initial payload capacity in bytes. @default 16384
   * @throws {RangeError} When `capacity` is not a non-negative integer.
   */
  constructor(capacity = 16384) {
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw new RangeError(`capacity must be a non-negative integer: got ${capacity}`);
    }
    this.#bytes = new Uint8Array(HEADROOM + capacity);
  }

  /** The whole backing array (headroom included). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** A word view of {@link WriteBuf.bytes} (for word-at-a-time masking), made once per backing array. */
  get words(): Uint32Array {
    if (this.#words === undefined || this.#words.buffer !== this.#bytes.buffer) {
      // Anchored at byte 0 of the buffer, as maskInPlace indexes it.
      this.#words = new Uint32Array(this.#bytes.buffer, 0, this.#bytes.buffer.byteLength >>> 2);
    }
    return this.#words;
  }

  /** Number of payload bytes written. */
  get length(): number {
    return this.#end - HEADROOM;
  }

  /** A view of the payload written so far. */
  payload(): Uint8Array {
    return this.#bytes.subarray(HEADROOM, this.#end);
  }

  /** Forgets the payload, keeping the memory. */
  clear(): void {
    this.#end = HEADROOM;
  }

  /**
   * Returns a writable view of at least `n` free bytes at the end of the payload;
   * call {@link WriteBuf.commit} with how many were used.
   *
   * @param n Bytes wanted.
   * @returns A view of the free space (possibly longer than `n`).
   */
  reserve(n: number): Uint8Array {
    this.ensure(n);
    return this.#bytes.subarray(this.#end);
  }

  /**
   * Makes room for `n` more bytes without making a view: write them into
   * {@link WriteBuf.bytes} from index {@link WriteBuf.end}, then
   * {@link WriteBuf.commit}. (The allocation-free form of `reserve`.)
   *
   * @param n Bytes wanted.
   */
  ensure(n: number): void {
    if (this.#bytes.length - this.#end < n) {
      let cap = this.#bytes.length * 2;
      while (cap - this.#end < n) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.#bytes.subarray(0, this.#end));
      this.#bytes = next;
    }
  }

  /** Index in {@link WriteBuf.bytes} just past the payload: where the next byte goes. */
  get end(): number {
    return this.#end;
  }

  /**
   * Marks `n` bytes of the last {@link WriteBuf.reserve} as written.
   *
   * @param n Bytes used.
   * @throws {RangeError} When `n` exceeds the free space.
   */
  commit(n: number): void {
    if (!Number.isInteger(n) || n < 0 || this.#end + n > this.#bytes.length) {
      throw new RangeError(`commit(${n}) exceeds the reserved space`);
    }
    this.#end += n;
  }

  /**
   * Appends bytes to the payload.
   *
   * @param data The bytes to append.
   */
  write(data: Uint8Array): void {
    this.reserve(data.length).set(data);
    this.#end += data.length;
  }

  /**
   * Appends the UTF-8 encoding of `text` to the payload, encoding in place.
   *
   * @param text The text to append.
   * @returns The number of bytes written.
   */
  writeText(text: string): number {
    const space = this.reserve(text.length * 3);
    const { written } = encoder.encodeInto(text, space);
    this.#end += written;
    return written;
  }

  /** Internal: start index of the payload in {@link WriteBuf.bytes}. */
  get payloadStart(): number {
    return HEADROOM;
  }
}
