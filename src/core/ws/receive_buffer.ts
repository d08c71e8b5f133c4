/**
 * Where a `FrameReader`'s bytes wait until they make whole frames: the parse
 * cursor over either a chunk borrowed from `push()` or the reader's own
 * buffer, which comes from the shared pool only while bytes must wait in it
 * (a partial frame, a fragmented message, small chunks) and goes back once it
 * is empty, so an idle reader holds no memory.
 *
 * @module
 */
import {
  giveBuffer,
  MIN_POOLED_BYTES,
  type PooledBuffer,
  pooledSize,
  takeBuffer,
} from "../buf_pool.ts";

/** The smallest spare() view, and the read size of an idle connection. */
export const MIN_SPARE = MIN_POOLED_BYTES;
const EMPTY = new Uint8Array(0);
/** Chunks at least this long are parsed where they are; shorter ones are copied. */
const BORROW_FROM = 1024;
/** A chunk pushed behind a partial frame is copied whole below this size, lazily from it. */
const LAZY_COPY_FROM = 4096;

/**
 * The receive buffer of one `FrameReader`. Internal to the codec: the
 * cursor and assembly fields are plain properties because the reader's
 * per-frame loop reads and advances them directly (the decode hot path); the
 * storage behind them is private.
 */
export class ReceiveBuffer {
  /** Bytes being parsed: the own buffer, or a chunk borrowed from `push()`. */
  src: Uint8Array = EMPTY;
  /** Where the next unparsed byte of `src` is. */
  pos = 0;
  /** Where the bytes of `src` end. */
  end = 0;
  /** Bytes from `pos` the current frame needs in all (for spare() sizing). */
  need = 0;
  /**
   * A pushed chunk whose bytes follow the own buffer's, not copied yet: only
   * what completes the partial frame in the buffer is copied, then the rest
   * is parsed where it is.
   */
  tail: Uint8Array | null = null;
  /** Whether a fragmented message is being joined in the own buffer, at [asmStart, asmStart + asmLen). */
  fragmented = false;
  asmStart = 0;
  asmLen = 0;

  #own: PooledBuffer | null = null;
  #buf: Uint8Array = EMPTY;
  /** The own buffer's word view, fetched when masked bytes are first unmasked in it. */
  #words: Uint32Array | null = null;
  #srcWordsOf: Uint8Array | null = null;
  #srcWords: Uint32Array | undefined = undefined;
  /** The largest spare() view offered for streaming reads (bufferCapacity). */
  readonly #readLimit: number;
  /** The size of the next spare() view when no frame is waiting: grows while reads fill it. */
  #readHint = MIN_SPARE;
  /** The length of the last spare() view. */
  #lastSpare = 0;

  /** @param readLimit The largest spare() view (at least MIN_SPARE). */
  constructor(readLimit: number) {
    this.#readLimit = readLimit;
  }

  /** The own buffer (empty while none is held). */
  get buf(): Uint8Array {
    return this.#buf;
  }

  /** Bytes of buffer held of its own. */
  get heldBytes(): number {
    return this.#own === null ? 0 : this.#own.bytes.length;
  }

  /** Bytes received and not yet returned in a message. */
  get buffered(): number {
    return this.end - this.pos + (this.fragmented ? this.asmLen : 0) + (this.tail?.length ?? 0);
  }

