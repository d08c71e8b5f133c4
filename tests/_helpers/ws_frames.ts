/**
 * Helpers for WebSocket codec tests: frames as hex, feeding a reader in
 * chosen chunkings, and collecting what comes out.
 *
 * @module
 */
import { FrameReader, type FrameReaderOptions } from "../../src/core/ws/frame_reader.ts";
import { type Message, retainMessage } from "../../src/core/ws/message.ts";
import { ProtocolError } from "../../src/core/errors.ts";
import { byteByByte, prng, randomSplits } from "./prng.ts";

/** Bytes from hex, ignoring spaces: `hex("81 05 48 65")`. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  if (clean.length % 2 !== 0) throw new Error(`odd hex length: ${text}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** The result of decoding: the messages, then the error if one ended it. */
export interface Decoded {
  messages: Message[];
  error: ProtocolError | null;
}

/**
 * Feeds `pieces` (copied: a server reader unmasks in place) to a fresh reader,
 * draining after each, and returns retained messages and any ProtocolError.
 * Any other exception propagates (and fails the test).
 */
export function decodePieces(
  options: FrameReaderOptions,
  pieces: readonly Uint8Array[],
  via: "push" | "spare" = "push",
): Decoded {
  const reader = new FrameReader(options);
  const messages: Message[] = [];
  try {
    for (const piece of pieces) {
      if (via === "push") reader.push(piece.slice());
      else {
        let off = 0;
        while (off < piece.length) {
          const space = reader.spare();
          const n = Math.min(space.length, piece.length - off);
          space.set(piece.subarray(off, off + n));
          reader.filled(n);
          off += n;
        }
      }
      for (let m = reader.next(); m !== null; m = reader.next()) messages.push(retainMessage(m));
    }
  } catch (e) {
    if (e instanceof ProtocolError) return { messages, error: e };
    throw e;
  }
  return { messages, error: null };
}

/** The chunkings every codec case is run in: whole, byte by byte, seeded random splits (both feed paths). */
export function chunkings(
  bytes: Uint8Array,
  seeds = [1, 2, 3],
): [string, Uint8Array[], "push" | "spare"][] {
  const out: [string, Uint8Array[], "push" | "spare"][] = [
    ["whole", [bytes], "push"],
    ["byte by byte", byteByByte(bytes), "push"],
    ["whole via spare()", [bytes], "spare"],
  ];
  for (const seed of seeds) {
    out.push([`random splits seed ${seed}`, randomSplits(bytes, prng(seed)), "push"]);
    out.push([
      `random splits seed ${seed} via spare()`,
      randomSplits(bytes, prng(seed * 101)),
      "spare",
    ]);
  }
  return out;
}
