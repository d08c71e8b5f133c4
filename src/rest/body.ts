/**
 * {@link BodyCollector}: joins the pieces of a response body into one
 * `Uint8Array` with as few copies and allocations as the pieces allow.
 * Internal to `src/rest`.
 *
 * @module
 */

/** First capacity for an unknown-length body without a size hint. */
const FIRST_BYTES = 64 * 1024;
/** A hint sizes the first buffer up to this much, so one huge body does not make every later one allocate as much. */
const HINT_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Collects body pieces. A piece is either owned (a fresh chunk from the
 * transport, which may be kept as it is) or borrowed (a view into a buffer the
 * connection reuses on its next read, so it is copied before `add` returns).
 *
 * - Known length: a lone owned piece of the full length is returned as is;
 *   otherwise every piece is copied once, into the result.
 * - Unknown length, owned pieces: kept, and joined at the end into a buffer of
 *   the exact size (a lone piece is not copied).
 * - Unknown length, borrowed pieces: copied into a buffer that grows, sized up
 *   front from a hint (the size of the connection's previous such body), so a
 *   body like the last one costs one allocation and one copy.
 */
export class BodyCollector {
  readonly #length: number | null;
  readonly #hint: number;
  #out: Uint8Array | null = null;
  #parts: Uint8Array[] = [];
  #size = 0;

  /**
   * @param length The Content-Length, or null when unknown (chunked, until close).
   * @param hint For an unknown length: the expected size, or 0.
   */
  constructor(length: number | null, hint = 0) {
    this.#length = length;
    this.#hint = hint;
  }

  /** Bytes collected so far. */
  get size(): number {
    return this.#size;
  }

  /**
   * Adds the next piece.
   *
   * @param piece Body bytes.
   * @param owned Whether `piece` may be kept without a copy.
   */
  add(piece: Uint8Array, owned: boolean): void {
    const n = piece.length;
    if (n === 0) return;
    const length = this.#length;
    if (length !== null && n + this.#size <= length) {
      if (this.#out === null) {
        if (owned && n === length) {
          this.#parts.push(piece);
          this.#size = n;
          return;
        }
        this.#out = new Uint8Array(length);
      }
    } else if (this.#out === null && owned) {
      this.#parts.push(piece);
      this.#size += n;
      return;
    } else this.#reserve(n);
    this.#out!.set(piece, this.#size);
    this.#size += n;
  }

  /**
   * Joins what was collected.
   *
   * @returns The body (empty when nothing was added).
   */
  finish(): Uint8Array {
    const out = this.#out;
    const size = this.#size;
    this.#out = null;
    if (out !== null) {
      if (size === out.length) return out;
      // Give back a grown buffer's spare room when it is most of it.
      return size >= out.length >> 1 ? out.subarray(0, size) : out.slice(0, size);
    }
    const parts = this.#parts;
    this.#parts = [];
    if (parts.length === 1) return parts[0]!;
    const joined = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      joined.set(p, at);
      at += p.length;
    }
    return joined;
  }

  // Room for n more bytes in #out (unknown length, or more than announced),
  // moving kept pieces into it first.
  #reserve(n: number): void {
    const need = this.#size + n;
    const out = this.#out;
    if (out !== null && out.length >= need) return;
    const hinted = Math.min(HINT_MAX_BYTES, this.#hint + (this.#hint >> 3));
    let capacity = out === null ? Math.max(FIRST_BYTES, hinted) : out.length * 2;
    while (capacity < need) capacity *= 2;
    const grown = new Uint8Array(capacity);
    if (out !== null) grown.set(out.subarray(0, this.#size));
    else {
      let at = 0;
      for (const p of this.#parts) {
        grown.set(p, at);
        at += p.length;
      }
      this.#parts = [];
    }
    this.#out = grown;
  }
}
