/**
 * Conformance cases for Autobahn TestSuite sections 9 (limits and
 * performance) and 10 (auto-fragmentation), scaled down to stay fast: 1 MiB
 * messages instead of up to 16 MiB, 100 round trips instead of 1000. Plus the
 * 1009 cases of RFC 6455 §7.4.1 for a configured `maxMessageSize`.
 *
 * @module
 */
import { OP } from "../_helpers/raw_peer.ts";
import type { Case, Step } from "./_conformance.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** Deterministic bytes (not a repeated pattern, so a misplaced chunk shows). */
export function noise(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Printable ASCII of length `n` (valid UTF-8 whatever the split). */
export function asciiText(n: number, seed = 7): string {
  const bytes = noise(n, seed);
  let s = "";
  const CHUNK = 8192;
  for (let at = 0; at < n; at += CHUNK) {
    s += String.fromCharCode(...Array.from(bytes.subarray(at, at + CHUNK), (b) => 0x21 + (b % 94)));
  }
  return s;
}

function fragmentsOf(opcode: number, payload: Uint8Array, size: number): Step["frames"] {
  const frames: Step["frames"] = [];
  for (let at = 0; at < payload.length; at += size) {
    frames.push({
      opcode: at === 0 ? opcode : OP.cont,
      payload: payload.subarray(at, at + size),
      fin: at + size >= payload.length,
    });
  }
  return frames;
}

const enc = new TextEncoder();
const sizeName = (n: number) => n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} B`;

function bigMessages(section: string, type: "text" | "binary"): Case[] {
  return [64 * KiB, 256 * KiB, MiB].map((n, i): Case => {
    const payload = type === "text" ? enc.encode(asciiText(n, i + 1)) : noise(n, i + 1);
    return {
      id: `${section}.${i + 1}`,
      does: `echoes a ${sizeName(n)} ${type} message byte-exact`,
      steps: [{ frames: [{ opcode: type === "text" ? OP.text : OP.binary, payload }] }],
      expect: [{ type, payload }],
      outcome: { kind: "echo" },
    };
  });
}

const FRAGMENT_SIZES = [64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB];

function fragmented(section: string, type: "text" | "binary"): Case[] {
  const payload = type === "text" ? enc.encode(asciiText(MiB, 11)) : noise(MiB, 11);
  return FRAGMENT_SIZES.map((size, i): Case => ({
    id: `${section}.${i + 1}`,
    does: `echoes a 1 MiB ${type} message sent in ${MiB / size} fragments of ${sizeName(size)}`,
    steps: [{ frames: fragmentsOf(type === "text" ? OP.text : OP.binary, payload, size) }],
    expect: [{ type, payload }],
    outcome: { kind: "echo" },
  }));
}

const CHOP_SIZES = [64, 128, 256, 512, KiB, 2 * KiB, 4 * KiB];

function chopped(section: string, type: "text" | "binary"): Case[] {
  const payload = type === "text" ? enc.encode(asciiText(256 * KiB, 21)) : noise(256 * KiB, 21);
  return CHOP_SIZES.map((chop, i): Case => ({
    id: `${section}.${i + 1}`,
    does: `echoes a 256 KiB ${type} frame written in ${sizeName(chop)} chops`,
    steps: [{ frames: [{ opcode: type === "text" ? OP.text : OP.binary, payload }], chop }],
    expect: [{ type, payload }],
    outcome: { kind: "echo" },
  }));
}

const ROUND_TRIP_SIZES = [0, 16, 64, 256, KiB, 4 * KiB];
const ROUND_TRIPS = 100;

function roundTrips(section: string, type: "text" | "binary"): Case[] {
  return ROUND_TRIP_SIZES.map((n, i): Case => {
    const payload = type === "text" ? enc.encode(asciiText(n, i + 31)) : noise(n, i + 31);
    const opcode = type === "text" ? OP.text : OP.binary;
    return {
      id: `${section}.${i + 1}`,
      does: `echoes ${ROUND_TRIPS} ${sizeName(n)} ${type} messages one round trip at a time`,
      steps: Array.from({ length: ROUND_TRIPS }, () => ({
        frames: [{ opcode, payload }],
        replies: [{ type, payload }],
      })),
      expect: [],
      outcome: { kind: "echo" },
    };
  });
}

/** Section 9, scaled: big messages, many fragments, small writes, many round trips. */
export const SECTION_9: Case[] = [
  ...bigMessages("9.1", "text"),
  ...bigMessages("9.2", "binary"),
  ...fragmented("9.3", "text"),
  ...fragmented("9.4", "binary"),
  ...chopped("9.5", "text"),
  ...chopped("9.6", "binary"),
  ...roundTrips("9.7", "text"),
  ...roundTrips("9.8", "binary"),
];

/** 10.1.1: a 64 KiB text message arriving in 1300-byte frames is echoed whole. */
export const SECTION_10: Case[] = [{
  id: "10.1.1",
  does: "echoes a 64 KiB text message that arrives auto-fragmented in 1300-byte frames",
  steps: [{ frames: fragmentsOf(OP.text, enc.encode(asciiText(64 * KiB, 41)), 1300) }],
  expect: [{ type: "text", payload: enc.encode(asciiText(64 * KiB, 41)) }],
  outcome: { kind: "echo" },
}];

/** The limit the 1009 cases run under. */
export const MAX_MESSAGE = 64 * KiB;

/** RFC 6455 §7.4.1 1009 with maxMessageSize = 64 KiB: at the limit echoed, past it failed at the header. */
export const TOO_BIG: Case[] = [
  {
    id: "1009.1",
    does: "echoes a message of exactly maxMessageSize bytes",
    steps: [{ frames: [{ opcode: OP.binary, payload: noise(MAX_MESSAGE) }] }],
    expect: [{ type: "binary", payload: noise(MAX_MESSAGE) }],
    outcome: { kind: "echo" },
  },
  {
    id: "1009.2",
    does: "fails a frame announcing maxMessageSize + 1 bytes with 1009 from its header alone",
    // Only the header is sent: the payload must not be needed to refuse it.
    steps: [{ frames: [{ opcode: OP.binary, payload: noise(MAX_MESSAGE + 1) }], part: [0, 0] }],
    expect: [],
    outcome: { kind: "fail", code: 1009, failFastAfterStep: 0 },
  },
  {
    id: "1009.3",
    does: "fails a fragmented message growing past maxMessageSize with 1009 at the fragment that overflows",
    steps: [
      {
        frames: [{ opcode: OP.text, payload: asciiText(MAX_MESSAGE - 100), fin: false }],
        quietMs: 30,
      },
      { frames: [{ opcode: OP.cont, payload: asciiText(101), fin: false }], part: [0, 0] },
      { frames: [{ opcode: OP.cont, payload: asciiText(101) }] },
    ],
    expect: [],
    outcome: { kind: "fail", code: 1009, failFastAfterStep: 1 },
  },
];

/** Five 1-byte fragments under `maxFragments: 4`: the 5th header fails with 1009. */
export const TOO_MANY_FRAGMENTS: Case = {
  id: "1009.4",
  does: "fails the 5th fragment past maxFragments 4 with 1009",
  steps: [
    {
      frames: [
        { opcode: OP.binary, payload: "a", fin: false },
        { opcode: OP.cont, payload: "b", fin: false },
        { opcode: OP.cont, payload: "c", fin: false },
        { opcode: OP.cont, payload: "d", fin: false },
      ],
      quietMs: 30,
    },
    { frames: [{ opcode: OP.cont, payload: "e" }] },
  ],
  expect: [],
  outcome: { kind: "fail", code: 1009, failFastAfterStep: 1 },
};

/**
 * Many big messages back to back in one write, so the echo of one is still
 * being written while the next is parsed: received buffers must not be reused
 * under a write in flight (the server writes large binary payloads as they are).
 */
export const PIPELINED: Case[] = [
  {
    id: "9.x.1",
    does: "echoes 20 distinct 100 KiB binary messages sent back to back, all intact and in order",
    steps: [{
      frames: Array.from({ length: 20 }, (_, i) => ({ opcode: OP.binary, payload: noise(100 * KiB, 100 + i) })),
    }],
    expect: Array.from({ length: 20 }, (_, i) => ({ type: "binary", payload: noise(100 * KiB, 100 + i) })),
    outcome: { kind: "echo" },
  },
  {
    id: "9.x.2",
    does: "echoes 10 distinct 200 KiB binary messages in 3 fragments each sent back to back, all intact",
    steps: [{
      frames: Array.from({ length: 10 }, (_, i) => fragmentsOf(OP.binary, noise(200 * KiB, 200 + i), 70 * KiB))
        .flat(),
    }],
    expect: Array.from({ length: 10 }, (_, i) => ({ type: "binary", payload: noise(200 * KiB, 200 + i) })),
    outcome: { kind: "echo" },
  },
  {
    id: "9.x.3",
    does: "echoes 30 distinct 50 KiB text messages sent back to back in 1000-byte chops, all intact",
    steps: [{
      frames: Array.from({ length: 30 }, (_, i) => ({ opcode: OP.text, payload: asciiText(50 * KiB, 300 + i) })),
      chop: 1000,
    }],
    expect: Array.from({ length: 30 }, (_, i) => ({ type: "text", payload: asciiText(50 * KiB, 300 + i) })),
    outcome: { kind: "echo" },
  },
];
