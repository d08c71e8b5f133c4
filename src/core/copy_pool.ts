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
  const out = allocBytes(src.length);
  out.set(src);
  return out;
}

/**
 * `n` fresh bytes nothing else writes to, from the same slabs as
 * {@link copyBytes} (small ones: no allocation of their own, nothing for the
 * runtime's allocator to fragment). Their contents are zero.
 *
 * @param n The length.
 * @returns A new view.
 */
export function allocBytes(n: number): Uint8Array {
  if (n >= OWN_BUFFER_FROM) return new Uint8Array(new ArrayBuffer(n));
  if (offset + n > SLAB) {
    slab = new ArrayBuffer(SLAB);
    offset = 0;
  }
  const out = new Uint8Array(slab, offset, n);
  offset = (offset + n + 7) & ~7; // keep every copy 8-byte aligned
  return out;
}

/**
 * One independent copy of the first `count` items' bytes, end to end, from
 * the same slabs as {@link copyBytes}: many small frames become one write.
 *
 * @param items Where the pieces are.
 * @param count How many of the first items to join.
 * @param total Their byte count together.
 * @param bytesOf The bytes of an item.
 * @returns A new view holding the joined bytes.
 */
export function gatherBytes<T>(
  items: readonly T[],
  count: number,
  total: number,
  bytesOf: (item: T) => Uint8Array,
): Uint8Array {
  let out: Uint8Array;
  if (total >= OWN_BUFFER_FROM) out = new Uint8Array(new ArrayBuffer(total));
  else {
    if (offset + total > SLAB) {
      slab = new ArrayBuffer(SLAB);
      offset = 0;
    }
    out = new Uint8Array(slab, offset, total);
    offset = (offset + total + 7) & ~7;
  }
  let at = 0;
  for (let i = 0; i < count; i++) {
    const b = bytesOf(items[i]!);
    if (b.length <= 16) for (let j = 0; j < b.length; j++) out[at + j] = b[j]!;
    else out.set(b, at);
    at += b.length;
  }
  return out;
}
