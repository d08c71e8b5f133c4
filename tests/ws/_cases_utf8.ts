/**
 * Conformance cases for Autobahn TestSuite section 6 (UTF-8 handling), from
 * the public case descriptions, RFC 6455 §8.1 and RFC 3629; the byte
 * sequences of 6.5–6.23 are those of Markus Kuhn's UTF-8 decoder stress test.
 *
 * @module
 */
import { OP } from "../_helpers/raw_peer.ts";
import type { Case } from "./_conformance.ts";

/** Bytes from hex, ignoring spaces. */
export function h(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return Uint8Array.from({ length: clean.length / 2 }, (_, i) =>
    parseInt(clean.slice(i * 2, i * 2 + 2), 16));
}

const enc = new TextEncoder();
const KOSME = h("ce ba e1 bd b9 cf 83 ce bc ce b5"); // "κόσμε"
const VALID_MIXED = enc.encode("Hello-µ@ßöäüàá-UTF-8!!");
const EDITED = enc.encode("edited");

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A text message as frames of `size` payload bytes each (the first is "text", the rest continuations). */
function fragments(payload: Uint8Array, size: number) {
  const frames = [];
  for (let at = 0; at === 0 || at < payload.length; at += size) {
    frames.push({
      opcode: at === 0 ? OP.text : OP.cont,
      payload: payload.subarray(at, at + size),
      fin: at + size >= payload.length,
    });
  }
  return frames;
}

// 6.4.x: "κόσμε" + U+110000 encoded as F4 90 80 80 (out of range) + "edited".
const P1 = KOSME;
const P2 = h("f4 90 80 80");
const P3 = EDITED;
const FAIL_FAST_PAUSE_MS = 50;

