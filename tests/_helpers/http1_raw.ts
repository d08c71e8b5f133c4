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

/** The subset of a reader's API {@link collect} drives. */
export interface EventSource {
  /** Adds bytes. */
  push(chunk: Uint8Array): void;
  /** Signals end of input. */
  eof(): void;
  /** Next event or null. */
  next(): { type: string } | null;
}

/** A reader event flattened for deep comparison; data pieces are merged. */
export type Flat = Record<string, unknown>;

function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode(...b.subarray(i, i + 4096));
  return s;
}

/**
 * Feeds pieces to a reader, draining events after each, and returns the
 * events flattened: consecutive `data` events are merged into one `body`
 * string so that every chunking gives the same list.
 *
 * @param reader A ResponseReader or RequestReader.
 * @param pieces The input pieces.
 * @param eof Whether to signal end of input after the last piece.
 * @returns The flattened events.
 */
export function collect(reader: EventSource, pieces: Uint8Array[], eof = false): Flat[] {
  const out: Flat[] = [];
  const drain = () => {
    for (let ev = reader.next(); ev !== null; ev = reader.next()) {
      const e = ev as Record<string, unknown> & { type: string };
      if (e.type === "data") {
        const last = out[out.length - 1];
        const text = latin1(e.data as Uint8Array);
        if (last?.type === "body") last.body += text;
        else out.push({ type: "body", body: text });
      } else if (e.type === "head" || e.type === "informational") {
        const head = e.head as Record<string, unknown> & { headers: Iterable<[string, string]> };
        const { headers, ...rest } = head;
        const flat: Flat = { ...e, head: { ...rest, headers: [...headers] } };
        out.push(flat);
      } else if (e.type === "trailers") {
        out.push({ type: "trailers", trailers: [...(e.trailers as Iterable<[string, string]>)] });
      } else out.push({ ...e });
    }
  };
  for (const p of pieces) {
    reader.push(p);
    drain();
  }
  if (eof) {
    reader.eof();
    drain();
  }
  return out;
}
