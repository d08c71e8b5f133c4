/**
 * Helpers for HTTP/1.1 codec tests: raw messages as CRLF-joined lines, and the
 * three chunkings every codec case runs under (whole, byte by byte, seeded
 * random splits).
 *
 * @module
 */
import { byteByByte, prng, randomSplits } from "./prng.ts";

const enc = new TextEncoder();

/**
 * Joins lines with CRLF and encodes them as latin1-safe UTF-8.
 *
 * @param lines The lines; end with `""` (and another `""`) for the empty line.
 * @returns The bytes.
 */
export function crlf(...lines: string[]): Uint8Array {
  return enc.encode(lines.join("\r\n"));
}

/**
 * Encodes a string with one byte per code unit (for obs-text and control bytes).
 *
 * @param s The string; every code unit ≤ 0xFF.
 * @returns The bytes.
 */
export function bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A named way of cutting input into pieces. */
export interface Chunking {
  /** Shown in assertion messages. */
  name: string;
  /** The pieces, in order. */
  pieces: Uint8Array[];
}

/**
 * Returns the chunkings a codec case runs under: whole, byte by byte, and
 * `randomRuns` seeded random splits.
 *
 * @param input The whole input.
 * @param randomRuns How many random splits.
 * @param seed The first seed.
 * @returns The chunkings.
 */
export function chunkings(input: Uint8Array, randomRuns = 8, seed = 1): Chunking[] {
  const out: Chunking[] = [
    { name: "whole", pieces: [input] },
    { name: "byte by byte", pieces: byteByByte(input) },
  ];
  for (let i = 0; i < randomRuns; i++) {
    out.push({ name: `random seed ${seed + i}`, pieces: randomSplits(input, prng(seed + i)) });
  }
  return out;
}