/** 6.1–6.4: empty, valid and invalid text, in one frame, fragments, octets, and fail-fast. */
export const SECTION_6_BASIC: Case[] = [
  {
    id: "6.1.1",
    does: "echoes an empty text message",
    steps: [{ frames: [{ opcode: OP.text }] }],
    expect: [{ type: "text", payload: "" }],
    outcome: { kind: "echo" },
  },
  {
    id: "6.1.2",
    does: "echoes an empty text message sent as 3 empty fragments",
    steps: [{
      frames: [
        { opcode: OP.text, fin: false },
        { opcode: OP.cont, fin: false },
        { opcode: OP.cont },
      ],
    }],
    expect: [{ type: "text", payload: "" }],
    outcome: { kind: "echo" },
  },
  {
    id: "6.1.3",
    does: "echoes a text message of 3 fragments whose first and last are empty",
    steps: [{
      frames: [
        { opcode: OP.text, fin: false },
        { opcode: OP.cont, fin: false, payload: "middle frame payload" },
        { opcode: OP.cont },
      ],
    }],
    expect: [{ type: "text", payload: "middle frame payload" }],
    outcome: { kind: "echo" },
  },
  {
    id: "6.2.1",
    does: "echoes valid multi-byte UTF-8 in one frame byte-exact",
    steps: [{ frames: [{ opcode: OP.text, payload: VALID_MIXED }] }],
    expect: [{ type: "text", payload: VALID_MIXED }],
    outcome: { kind: "echo" },
  },
  {
    id: "6.2.2",
    does: "echoes valid UTF-8 in 2 fragments split at a code point boundary",
    steps: [{
      frames: [
        { opcode: OP.text, fin: false, payload: VALID_MIXED.subarray(0, 12) },
        { opcode: OP.cont, payload: VALID_MIXED.subarray(12) },
      ],
    }],
    expect: [{ type: "text", payload: VALID_MIXED }],
    outcome: { kind: "echo" },
  },
  {
    id: "6.2.3",
    does: "echoes valid UTF-8 sent as 1-byte fragments (code points split across frames)",
    steps: [{ frames: fragments(VALID_MIXED, 1) }],
    expect: [{ type: "text", payload: VALID_MIXED }],
    outcome: { kind: "echo" },
  },
  {
    id: "6.2.4",
    does: "echoes \"κόσμε\" sent as 1-byte fragments",
    steps: [{ frames: fragments(KOSME, 1) }],
    expect: [{ type: "text", payload: KOSME }],
    outcome: { kind: "echo" },
  },
  {
    id: "6.2.4b",
    does: "echoes \"κόσμε\" in one frame sent one byte per write",
    steps: [{ frames: [{ opcode: OP.text, payload: KOSME }], chop: "bytes" }],
    expect: [{ type: "text", payload: KOSME }],
    outcome: { kind: "echo" },
  },
  {
    id: "6.3.1",
    does: "fails text with a UTF-16 surrogate (ED A0 80) in one frame with 1007",
    steps: [{ frames: [{ opcode: OP.text, payload: cat(KOSME, h("ed a0 80"), EDITED) }] }],
    expect: [],
    outcome: { kind: "fail", code: 1007 },
  },
  {
    id: "6.3.2",
    does: "fails text with a UTF-16 surrogate sent as 1-byte fragments with 1007",
    steps: [{ frames: fragments(cat(KOSME, h("ed a0 80"), EDITED), 1) }],
    expect: [],
    outcome: { kind: "fail", code: 1007 },
  },
  {
    id: "6.4.1",
    does: "fails fast with 1007 on the invalid 2nd of 3 text fragments, before the 3rd is sent",
    steps: [
      { frames: [{ opcode: OP.text, fin: false, payload: P1 }], quietMs: FAIL_FAST_PAUSE_MS },
      { frames: [{ opcode: OP.cont, fin: false, payload: P2 }] },
      { frames: [{ opcode: OP.cont, payload: P3 }] },
    ],
    expect: [],
    outcome: { kind: "fail", code: 1007, failFastAfterStep: 1 },
  },
  {
    id: "6.4.2",
    does: "fails fast with 1007 on a 1-byte 2nd fragment holding the first invalid byte",
    steps: [
      {
        frames: [{ opcode: OP.text, fin: false, payload: cat(P1, P2).subarray(0, 12) }],
        quietMs: FAIL_FAST_PAUSE_MS,
      },
      { frames: [{ opcode: OP.cont, fin: false, payload: cat(P1, P2).subarray(12, 13) }] },
      { frames: [{ opcode: OP.cont, payload: cat(P1, P2, P3).subarray(13) }] },
    ],
    expect: [],
    outcome: { kind: "fail", code: 1007, failFastAfterStep: 1 },
  },
  {
    id: "6.4.3",
    does: "fails fast with 1007 on the invalid 2nd chop of one text frame, before the 3rd chop",
    steps: [
      {
        frames: [{ opcode: OP.text, payload: cat(P1, P2, P3) }],
        part: [0, 11],
        quietMs: FAIL_FAST_PAUSE_MS,
      },
      { frames: [{ opcode: OP.text, payload: cat(P1, P2, P3) }], part: [11, 15] },
      { frames: [{ opcode: OP.text, payload: cat(P1, P2, P3) }], part: [15, 21] },
    ],
    expect: [],
    outcome: { kind: "fail", code: 1007, failFastAfterStep: 1 },
  },
  {
    id: "6.4.4",
    does: "fails fast with 1007 on a 1-byte chop of one text frame holding the first invalid byte",
    steps: [
      {
        frames: [{ opcode: OP.text, payload: cat(P1, P2, P3) }],
        part: [0, 12],
        quietMs: FAIL_FAST_PAUSE_MS,
      },
      { frames: [{ opcode: OP.text, payload: cat(P1, P2, P3) }], part: [12, 13] },
      { frames: [{ opcode: OP.text, payload: cat(P1, P2, P3) }], part: [13, 21] },
    ],
    expect: [],
    outcome: { kind: "fail", code: 1007, failFastAfterStep: 1 },
  },
];

