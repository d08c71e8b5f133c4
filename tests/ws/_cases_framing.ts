/**
 * Conformance cases for Autobahn TestSuite sections 1 (framing), 2 (pings and
 * pongs), 3 (reserved bits), 4 (opcodes) and 5 (fragmentation), written from
 * the public case descriptions and RFC 6455 §5. Each case runs in both roles.
 *
 * @module
 */
import { OP } from "../_helpers/raw_peer.ts";
import type { Case, Step } from "./_conformance.ts";

const HELLO = "Hello, world!";
const BIN8 = Uint8Array.of(0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff);

function filled(n: number, byte: number): Uint8Array {
  return new Uint8Array(n).fill(byte);
}

/** "*" repeated: a text payload of `n` bytes. */
function stars(n: number): string {
  return "*".repeat(n);
}

// ---------------------------------------------------------------- 1 framing

const SIZES = [0, 125, 126, 127, 128, 65535, 65536];

/** 1.1.x text and 1.2.x binary messages of boundary lengths (7-, 16- and 64-bit length forms). */
export const SECTION_1: Case[] = [
  ...SIZES.map((n, i): Case => ({
    id: `1.1.${i + 1}`,
    does: `echoes a ${n}-byte text message byte-exact`,
    steps: [{ frames: [{ opcode: OP.text, payload: stars(n) }] }],
    expect: [{ type: "text", payload: stars(n) }],
    outcome: { kind: "echo" },
  })),
  {
    id: "1.1.8",
    does: "echoes a 65536-byte text message sent in 997-byte chops",
    steps: [{ frames: [{ opcode: OP.text, payload: stars(65536) }], chop: 997 }],
    expect: [{ type: "text", payload: stars(65536) }],
    outcome: { kind: "echo" },
  },
  ...SIZES.map((n, i): Case => ({
    id: `1.2.${i + 1}`,
    does: `echoes a ${n}-byte binary message byte-exact`,
    steps: [{ frames: [{ opcode: OP.binary, payload: filled(n, 0xfe) }] }],
    expect: [{ type: "binary", payload: filled(n, 0xfe) }],
    outcome: { kind: "echo" },
  })),
  {
    id: "1.2.8",
    does: "echoes a 65536-byte binary message sent in 997-byte chops",
    steps: [{ frames: [{ opcode: OP.binary, payload: filled(65536, 0xfe) }], chop: 997 }],
    expect: [{ type: "binary", payload: filled(65536, 0xfe) }],
    outcome: { kind: "echo" },
  },
];

// ---------------------------------------------------------------- 2 pings

const tenPings = Array.from({ length: 10 }, (_, i) => `payload-${i}`);

