/**
 * A tiny seeded PRNG (mulberry32) and helpers to cut byte strings into random
 * pieces, so codec tests can replay the same "random" chunkings on every run
 * and every runtime.
 *
 * @module
 */

/**
 * Returns a deterministic generator of numbers in [0, 1) for `seed`.
 *
 * @param seed Any 32-bit integer.
 * @returns A function yielding the next number each call.
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Returns a random integer in [min, max].
 *
 * @param rand A generator from {@link prng}.
 * @param min Smallest value.
 * @param max Largest value.
 * @returns The integer.
 */
export function randomInt(rand: () => number, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

/**
 * Cuts `bytes` into consecutive non-empty pieces of random lengths (views, no
 * copies) whose concatenation is `bytes`.
 *
 * @param bytes The input.
 * @param rand A generator from {@link prng}.
 * @param maxPiece Longest piece. Default: a random length up to the input size.
 * @returns The pieces, in order.
 */
export function randomSplits(
  bytes: Uint8Array,
  rand: () => number,
  maxPiece = Math.max(1, randomInt(rand, 1, bytes.length)),
): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = randomInt(rand, 1, Math.min(maxPiece, bytes.length - i));
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

/**
 * Cuts `bytes` into one-byte views.
 *
 * @param bytes The input.
 * @returns One piece per byte.
 */
export function byteByByte(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
  return out;
}

/**
 * Concatenates pieces into one new array.
 *
 * @param pieces The parts.
 * @returns Their concatenation.
 */
export function concat(pieces: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of pieces) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
