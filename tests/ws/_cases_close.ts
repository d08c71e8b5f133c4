/**
 * Conformance cases for Autobahn TestSuite section 7 (close handling), from
 * the public case descriptions and RFC 6455 §5.5.1, §7.1 and §7.4.
 *
 * @module
 */
import { closePayload, OP } from "../_helpers/raw_peer.ts";
import type { Case } from "./_conformance.ts";
import { h } from "./_cases_utf8.ts";

const HELLO = "Hello World!";
const close = (code: number, reason: string | Uint8Array = "") => ({
  opcode: OP.close,
  payload: closePayload(code, reason),
});
const reply = (sentCode: number, codes = [sentCode]) => ({ kind: "reply", sentCode, codes }) as const;

/** 7.1.x: the close handshake, and what follows a close frame (ignored). */
export const SECTION_7_1: Case[] = [
  {
    id: "7.1.1",
    does: "echoes a text, then answers the close with 1000",
    steps: [{ frames: [{ opcode: OP.text, payload: HELLO }, close(1000)] }],
    expect: [{ type: "text", payload: HELLO }],
    outcome: reply(1000),
  },
  {
    id: "7.1.2",
    does: "answers a close once and ignores a second close",
    steps: [{ frames: [close(1000), close(1000)] }],
    expect: [],
    outcome: reply(1000),
  },
  {
    id: "7.1.3",
    does: "sends no pong for a ping after the close",
    steps: [{ frames: [close(1000), { opcode: OP.ping, payload: HELLO }] }],
    expect: [],
    outcome: reply(1000),
  },
  {
    id: "7.1.4",
    does: "does not echo a text sent after the close",
    steps: [{ frames: [close(1000), { opcode: OP.text, payload: HELLO }] }],
    expect: [],
    outcome: reply(1000),
  },
  {
    id: "7.1.5",
    does: "drops a message left unfinished by the close (the continuation after it is ignored)",
    steps: [{
      frames: [
        { opcode: OP.text, payload: "fragment1", fin: false },
        close(1000),
        { opcode: OP.cont, payload: "fragment2" },
      ],
    }],
    expect: [],
    outcome: reply(1000),
  },
  {
    id: "7.1.6",
    does: "echoes a 256 KiB text and a short one sent with a close and a ping, without a pong",
    steps: [{
      frames: [
        { opcode: OP.text, payload: "BAsd7&jh23".repeat(26215).slice(0, 256 * 1024) },
        { opcode: OP.text, payload: HELLO },
        close(1000),
        { opcode: OP.ping },
      ],
    }],
    expect: [
      { type: "text", payload: "BAsd7&jh23".repeat(26215).slice(0, 256 * 1024) },
      { type: "text", payload: HELLO },
    ],
    outcome: reply(1000),
  },
];

/** 7.3.x and 7.5.1: close frame payloads (RFC 6455 §5.5.1). */
export const SECTION_7_3: Case[] = [
  {
    id: "7.3.1",
    does: "answers an empty close frame with an empty close",
    steps: [{ frames: [{ opcode: OP.close }] }],
    expect: [],
    outcome: reply(1005, [1005, 1000]),
  },
  {
    id: "7.3.2",
    does: "fails a close frame with a 1-byte payload with 1002",
    steps: [{ frames: [{ opcode: OP.close, payload: Uint8Array.of(0x03) }] }],
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  },
  {
    id: "7.3.3",
    does: "answers close 1000 without reason with 1000",
    steps: [{ frames: [close(1000)] }],
    expect: [],
    outcome: reply(1000),
  },
  {
    id: "7.3.4",
    does: "answers close 1000 with a reason with 1000",
    steps: [{ frames: [close(1000, HELLO)] }],
    expect: [],
    outcome: reply(1000),
  },
  {
    id: "7.3.5",
    does: "answers close 1000 with a 123-byte reason (the maximum) with 1000",
    steps: [{ frames: [close(1000, "*".repeat(123))] }],
    expect: [],
    outcome: reply(1000),
  },
  {
    id: "7.3.6",
    does: "fails a close frame with a 126-byte payload (124-byte reason) with 1002",
    steps: [{ frames: [close(1000, "*".repeat(124))] }],
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  },
  {
    id: "7.5.1",
    does: "fails a close frame whose reason is invalid UTF-8 with 1007",
    steps: [{ frames: [close(1000, h("ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64"))] }],
    expect: [],
    outcome: { kind: "fail", code: 1007 },
  },
];

/** Close codes valid on the wire (RFC 6455 §7.4.1, IANA registry, 3000–4999): echoed. */
export const VALID_CODES = [
  1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
];
/** Close codes never valid on the wire (7.9.x, and 7.13.x where Autobahn leaves it open). */
export const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

/** 7.7.x: a valid code is answered with the same code; 7.9.x / 7.13.x: an invalid one fails with 1002. */
export const SECTION_7_CODES: Case[] = [
  ...VALID_CODES.map((code, i): Case => ({
    id: `7.7.${i + 1}`,
    does: `answers close ${code} with ${code} (a valid code, echoed)`,
    steps: [{ frames: [close(code)] }],
    expect: [],
    outcome: reply(code, [code, 1000]),
  })),
  ...INVALID_CODES.map((code, i): Case => ({
    id: code >= 5000 ? `7.13.${code === 5000 ? 1 : 2}` : `7.9.${i + 1}`,
    does: `fails a close frame with invalid code ${code} with 1002`,
    steps: [{ frames: [close(code)] }],
    expect: [],
    outcome: { kind: "fail", code: 1002 },
  })),
];