/** Pings are answered with pongs carrying the same payload; unsolicited pongs are ignored. */
export const SECTION_2: Case[] = [
  {
    id: "2.1",
    does: "answers a ping without payload with an empty pong",
    steps: [{ frames: [{ opcode: OP.ping }] }],
    expect: [{ type: "pong", payload: "" }],
    outcome: { kind: "echo" },
  },
  {
    id: "2.2",
    does: "answers a ping with a text payload with the same payload",
    steps: [{ frames: [{ opcode: OP.ping, payload: HELLO }] }],
    expect: [{ type: "pong", payload: HELLO }],
    outcome: { kind: "echo" },
  },
  {
    id: "2.3",
    does: "answers a ping with a binary payload with the same payload",
    steps: [{ frames: [{ opcode: OP.ping, payload: BIN8 }] }],
    expect: [{ type: "pong", payload: BIN8 }],
    outcome: { kind: "echo" },
  },
  {
    id: "2.4",
    does: "answers a ping with a 125-byte payload (the control frame maximum)",
    steps: [{ frames: [{ opcode: OP.ping, payload: filled(125, 0xfe) }] }],
    expect: [{ type: "pong", payload: filled(125, 0xfe) }],
    outcome: { kind: "echo" },
  },
  {
    id: "2.5",
    does: "fails a ping with a 126-byte payload with 1002 (RFC 6455 §5.5)",
    steps: [{ frames: [{ opcode: OP.ping, payload: filled(126, 0xfe) }] }],
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  },
  {
    id: "2.6",
    does: "answers a 125-byte ping sent one byte per write",
    steps: [{ frames: [{ opcode: OP.ping, payload: filled(125, 0xfe) }], chop: "bytes" }],
    expect: [{ type: "pong", payload: filled(125, 0xfe) }],
    outcome: { kind: "echo" },
  },
  {
    id: "2.7",
    does: "ignores an unsolicited empty pong",
    steps: [{ frames: [{ opcode: OP.pong }] }],
    expect: [],
    outcome: { kind: "echo" },
  },
  {
    id: "2.8",
    does: "ignores an unsolicited pong with payload",
    steps: [{ frames: [{ opcode: OP.pong, payload: "unsolicited pong payload" }] }],
    expect: [],
    outcome: { kind: "echo" },
  },
  {
    id: "2.9",
    does: "ignores an unsolicited pong, then answers the following ping",
    steps: [{
      frames: [
        { opcode: OP.pong, payload: "unsolicited pong payload" },
        { opcode: OP.ping, payload: "ping payload" },
      ],
    }],
    expect: [{ type: "pong", payload: "ping payload" }],
    outcome: { kind: "echo" },
  },
  {
    id: "2.10",
    does: "answers 10 back-to-back pings with 10 pongs in order",
    steps: [{ frames: tenPings.map((p) => ({ opcode: OP.ping, payload: p })) }],
    expect: tenPings.map((p) => ({ type: "pong", payload: p })),
    outcome: { kind: "echo" },
  },
  {
    id: "2.11",
    does: "answers 10 pings sent one byte per write with 10 pongs in order",
    steps: [{ frames: tenPings.map((p) => ({ opcode: OP.ping, payload: p })), chop: "bytes" }],
    expect: tenPings.map((p) => ({ type: "pong", payload: p })),
    outcome: { kind: "echo" },
  },
];

// ---------------------------------------------------------------- 3 reserved bits

/** Text, then a frame with RSV bits set, then a ping: echo, then fail (no pong). */
function rsvAfterText(rsv: number, extra: Partial<Step>): Step[] {
  return [{
    frames: [
      { opcode: OP.text, payload: HELLO },
      { opcode: OP.text, payload: HELLO, rsv },
      { opcode: OP.ping },
    ],
    ...extra,
  }];
}

/** Any RSV bit set without a negotiated extension fails the connection with 1002 (RFC 6455 §5.2). */
export const SECTION_3: Case[] = [
  {
    id: "3.1",
    does: "fails a text frame with RSV1 set with 1002",
    steps: [{ frames: [{ opcode: OP.text, payload: HELLO, rsv: 4 }] }],
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  },
  {
    id: "3.2",
    does: "echoes a text, then fails the next text with RSV2 set with 1002 (no pong after)",
    steps: rsvAfterText(2, {}),
    expect: [{ type: "text", payload: HELLO }],
    outcome: { kind: "fail", code: 1002 },
  },
  {
    id: "3.3",
    does: "echoes a text, then fails a text with RSV1+RSV2 sent frame-wise with 1002",
    steps: rsvAfterText(6, { frameWise: true, delayMs: 5 }),
    expect: [{ type: "text", payload: HELLO }],
    outcome: { kind: "fail", code: 1002 },
  },
  {
    id: "3.4",
    does: "echoes a text, then fails a text with RSV3 sent one byte per write with 1002",
    steps: rsvAfterText(1, { chop: "bytes" }),
    expect: [{ type: "text", payload: HELLO }],
    outcome: { kind: "fail", code: 1002 },
  },
  {
    id: "3.5",
    does: "fails a binary frame with RSV1+RSV3 set with 1002",
    steps: [{ frames: [{ opcode: OP.binary, payload: BIN8, rsv: 5 }] }],
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  },
  {
    id: "3.6",
    does: "fails a ping with RSV1+RSV2 set with 1002 (no pong)",
    steps: [{ frames: [{ opcode: OP.ping, payload: HELLO, rsv: 6 }] }],
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  },
  {
    id: "3.7",
    does: "fails a close frame with all RSV bits set with 1002",
    steps: [{ frames: [{ opcode: OP.close, payload: Uint8Array.of(0x03, 0xe8), rsv: 7 }] }],
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  },
];

// ---------------------------------------------------------------- 4 opcodes

