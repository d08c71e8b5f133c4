/**
 * Byte ↔ string conversions for HTTP/1.x heads, which are octets (RFC 9112 §2.2):
 * each byte is one code point U+0000–U+00FF. `TextDecoder("latin1")` is not used
 * because the Encoding standard maps that label to windows-1252, which changes
 * bytes 0x80–0x9F.
 *
 * @module
 */

// Stay well under every engine's argument-count limit for `apply`.
const CHUNK = 4096;

/**
 * Decodes `buf[start, end)` as ISO-8859-1, one code point per byte.
 *
 * @param buf The bytes.
 * @param start First byte.
 * @param end One past the last byte.
 * @returns The string, with `length === end - start`.
 */
export function decodeLatin1(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= CHUNK) {
    return String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[]);
  }
  const parts: string[] = [];
  for (let i = start; i < end; i += CHUNK) {
    const stop = Math.min(i + CHUNK, end);
    parts.push(String.fromCharCode.apply(null, buf.subarray(i, stop) as unknown as number[]));
  }
  return parts.join("");
}

/**
 * Writes `s` into `out` at `offset` as ISO-8859-1. The caller has checked that
 * every code unit is ≤ 0xFF.
 *
 * @param s The string.
 * @param out The destination.
 * @param offset Where to start writing.
 * @returns The offset after the last byte written.
 */
export function writeLatin1(s: string, out: Uint8Array, offset: number): number {
  for (let i = 0; i < s.length; i++) out[offset + i] = s.charCodeAt(i);
  return offset + s.length;
}
