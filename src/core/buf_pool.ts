/**
 * Byte buffers shared by every connection of the process, in power-of-two
 * size classes, so that an idle connection holds none: a reader takes a
 * buffer when bytes must wait in it (a partial frame, a small chunk) and
 * gives it back as soon as it is empty again.
 *
 * Buffers come back unzeroed; their users track how much of them is valid.
 * Each buffer carries a word view made once, for word-at-a-time masking.
 * What the pool keeps is bounded (`POOL_BYTES_PER_CLASS` per class); past
 * that, given-back buffers are left to the garbage collector.
 *
 * Pure: module state only, no runtime globals.
 *
 * @module
 */

/** A pooled buffer and its word view (same memory; made on first use, then kept with the buffer). */
export class PooledBuffer {
  /** The bytes. */
  readonly bytes: Uint8Array;
  #words: Uint32Array | null = null;

  /** @param bytes The buffer (a whole ArrayBuffer of a multiple of 4 bytes). */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** The buffer as 32-bit words, for word-at-a-time masking. */
  get words(): Uint32Array {
    return this.#words ??= new Uint32Array(this.bytes.buffer);
  }
}

/** The smallest class: 1 KiB (what an idle connection's pending read holds, where a read needs a buffer). */
export const MIN_POOLED_BYTES = 1024;
/** The largest class kept: 256 KiB (bigger buffers are allocated and dropped). */
export const MAX_POOLED_BYTES = 256 * 1024;
/** Bytes kept per size class. */
const POOL_BYTES_PER_CLASS = 2 * 1024 * 1024;
const CLASSES = Math.log2(MAX_POOLED_BYTES / MIN_POOLED_BYTES) + 1;

const free: PooledBuffer[][] = Array.from({ length: CLASSES }, () => []);

/** The size class index of a buffer of exactly `size` bytes, or -1. */
function classOf(size: number): number {
  if (size < MIN_POOLED_BYTES || size > MAX_POOLED_BYTES) return -1;
  const c = Math.log2(size / MIN_POOLED_BYTES);
  return Number.isInteger(c) ? c : -1;
}

/** The smallest class size that holds `n` bytes (n itself, rounded up to 4, above the largest class). */
export function pooledSize(n: number): number {
  if (n > MAX_POOLED_BYTES) return (n + 3) & ~3;
  let size = MIN_POOLED_BYTES;
  while (size < n) size *= 2;
  return size;
}

/**
 * A buffer of at least `n` bytes: a pooled one of its size class when there
 * is one, else a new one.
 *
 * @param n Bytes needed.
 * @returns The buffer; its contents are arbitrary.
 */
export function takeBuffer(n: number): PooledBuffer {
  const size = pooledSize(n);
  const c = classOf(size);
  const pooled = c >= 0 ? free[c]!.pop() : undefined;
  if (pooled !== undefined) return pooled;
  return new PooledBuffer(new Uint8Array(size));
}

/**
 * Gives a buffer from {@link takeBuffer} back. The caller must hold no view
 * of it that it will read again: the next taker overwrites it.
 *
 * @param buf The buffer.
 */
export function giveBuffer(buf: PooledBuffer): void {
  const c = classOf(buf.bytes.length);
  if (c < 0) return;
  const list = free[c]!;
  if ((list.length + 1) * buf.bytes.length <= POOL_BYTES_PER_CLASS) list.push(buf);
}

/** Bytes the pool holds now, for tests and diagnostics. */
export function pooledBytes(): number {
  let total = 0;
  for (let c = 0; c < CLASSES; c++) total += free[c]!.length * (MIN_POOLED_BYTES << c);
  return total;
}