  /** A word view for unmasking `src` in place, anchored at byte 0 of its buffer. */
  words(): Uint32Array | undefined {
    const src = this.src;
    // (A borrowed chunk is at least BORROW_FROM long: never a small on-heap
    // array, so its word view is cheap.)
    return src === this.#buf ? (this.#words ??= this.#own!.words) : this.#chunkWords(src);
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

  /** See `FrameReader.spare`. */
  spare(): Uint8Array {
    if (this.src !== this.#buf) this.internalize();
    if (this.tail !== null) this.absorbTail();
    // Grow at most geometrically: a header alone must not make us allocate
    // the whole announced payload before any of it arrives.
    const missing = this.need - (this.end - this.pos);
    const want = Math.max(this.#readHint, Math.min(missing, this.#buf.length));
    this.ensureSpace(want);
    // At most what a frame needs or bufferCapacity, whichever is more (the
    // pooled buffer may be bigger). An empty buffer within that is offered
    // whole: no view object for the read to hold.
    const cap = Math.max(want, this.#readLimit);
    const buf = this.#buf;
    const view = this.end === 0 && buf.length <= cap
      ? buf
      : buf.subarray(this.end, Math.min(buf.length, this.end + cap));
    this.#lastSpare = view.length;
    return view;
  }

  /** See `FrameReader.filled`. */
  filled(n: number): void {
    if (this.src !== this.#buf) this.internalize();
    if (this.tail !== null) this.absorbTail();
    if (!Number.isInteger(n) || n < 0 || this.end + n > this.#buf.length) {
      throw new RangeError(
        `filled(${n}) exceeds the spare space of ${this.#buf.length - this.end} bytes`,
      );
    }
    this.end += n;
    // Streaming reads that fill their view get a bigger one next time (up to
    // bufferCapacity); one that did not gets a view the size of what it read
    // (a power of two), so a burst keeps reads large while the read an idle
    // connection waits in, after a small message, holds only MIN_SPARE bytes.
    this.#readHint = n >= this.#lastSpare
      ? Math.min(this.#readHint * 2, this.#readLimit)
      : Math.min(pooledSize(n), this.#readLimit);
  }

  /** See `FrameReader.compact`. */
  compact(): void {
    if (this.src !== this.#buf) this.internalize();
    const buf = this.#buf;
    let to = 0;
    if (this.fragmented) {
      if (this.asmStart !== 0) buf.copyWithin(0, this.asmStart, this.asmStart + this.asmLen);
      this.asmStart = 0;
      to = this.asmLen;
    }
    if (this.pos !== to) {
      buf.copyWithin(to, this.pos, this.end);
      this.end -= this.pos - to;
      this.pos = to;
    }
  }

  /**
   * See `FrameReader.push`.
   *
   * @param chunk The bytes received.
   * @param hasHeader Whether the reader holds the parsed header of a frame still arriving.
   */
  push(chunk: Uint8Array, hasHeader: boolean): void {
    if (chunk.length === 0) return;
    // Messages are views of the chunk: keep them plain Uint8Arrays, not Node
    // Buffers (whose slice() is a view), whatever subclass the socket gave.
    if (chunk.constructor !== Uint8Array) {
      chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
    if (this.src !== this.#buf) this.internalize();
    if (this.tail !== null) this.absorbTail();
    if (this.pos === this.end && !this.fragmented && !hasHeader) {
      if (chunk.length >= BORROW_FROM) {
        this.#giveBack();
        this.src = chunk;
        this.pos = 0;
        this.end = chunk.length;
        return;
      }
      // A small chunk is copied: cheaper than a view of it where it may be an
      // on-heap array (JavaScriptCore moves those off the heap first, which
      // costs microseconds; Bun hands each socket read over as one).
      if (this.pos === this.end) this.pos = this.end = 0;
    }
    if (chunk.length >= LAZY_COPY_FROM && !this.fragmented) {
      // A partial frame waits in the buffer: copy only what completes it
      // (the reader's next() does), and parse the rest of the chunk where it is.
      this.tail = chunk;
      return;
    }
    this.ensureSpace(chunk.length);
    this.#buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** Called when a borrowed chunk is fully parsed: go back to the own buffer. */
  release(): void {
    if (this.src !== this.#buf && this.pos === this.end) {
      this.src = this.#buf;
      this.pos = 0;
      this.end = 0;
    }
  }

  /** The reader needs more bytes: keep what is unparsed, give the buffer back when nothing is. */
  needMore(): void {
    if (this.src !== this.#buf) this.internalize();
    else if (this.pos === this.end && !this.fragmented) {
      // Nothing waits: the buffer goes back to the pool (the messages returned
      // before this call were only valid until it).
      this.pos = 0;
      this.end = 0;
      this.#giveBack();
    }
  }

  /** Returns the (empty) own buffer to the pool. */
  #giveBack(): void {
    const own = this.#own;
    if (own === null) return;
    const wasSource = this.src === this.#buf;
    this.#own = null;
    this.#buf = EMPTY;
    this.#words = null;
    if (wasSource) this.src = EMPTY;
    this.pos = 0;
    this.end = 0;
    giveBuffer(own);
  }

  /**
   * Feeds the partial frame in the own buffer from the pending tail: the
   * bytes it still needs are copied; once the buffer holds nothing unparsed,
   * the rest of the tail becomes the borrowed source instead.
   *
   * @param hasHeader Whether the reader holds the parsed header of a frame still arriving.
   */
  takeFromTail(hasHeader: boolean): void {
    const tail = this.tail!;
    if (this.pos === this.end && !hasHeader && !this.fragmented) {
      this.tail = null;
      this.src = tail;
      this.pos = 0;
      this.end = tail.length;
      return;
    }
    const want = Math.max(1, this.need - (this.end - this.pos));
    const n = Math.min(want, tail.length);
    this.ensureSpace(n);
    this.#buf.set(n === tail.length ? tail : tail.subarray(0, n), this.end);
    this.end += n;
    this.tail = n === tail.length ? null : tail.subarray(n);
  }

  /** Copies the whole pending tail into the own buffer. */
  absorbTail(): void {
    const tail = this.tail!;
    this.tail = null;
    this.ensureSpace(tail.length);
    this.#buf.set(tail, this.end);
    this.end += tail.length;
  }

  /** Copies the unparsed rest of a borrowed chunk into the own buffer. */
  internalize(): void {
    const chunk = this.src;
    const rest = chunk.subarray(this.pos, this.end);
    this.src = this.#buf;
    this.pos = 0;
    this.end = 0;
    this.ensureSpace(rest.length);
    this.#buf.set(rest, this.end);
    this.end += rest.length;
  }

  /** Makes at least `n` bytes free at the end of the own buffer, compacting, then growing. */
  ensureSpace(n: number): void {
    if (this.#buf.length - this.end >= n) return;
    const live = this.end - this.pos + (this.fragmented ? this.asmLen : 0);
    const reclaim = this.end - live;
    if (reclaim > 0 && this.#buf.length - live >= n) {
      this.compact();
      return;
    }
    const old = this.#own;
    const own = takeBuffer(Math.max(live + n, this.#buf.length * 2));
    const next = own.bytes;
    let to = 0;
    if (this.fragmented) {
      next.set(this.#buf.subarray(this.asmStart, this.asmStart + this.asmLen));
      this.asmStart = 0;
      to = this.asmLen;
    }
    next.set(this.#buf.subarray(this.pos, this.end), to);
    this.end = to + this.end - this.pos;
    this.pos = to;
    this.#own = own;
    this.#buf = next;
    this.#words = null;
    this.src = next;
    if (old !== null) giveBuffer(old);
  }
}