function reservedOpcodeCases(group: 1 | 2, opcodes: number[]): Case[] {
  const kind = group === 1 ? "non-control" : "control";
  const [a, b, c, d, e] = opcodes;
  return [
    {
      id: `4.${group}.1`,
      does: `fails a frame with reserved ${kind} opcode ${a} with 1002`,
      steps: [{ frames: [{ opcode: a }] }],
      expect: [],
      outcome: { kind: "fail", code: 1002 },
    },
    {
      id: `4.${group}.2`,
      does: `fails a frame with reserved ${kind} opcode ${b} and a payload with 1002`,
      steps: [{ frames: [{ opcode: b, payload: "reserved opcode payload" }] }],
      expect: [],
      outcome: { kind: "fail", code: 1002 },
    },
    {
      id: `4.${group}.3`,
      does: `echoes a text, then fails reserved ${kind} opcode ${c} with 1002 (no pong after)`,
      steps: [{ frames: [{ opcode: OP.text, payload: HELLO }, { opcode: c }, { opcode: OP.ping }] }],
      expect: [{ type: "text", payload: HELLO }],
      outcome: { kind: "fail", code: 1002 },
    },
    {
      id: `4.${group}.4`,
      does: `echoes a text, then fails reserved ${kind} opcode ${d} with payload, sent frame-wise`,
      steps: [{
        frames: [
          { opcode: OP.text, payload: HELLO },
          { opcode: d, payload: "reserved opcode payload" },
          { opcode: OP.ping },
        ],
        frameWise: true,
        delayMs: 5,
      }],
      expect: [{ type: "text", payload: HELLO }],
      outcome: { kind: "fail", code: 1002 },
    },
    {
      id: `4.${group}.5`,
      does: `echoes a text, then fails reserved ${kind} opcode ${e} sent one byte per write`,
      steps: [{
        frames: [
          { opcode: OP.text, payload: HELLO },
          { opcode: e, payload: "reserved opcode payload" },
          { opcode: OP.ping },
        ],
        chop: "bytes",
      }],
      expect: [{ type: "text", payload: HELLO }],
      outcome: { kind: "fail", code: 1002 },
    },
  ];
}

/** Reserved opcodes fail the connection with 1002 (RFC 6455 §5.2). */
export const SECTION_4: Case[] = [
  ...reservedOpcodeCases(1, [3, 4, 5, 6, 7]),
  ...reservedOpcodeCases(2, [11, 12, 13, 14, 15]),
];

// ---------------------------------------------------------------- 5 fragmentation

const FRAG2 = [
  { opcode: OP.text, payload: "fragment1", fin: false },
  { opcode: OP.cont, payload: "fragment2" },
];
const FRAG2_PING = [
  { opcode: OP.text, payload: "fragment1", fin: false },
  { opcode: OP.ping, payload: "ping payload" },
  { opcode: OP.cont, payload: "fragment2" },
];
const STRAY_CONT_FIN = [
  { opcode: OP.cont, payload: "non-continuation payload" },
  { opcode: OP.text, payload: HELLO },
];
const STRAY_CONT = [
  { opcode: OP.cont, payload: "non-continuation payload", fin: false },
  { opcode: OP.text, payload: HELLO },
];

/** Three ways of sending the same frames: whole, one byte per write, one frame per write. */
function threeWays(
  first: number,
  frames: Step["frames"],
  does: string,
  rest: Pick<Case, "expect" | "outcome">,
): Case[] {
  return [
    { id: `5.${first}`, does, steps: [{ frames }], ...rest },
    {
      id: `5.${first + 1}`,
      does: `${does}, sent one byte per write`,
      steps: [{ frames, chop: "bytes" }],
      ...rest,
    },
    {
      id: `5.${first + 2}`,
      does: `${does}, sent frame-wise with pauses`,
      steps: [{ frames, frameWise: true, delayMs: 10 }],
      ...rest,
    },
  ];
}

const FIVE = Array.from({ length: 5 }, (_, i) => `fragment${i + 1}`);

