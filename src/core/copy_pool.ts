/**
 * Copies of small byte ranges carved from shared slabs.
 *
 * Why: a fresh `Uint8Array` of up to 64 bytes lives on V8's heap with no
 * `ArrayBuffer` of its own. The first time anything reads its `.buffer` — and
 * every socket write does (Node converts each chunk to a `Buffer`; Deno and
 * Bun hand the memory to native code) — V8 moves it off-heap, which costs
 * about a microsecond. A view into a slab that already has its buffer costs a
 * fraction of that, and one slab serves hundreds of small frames.
 *
 * Pure: no runtime globals.
 *
 * @module
 */

/** Slab size: big enough to serve many small frames, small enough to retain cheaply. */
const SLAB = 64 * 1024;
/** Copies at least this long get a buffer of their own (no slab waste, no on-heap issue). */
const OWN_BUFFER_FROM = 8 * 1024;

let slab = new ArrayBuffer(SLAB);
let offset = 0;

/**
 * An independent copy of `src` whose memory nothing else writes to. Small
 * copies are views into a shared slab that is never reused while referenced
 * (a full slab is replaced, not rewound), so a copy may be held as long as
 * needed, e.g. by a socket that has not sent it yet.
 *
 * @param src The bytes to copy.
 * @returns A new view holding the same bytes.
 */
export function copyBytes(src: Uint8Array): Uint8Array {
  const n = src.length;
  if (n >= OWN_BUFFER_FROM) {
    const out = new Uint8Array(new ArrayBuffer(n));
    out.set(src);
    return out;
  }
  if (offset + n > SLAB) {
    slab = new ArrayBuffer(SLAB);
    offset = 0;
  }
  const out = new Uint8Array(slab, offset, n);
  out.set(src);
  offset = (offset + n + 7) & ~7; // keep every copy 8-byte aligned
  return out;
}
