/**
 * A streaming UTF-8 validator (RFC 3629 §4), so text can be checked as its
 * bytes arrive, across fragments and chunks, failing on the first bad byte
 * (RFC 6455 §8.1) instead of at the end of the message.
 *
 * @module
 */

/**
 * Validates UTF-8 incrementally. Feed byte ranges with {@link Utf8Validator.update};
 * ask {@link Utf8Validator.complete} at the end of the message.
 */
export class Utf8Validator {
  /** Continuation bytes still expected for the current code point. */
  #need = 0;
  /** Allowed range for the next continuation byte (narrowed after E0, ED, F0, F4). */
  #lo = 0x80;
  #hi = 0xbf;

  /** Forgets any partial code point: ready for a new message. */
  reset(): void {
    this.#need = 0;
    this.#lo = 0x80;
    this.#hi = 0xbf;
  }

  /** True when no code point is left unfinished. */
  get complete(): boolean {
    return this.#need === 0;
  }

  /**
   * Checks `bytes[start, end)` as the continuation of everything fed so far.
   *
   * @returns -1 when valid so far, or the index of the first invalid byte.
   */
  update(bytes: Uint8Array, start: number, end: number): number {
    let need = this.#need, lo = this.#lo, hi = this.#hi;
    let i = start;
    while (i < end) {
      const b = bytes[i]!;
      if (need === 0) {
        if (b < 0x80) {
          i++;
          // ASCII run: the common case, kept in a tight loop.
          while (i < end && bytes[i]! < 0x80) i++;
          continue;
        }
        if (b >= 0xc2 && b <= 0xdf) {
          need = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
          need = 2;
          if (b === 0xe0) lo = 0xa0; // no overlong 3-byte forms
          else if (b === 0xed) hi = 0x9f; // no UTF-16 surrogates
        } else if (b >= 0xf0 && b <= 0xf4) {
          need = 3;
          if (b === 0xf0) lo = 0x90; // no overlong 4-byte forms
          else if (b === 0xf4) hi = 0x8f; // nothing above U+10FFFF
        } else {
          this.#save(need, lo, hi);
          return i;
        }
      } else {
        if (b < lo || b > hi) {
          this.#save(need, lo, hi);
          return i;
        }
        need--;
        lo = 0x80;
        hi = 0xbf;
      }
      i++;
    }
    this.#save(need, lo, hi);
    return -1;
  }

  #save(need: number, lo: number, hi: number): void {
    this.#need = need;
    this.#lo = lo;
    this.#hi = hi;
  }
}