/** A group of single-frame text payloads with their validity (6.5–6.23). */
export interface Utf8Group {
  id: string;
  title: string;
  cases: { valid: boolean; bytes: Uint8Array }[];
}

const bad = (x: string) => ({ valid: false, bytes: h(x) });
const good = (x: string) => ({ valid: true, bytes: h(x) });

function range(from: number, to: number, each: (b: number) => number[]): Uint8Array {
  const out: number[] = [];
  for (let b = from; b < to; b++) out.push(...each(b));
  return Uint8Array.from(out);
}

function prefixes(): { valid: boolean; bytes: Uint8Array }[] {
  // Code points of "κόσμε" end after bytes 2, 5, 7, 9 and 11.
  const ends = new Set([2, 5, 7, 9, 11]);
  return Array.from({ length: KOSME.length }, (_, i) => ({
    valid: ends.has(i + 1),
    bytes: KOSME.subarray(0, i + 1),
  }));
}

const MISSING_LAST = [
  "c0",
  "e0 80",
  "f0 80 80",
  "f8 80 80 80",
  "fc 80 80 80 80",
  "df",
  "ef bf",
  "f7 bf bf",
  "fb bf bf bf",
  "fd bf bf bf bf",
];

function nonCharacters(): { valid: boolean; bytes: Uint8Array }[] {
  const out = [good("ef bf be"), good("ef bf bf")];
  for (const b1 of [0xf0, 0xf1, 0xf2, 0xf3, 0xf4]) {
    for (const b2 of [0x8f, 0x9f, 0xaf, 0xbf]) {
      if (b1 === 0xf4 && b2 !== 0x8f) continue; // above U+10FFFF
      if (b1 === 0xf0 && b2 === 0x8f) continue; // overlong
      for (const b4 of [0xbe, 0xbf]) out.push({ valid: true, bytes: Uint8Array.of(b1, b2, 0xbf, b4) });
    }
  }
  return out;
}