function fiveFragmentsWithPings(delayMs: number, frameWise: boolean): Step[] {
  const frame = (i: number) => ({
    opcode: i === 0 ? OP.text : OP.cont,
    payload: FIVE[i],
    fin: i === 4,
  });
  // The 1 s pauses of the Autobahn case scaled down; each pong must come back
  // at once, while the message is still incomplete.
  return [
    { frames: [frame(0), frame(1)], frameWise, delayMs, quietMs: delayMs },
    { frames: [{ opcode: OP.ping, payload: "pongme 1!" }], replies: [{ type: "pong", payload: "pongme 1!" }] },
    { frames: [frame(2), frame(3)], frameWise, delayMs, quietMs: delayMs },
    { frames: [{ opcode: OP.ping, payload: "pongme 2!" }], replies: [{ type: "pong", payload: "pongme 2!" }] },
    { frames: [frame(4)] },
  ];
}

/** Fragmentation rules of RFC 6455 §5.4. */
export const SECTION_5: Case[] = [
  {
    id: "5.1",
    does: "fails a ping fragmented into 2 frames with 1002",
    steps: [{
      frames: [
        { opcode: OP.ping, payload: "fragment1", fin: false },
        { opcode: OP.cont, payload: "fragment2" },
      ],
    }],
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  },
  {
    id: "5.2",
    does: "fails a pong fragmented into 2 frames with 1002",
    steps: [{
      frames: [
        { opcode: OP.pong, payload: "fragment1", fin: false },
        { opcode: OP.cont, payload: "fragment2" },
      ],
    }],
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  },
  ...threeWays(3, FRAG2, "echoes a text message in 2 fragments as one message", {
    expect: [{ type: "text", payload: "fragment1fragment2" }],
    outcome: { kind: "echo" },
  }),
  ...threeWays(6, FRAG2_PING, "answers a ping between 2 text fragments, then echoes the message", {
    expect: [{ type: "pong", payload: "ping payload" }, {
      type: "text",
      payload: "fragment1fragment2",
    }],
    outcome: { kind: "echo" },
  }),
  ...threeWays(9, STRAY_CONT_FIN, "fails a final continuation frame with nothing to continue with 1002", {
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  }),
  ...threeWays(12, STRAY_CONT, "fails a non-final continuation frame with nothing to continue with 1002", {
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  }),
  {
    id: "5.15",
    does: "echoes a 2-fragment message, then fails a stray continuation after it with 1002",
    steps: [{
      frames: [
        { opcode: OP.text, payload: "fragment1", fin: false },
        { opcode: OP.cont, payload: "fragment2" },
        { opcode: OP.cont, payload: "fragment3", fin: false },
        { opcode: OP.text, payload: "fragment4" },
      ],
    }],
    expect: [{ type: "text", payload: "fragment1fragment2" }],
    outcome: { kind: "fail", code: 1002 },
  },
  {
    id: "5.16",
    does: "fails (continuation, text, continuation) sent twice at the first frame with 1002",
    steps: [{
      frames: [0, 1].flatMap(() => [
        { opcode: OP.cont, payload: "fragment1", fin: false },
        { opcode: OP.text, payload: "fragment2", fin: false },
        { opcode: OP.cont, payload: "fragment3" },
      ]),
    }],
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  },
  {
    id: "5.17",
    does: "fails (final continuation, text, continuation) sent twice at the first frame with 1002",
    steps: [{
      frames: [0, 1].flatMap(() => [
        { opcode: OP.cont, payload: "fragment1" },
        { opcode: OP.text, payload: "fragment2", fin: false },
        { opcode: OP.cont, payload: "fragment3" },
      ]),
    }],
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  },
  {
    id: "5.18",
    does: "fails a second text frame inside a fragmented message with 1002",
    steps: [{
      frames: [
        { opcode: OP.text, payload: "fragment1", fin: false },
        { opcode: OP.text, payload: "fragment2" },
      ],
    }],
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  },
  {
    id: "5.19",
    does: "answers pings between 5 paused text fragments at once, then echoes the message",
    steps: fiveFragmentsWithPings(20, false),
    expect: [{ type: "text", payload: FIVE.join("") }],
    outcome: { kind: "echo" },
  },
  {
    id: "5.20",
    does: "answers pings between 5 text fragments sent frame-wise with pauses, then echoes",
    steps: fiveFragmentsWithPings(20, true),
    expect: [{ type: "text", payload: FIVE.join("") }],
    outcome: { kind: "echo" },
  },
];
