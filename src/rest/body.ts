/**
 * {@link BodyCollector}: joins the pieces of a response body into one
 * `Uint8Array` with as few copies as the pieces allow. Internal to `src/rest`.
 *
 * @module
 */

/** Borrowed pieces of an unknown-length body are copied into slabs this large (or the piece's size). */
const SLAB_BYTES = 64 * 1024;

/**
 * Collects body pieces. A piece is either owned (a fresh chunk from the
 * transport, kept as it is) or borrowed (a view into a buffer the connection
 * reuses on its next read, so it is copied before `add` returns).
 *
 * - Known length: a lone owned piece of the full length is returned as is;
 *   otherwise every piece is copied once, into the result.
 * - Unknown length: owned pieces are kept, borrowed ones are copied into
 *   slabs, and the parts are joined at the end (a lone part is not copied).
 */
export class BodyCollector {
  readonly #length: number | null;
  #out: Uint8Array | null = null;
  #parts: Uint8Array[] = [];
  #size = 0;
  #slab: Uint8Array | null = null;
  #slabAt = 0;

  /**
   * @param length The Content-Length, or null when unknown (chunked, until close).
   */
  constructor(length: number | null) {
    this.#length = length;
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
      this.#out.set(piece, this.#size);
      this.#size += n;
      return;
    }
    if (this.#out !== null) {
      // More than announced (the codec prevents it): carry on as unknown length.
      this.#parts.push(this.#out.subarray(0, this.#size));
      this.#out = null;
    }
    this.#parts.push(owned ? piece : this.#copy(piece));
    this.#size += n;
  }

  /**
   * Joins what was collected.
   *
   * @returns The body (empty when nothing was added).
   */
  finish(): Uint8Array {
    if (this.#out !== null) {
      const out = this.#out;
      this.#out = null;
      // Shorter than announced only when the caller stopped early.
      return this.#size === out.length ? out : out.subarray(0, this.#size);
    }
    const parts = this.#parts;
    this.#parts = [];
    this.#slab = null;
    if (parts.length === 1) return parts[0];
    const out = new Uint8Array(this.#size);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  #copy(piece: Uint8Array): Uint8Array {
    const n = piece.length;
    if (n >= SLAB_BYTES) return piece.slice();
    let slab = this.#slab;
    if (slab === null || slab.length - this.#slabAt < n) {
      // Slabs grow with the body, so a small body does not pay for a big one.
      const want = Math.min(SLAB_BYTES, Math.max(2 * (this.#size + n), 1024));
      slab = this.#slab = new Uint8Array(want);
      this.#slabAt = 0;
    }
    const view = slab.subarray(this.#slabAt, this.#slabAt + n);
    view.set(piece);
    this.#slabAt += n;
    return view;
  }
}