/** 6.5–6.23: one text frame each; valid ones are echoed byte-exact, invalid ones fail with 1007. */
export const SECTION_6_TABLE: Utf8Group[] = [
  {
    id: "6.5",
    title: "some valid UTF-8 sequences",
    cases: [
      { valid: true, bytes: enc.encode("hello$world") },
      { valid: true, bytes: cat(enc.encode("hello"), h("c2 a2"), enc.encode("world")) },
      { valid: true, bytes: cat(enc.encode("hello"), h("e2 82 ac"), enc.encode("world")) },
      { valid: true, bytes: cat(enc.encode("hello"), h("f0 a4 ad a2"), enc.encode("world")) },
      { valid: true, bytes: KOSME },
    ],
  },
  { id: "6.6", title: "every prefix of a multi-byte string", cases: prefixes() },
  {
    id: "6.7",
    title: "the first sequence of each length",
    cases: [good("00"), good("c2 80"), good("e0 a0 80"), good("f0 90 80 80")],
  },
  {
    id: "6.8",
    title: "first 5- and 6-byte sequences (invalid code points)",
    cases: [bad("f8 88 80 80 80"), bad("fc 84 80 80 80 80")],
  },
  {
    id: "6.9",
    title: "the last sequence of each length",
    cases: [good("7f"), good("df bf"), good("ef bf bf"), good("f4 8f bf bf")],
  },
  {
    id: "6.10",
    title: "last 4-, 5- and 6-byte sequences (invalid code points)",
    cases: [bad("f7 bf bf bf"), bad("fb bf bf bf bf"), bad("fd bf bf bf bf bf")],
  },
  {
    id: "6.11",
    title: "other boundary conditions",
    cases: [
      good("ed 9f bf"),
      good("ee 80 80"),
      good("ef bf bd"),
      good("f4 8f bf bf"),
      bad("f4 90 80 80"),
    ],
  },
  {
    id: "6.12",
    title: "unexpected continuation bytes",
    cases: [
      bad("80"),
      bad("bf"),
      bad("80 bf"),
      bad("80 bf 80"),
      bad("80 bf 80 bf"),
      bad("80 bf 80 bf 80"),
      bad("80 bf 80 bf 80 bf"),
      { valid: false, bytes: range(0x80, 0xbf, (b) => [b]) },
    ],
  },
  {
    id: "6.13",
    title: "lonely start bytes followed by spaces",
    cases: [[0xc0, 0xdf], [0xe0, 0xef], [0xf0, 0xf7], [0xf8, 0xfb], [0xfc, 0xfd]].map((
      [from, to],
    ) => ({ valid: false, bytes: range(from, to, (b) => [b, 0x20]) })),
  },
  { id: "6.14", title: "sequences missing their last continuation byte", cases: MISSING_LAST.map(bad) },
  {
    id: "6.15",
    title: "a concatenation of incomplete sequences",
    cases: [bad(MISSING_LAST.join(" "))],
  },
  { id: "6.16", title: "impossible bytes", cases: [bad("fe"), bad("ff"), bad("fe fe ff ff")] },
  {
    id: "6.17",
    title: "overlong forms of '/'",
    cases: [
      bad("c0 af"),
      bad("e0 80 af"),
      bad("f0 80 80 af"),
      bad("f8 80 80 80 af"),
      bad("fc 80 80 80 80 af"),
    ],
  },
  {
    id: "6.18",
    title: "maximum overlong sequences",
    cases: [
      bad("c1 bf"),
      bad("e0 9f bf"),
      bad("f0 8f bf bf"),
      bad("f8 87 bf bf bf"),
      bad("fc 83 bf bf bf bf"),
    ],
  },
  {
    id: "6.19",
    title: "overlong forms of NUL",
    cases: [
      bad("c0 80"),
      bad("e0 80 80"),
      bad("f0 80 80 80"),
      bad("f8 80 80 80 80"),
      bad("fc 80 80 80 80 80"),
    ],
  },
  {
    id: "6.20",
    title: "single UTF-16 surrogates",
    cases: ["ed a0 80", "ed ad bf", "ed ae 80", "ed af bf", "ed b0 80", "ed be 80", "ed bf bf"]
      .map(bad),
  },
  {
    id: "6.21",
    title: "paired UTF-16 surrogates",
    cases: [
      "ed a0 80 ed b0 80",
      "ed a0 80 ed bf bf",
      "ed ad bf ed b0 80",
      "ed ad bf ed bf bf",
      "ed ae 80 ed b0 80",
      "ed ae 80 ed bf bf",
      "ed af bf ed b0 80",
      "ed af bf ed bf bf",
    ].map(bad),
  },
  { id: "6.22", title: "non-character code points (valid UTF-8)", cases: nonCharacters() },
  {
    id: "6.23",
    title: "Unicode specials incl. U+FFFD and a BOM (valid, kept as is)",
    cases: [
      good("ef bf b9"),
      good("ef bf ba"),
      good("ef bf bb"),
      good("ef bf bc"),
      good("ef bf bd"),
      good("ef bf be"),
      good("ef bf bf"),
      good("ef bb bf"), // U+FEFF at the start must not be stripped
    ],
  },
];

/** The cases of one group, ready for the runner. */
export function groupCases(group: Utf8Group): Case[] {
  return group.cases.map((c, i): Case => ({
    id: `${group.id}.${i + 1}`,
    does: c.valid ? "echoes valid UTF-8" : "fails invalid UTF-8 with 1007",
    steps: [{ frames: [{ opcode: OP.text, payload: c.bytes }] }],
    expect: c.valid ? [{ type: "text", payload: c.bytes }] : [],
    outcome: c.valid ? { kind: "echo" } : { kind: "fail", code: 1007 },
  }));
}
