import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FrameReader } from "../../../src/core/ws/frame_reader.ts";
import { FrameWriter } from "../../../src/core/ws/frame_writer.ts";
import { ProtocolError } from "../../../src/core/errors.ts";
import { chunkings, decodePieces, hex } from "../../_helpers/ws_frames.ts";
import { concat, prng, randomInt } from "../../_helpers/prng.ts";
import type { Message } from "../../../src/core/ws/message.ts";

type Role = "client" | "server";

/** Asserts `bytes` decode to `expected` in every chunking. */
function expectMessages(
  role: Role,
  bytes: Uint8Array,
  expected: Message[],
  maxMessageSize?: number,
) {
  for (const [name, pieces, via] of chunkings(bytes)) {
    const { messages, error } = decodePieces({ role, maxMessageSize }, pieces, via);
    assert.equal(error, null, `${name}: unexpected ${error?.code}`);
    assert.deepEqual(messages, expected, name);
  }
}

/** Asserts `bytes` fail with `code`/`closeCode` in every chunking, after `before` messages. */
function expectError(
  role: Role,
  bytes: Uint8Array,
  code: string,
  closeCode: number,
  opts: { before?: number; maxMessageSize?: number; maxFragments?: number } = {},
) {
  for (const [name, pieces, via] of chunkings(bytes)) {
    const { messages, error } = decodePieces(
      { role, maxMessageSize: opts.maxMessageSize, maxFragments: opts.maxFragments },
      pieces,
      via,
    );
    assert.ok(error instanceof ProtocolError, `${name}: expected ${code}, got no error`);
    assert.equal(error.code, code, name);
    assert.equal(error.closeCode, closeCode, name);
    assert.equal(messages.length, opts.before ?? 0, name);
  }
}

const te = new TextEncoder();
const text = (s: string): Message => ({ type: "text", text: s, data: te.encode(s) });

describe("FrameReader", () => {
  test("decodes the RFC 6455 §5.7 examples in every chunking", () => {
    expectMessages("client", hex("81 05 48656c6c6f"), [text("Hello")]);
    expectMessages("server", hex("81 85 37fa213d 7f9f4d5158"), [text("Hello")]);
    expectMessages("client", hex("01 03 48656c  80 02 6c6f"), [text("Hello")]);
    expectMessages("client", hex("89 05 48656c6c6f"), [{ type: "ping", data: te.encode("Hello") }]);
    expectMessages("server", hex("8a 85 37fa213d 7f9f4d5158"), [{
      type: "pong",
      data: te.encode("Hello"),
    }]);
    const b256 = new Uint8Array(256).map((_, i) => i);
    expectMessages("client", concat([hex("82 7e 0100"), b256]), [{ type: "binary", data: b256 }]);
    const b64k = new Uint8Array(65536).map((_, i) => i * 31);
    expectMessages("client", concat([hex("82 7f 0000000000010000"), b64k]), [{
      type: "binary",
      data: b64k,
    }]);
  });

  test("returns control frames interleaved in a fragmented message (RFC 6455 §5.4)", () => {
    const bytes = hex("01 03 48656c  89 02 6869  00 01 6c  8a 00  80 01 6f  82 00");
    expectMessages("client", bytes, [
      { type: "ping", data: te.encode("hi") },
      { type: "pong", data: new Uint8Array(0) },
      text("Hello"),
      { type: "binary", data: new Uint8Array(0) },
    ]);
  });

  test("reassembles masked fragments in every chunking", () => {
    const w = new FrameWriter({ role: "client", maxFrameSize: 7 });
    const payload = new Uint8Array(100).map((_, i) => i);
    const s = "ünïcödé ☃ 𝄞 text split across fragments";
    const bytes = concat([w.binary(payload), w.text(s), w.ping(te.encode("p"))]);
    expectMessages("server", bytes, [{ type: "binary", data: payload }, text(s), {
      type: "ping",
      data: te.encode("p"),
    }]);
  });

  test("decodes close frames: empty (1005), code only, code and reason", () => {
    expectMessages("client", hex("88 00"), [{ type: "close", code: 1005, reason: "" }]);
    expectMessages("client", hex("88 02 03e8"), [{ type: "close", code: 1000, reason: "" }]);
    expectMessages("client", concat([hex("88 05 03e9"), te.encode("bye")]), [{
      type: "close",
      code: 1001,
      reason: "bye",
    }]);
  });

  test("accepts every close code valid on the wire (RFC 6455 §7.4)", () => {
    for (
      const code of [
        1000,
        1001,
        1002,
        1003,
        1007,
        1008,
        1009,
        1010,
        1011,
        1012,
        1013,
        1014,
        3000,
        3999,
        4000,
        4999,
      ]
    ) {
      const bytes = hex(`88 02 ${code.toString(16).padStart(4, "0")}`);
      expectMessages("client", bytes, [{ type: "close", code, reason: "" }]);
    }
  });

  test("rejects reserved and invalid close codes with 1002", () => {
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
      expectError(
        "client",
        hex(`88 02 ${code.toString(16).padStart(4, "0")}`),
        "WS_INVALID_CLOSE_CODE",
        1002,
      );
    }
  });

  test("rejects a close payload of 1 byte with 1002 (RFC 6455 §5.5.1)", () => {
    expectError("client", hex("88 01 03"), "WS_CLOSE_PAYLOAD_LENGTH", 1002);
  });

  test("rejects an invalid UTF-8 close reason with 1007", () => {
    expectError("client", hex("88 04 03e8 c0af"), "WS_INVALID_UTF8", 1007);
  });

  test("ignores bytes after a close frame", () => {
    const r = new FrameReader({ role: "client" });
    r.push(hex("88 02 03e8 81 01 41 ff ff ff"));
    assert.deepEqual(r.next(), { type: "close", code: 1000, reason: "" });
    assert.equal(r.next(), null);
    assert.equal(r.closed, true);
  });

  test("rejects RSV bits without a negotiated extension (RFC 6455 §5.2)", () => {
    expectError("client", hex("c1 01 41"), "WS_RSV_BITS", 1002);
    expectError("client", hex("a1 01 41"), "WS_RSV_BITS", 1002);
    expectError("client", hex("91 01 41"), "WS_RSV_BITS", 1002);
    expectError("client", hex("81 01 41 f1 01 41"), "WS_RSV_BITS", 1002, { before: 1 });
  });

  test("rejects reserved opcodes", () => {
    for (const op of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
      expectError("client", hex(`8${op.toString(16)} 00`), "WS_RESERVED_OPCODE", 1002);
    }
  });

  test("rejects control frames over 125 bytes and fragmented control frames (RFC 6455 §5.5)", () => {
    expectError(
      "client",
      concat([hex("89 7e 007e"), new Uint8Array(126)]),
      "WS_CONTROL_TOO_LONG",
      1002,
    );
    expectError("client", hex("88 7f 0000000000000002 03e8"), "WS_CONTROL_TOO_LONG", 1002);
    expectError("client", hex("09 00"), "WS_FRAGMENTED_CONTROL", 1002);
    expectError("client", hex("08 02 03e8"), "WS_FRAGMENTED_CONTROL", 1002);
  });

  test("rejects a continuation without a start and a data frame inside a fragmented message (RFC 6455 §5.4)", () => {
    expectError("client", hex("80 01 41"), "WS_UNEXPECTED_CONTINUATION", 1002);
    expectError("client", hex("00 01 41"), "WS_UNEXPECTED_CONTINUATION", 1002);
    expectError("client", hex("01 01 41 81 01 42"), "WS_EXPECTED_CONTINUATION", 1002);
    expectError("client", hex("02 01 41 02 01 42"), "WS_EXPECTED_CONTINUATION", 1002);
    expectError("client", hex("81 01 41 80 01 42"), "WS_UNEXPECTED_CONTINUATION", 1002, {
      before: 1,
    });
  });

  test("rejects wrong masking for the role (RFC 6455 §5.1)", () => {
    expectError("server", hex("81 01 41"), "WS_UNMASKED_CLIENT_FRAME", 1002);
    expectError("client", hex("81 81 00000000 41"), "WS_MASKED_SERVER_FRAME", 1002);
  });

  test("rejects a 64-bit length with the top bit set", () => {
    expectError("client", hex("82 7f 8000000000000000"), "WS_LENGTH_TOP_BIT", 1002);
  });

  test("rejects an oversized message from its header, before buffering the payload (1009)", () => {
    // Only the 4-byte header is fed: the error must come without any payload.
    expectError("client", hex("82 7e 0400"), "WS_MESSAGE_TOO_BIG", 1009, { maxMessageSize: 1000 });
    expectError("client", hex("82 7f 0000001000000000"), "WS_MESSAGE_TOO_BIG", 1009);
    // Fragments under the limit each, over it together.
    const frag = (op: string, fin: boolean) =>
      concat([hex(`${fin ? "8" : "0"}${op} 7e 0190`), new Uint8Array(400)]);
    expectError(
      "client",
      concat([frag("2", false), frag("0", false), frag("0", true)]),
      "WS_MESSAGE_TOO_BIG",
      1009,
      { maxMessageSize: 1000 },
    );
    // Exactly at the limit is fine.
    expectMessages("client", concat([hex("82 7e 03e8"), new Uint8Array(1000)]), [{
      type: "binary",
      data: new Uint8Array(1000),
    }], 1000);
  });

  test("rejects invalid UTF-8 in text with 1007, also split across fragments", () => {
    expectError("client", hex("81 02 c080"), "WS_INVALID_UTF8", 1007);
    expectError("client", hex("81 03 eda080"), "WS_INVALID_UTF8", 1007); // surrogate
    expectError("client", hex("81 04 f4908080"), "WS_INVALID_UTF8", 1007); // > U+10FFFF
    expectError("client", hex("81 01 e2"), "WS_INVALID_UTF8", 1007); // ends inside a sequence
    expectError("client", hex("01 01 e2 80 01 82"), "WS_INVALID_UTF8", 1007); // fragmented, ends inside
    expectError("client", hex("01 01 ce 80 01 41"), "WS_INVALID_UTF8", 1007); // bad continuation in next fragment
    // A sequence split between fragments is fine: € = e2 82 ac.
    expectMessages("client", hex("01 01 e2 00 01 82 80 01 ac"), [text("€")]);
  });

  test("fails fast on invalid UTF-8 before the rest of the message arrives (RFC 6455 §8.1)", () => {
    // A 1000-byte text frame whose 3rd byte is invalid: only 10 bytes have arrived.
    const r = new FrameReader({ role: "client" });
    const head = concat([hex("81 7e 03e8"), hex("41 41 ff 41 41 41 41 41 41 41")]);
    r.push(head);
    assert.throws(
      () => r.next(),
      (e: unknown) => e instanceof ProtocolError && e.closeCode === 1007,
    );
    // Same across fragments: the first fragment is complete, the bad byte opens the second one.
    const f = new FrameReader({ role: "server" });
    const w = new FrameWriter({ role: "client" });
    f.push(concat([hex("01 81 00000000 41"), hex("00 fe 03e8 00000000 f8")]));
    assert.throws(
      () => f.next(),
      (e: unknown) => e instanceof ProtocolError && e.code === "WS_INVALID_UTF8",
    );
    assert.ok(w);
  });

  test("after an error every call throws the same error", () => {
    const r = new FrameReader({ role: "client" });
    r.push(hex("83 00"));
    let first: unknown;
    try {
      r.next();
    } catch (e) {
      first = e;
    }
    assert.ok(first instanceof ProtocolError);
    assert.throws(() => r.next(), (e) => e === first);
    assert.throws(() => r.push(hex("81 00")), (e) => e === first);
    assert.throws(() => r.spare(), (e) => e === first);
  });

  test("caps fragments per message; a flood of empty fragments costs no memory (ws 8.21.0 DoS)", () => {
    const r = new FrameReader({ role: "client", maxFragments: 100, bufferCapacity: 1024 });
    r.push(hex("02 00"));
    assert.equal(r.next(), null);
    let error: unknown;
    const empty = hex("00 00");
    for (let i = 0; i < 10_000 && !error; i++) {
      try {
        r.push(empty);
        r.next();
      } catch (e) {
        error = e;
      }
      assert.ok(r.buffered <= 2, "empty fragments must not accumulate");
    }
    assert.ok(error instanceof ProtocolError);
    assert.equal(error.code, "WS_TOO_MANY_FRAGMENTS");
    assert.equal(error.closeCode, 1009);
  });

  test("pings between fragments do not grow the buffer", () => {
    const r = new FrameReader({ role: "client", bufferCapacity: 4096 });
    r.push(hex("01 01 41"));
    assert.equal(r.next(), null);
    const ping = concat([hex("89 7d"), new Uint8Array(125)]);
    for (let i = 0; i < 5000; i++) {
      const space = r.spare();
      assert.ok(space.length < 1 << 20, "buffer stays small");
      space.set(ping);
      r.filled(ping.length);
      assert.equal(r.next()?.type, "ping");
    }
    r.push(hex("80 01 42"));
    assert.deepEqual(r.next(), text("AB"));
  });

  test("a large unmasked frame pushed whole is returned without copying its payload", () => {
    const payload = new Uint8Array(1 << 20).fill(7);
    const frame = concat([hex("82 7f 0000000000100000"), payload]);
    const r = new FrameReader({ role: "client" });
    r.push(frame);
    const m = r.next();
    assert.ok(m?.type === "binary");
    assert.equal(m.data.buffer, frame.buffer, "payload is a view of the pushed chunk");
    assert.equal(m.data.byteOffset, 10);
    assert.equal(m.data.length, 1 << 20);
  });

  test("chunks that cut frames anywhere decode intact; after a cut frame, whole frames in the next chunk are not copied", () => {
    for (const role of ["client", "server"] as const) {
      const rand = prng(role === "client" ? 7 : 8);
      const writer = new FrameWriter({ role: role === "client" ? "server" : "client" });
      const frames: Uint8Array[] = [];
      const expected: Message[] = [];
      for (let i = 0; i < 120; i++) {
        const kind = randomInt(rand, 0, 9);
        if (kind === 0) {
          const data = new Uint8Array(randomInt(rand, 0, 125)).map((_, j) => j);
          frames.push(writer.ping(data));
          expected.push({ type: "ping", data });
        } else if (kind === 1) {
          // A fragmented message: its parts are joined in the reader's buffer.
          const data = new Uint8Array(randomInt(rand, 2, 20_000)).map((_, j) => j * 3);
          const maxFrameSize = randomInt(rand, Math.ceil(data.length / 8), data.length - 1);
          frames.push(new FrameWriter({ role: role === "client" ? "server" : "client", maxFrameSize }).binary(data));
          expected.push({ type: "binary", data });
        } else {
          const data = new Uint8Array(randomInt(rand, 0, 100_000)).map((_, j) => j * 7 + i);
          frames.push(writer.binary(data));
          expected.push({ type: "binary", data });
        }
      }
      const stream = concat(frames);
      const reader = new FrameReader({ role });
      const got: Message[] = [];
      let inPlace = 0;
      for (let at = 0; at < stream.length;) {
        const n = Math.min(stream.length - at, randomInt(rand, 4096, 150_000));
        const chunk = stream.slice(at, at + n);
        at += n;
        reader.push(chunk);
        for (let m = reader.next(); m !== null; m = reader.next()) {
          if ((m.type === "binary" || m.type === "ping") && m.data.length > 0 && m.data.buffer === chunk.buffer) inPlace++;
          got.push(m.type === "binary" || m.type === "ping" ? { type: m.type, data: m.data.slice() } : m);
        }
      }
      assert.equal(got.length, expected.length, role);
      for (let i = 0; i < expected.length; i++) assert.deepEqual(got[i], expected[i], `${role}: message ${i}`);
      assert.equal(reader.buffered, 0);
      assert.ok(inPlace > expected.length / 3, `${role}: only ${inPlace} messages were parsed in place`);
    }
  });

  test("a small pushed chunk is copied into the reader; from 1 KiB on a chunk is parsed where it is", () => {
    for (const [size, borrowed] of [[100, false], [1019, false], [1020, true], [5000, true]] as const) {
      const payload = new Uint8Array(size).map((_, i) => i * 13);
      const chunk = new FrameWriter({ role: "server" }).binary(payload).slice();
      const r = new FrameReader({ role: "client" });
      r.push(chunk);
      const m = r.next();
      assert.ok(m?.type === "binary");
      assert.deepEqual(m.data, payload);
      assert.equal(m.data.buffer === chunk.buffer, borrowed, `${chunk.length}-byte chunk`);
    }
  });

  test("spare() grows geometrically: a header alone does not allocate the announced size", () => {
    const r = new FrameReader({ role: "client", bufferCapacity: 4096 });
    r.push(hex("82 7f 0000000003000000")); // announces 48 MiB
    assert.equal(r.next(), null);
    assert.ok(r.spare().length <= 16384, "spare stays proportional to what arrived");
  });

  test("reading through spare()/filled() in small pieces keeps messages intact", () => {
    const w = new FrameWriter({ role: "server" });
    const parts: Uint8Array[] = [];
    const expected: Message[] = [];
    for (let i = 0; i < 200; i++) {
      const data = new Uint8Array(i * 37).map((_, j) => j + i);
      parts.push(w.binary(data));
      expected.push({ type: "binary", data });
    }
    const all = concat(parts);
    const r = new FrameReader({ role: "client", bufferCapacity: 256 });
    const got: Message[] = [];
    for (let off = 0; off < all.length;) {
      const space = r.spare();
      const n = Math.min(space.length, 97, all.length - off);
      space.set(all.subarray(off, off + n));
      r.filled(n);
      off += n;
      for (let m = r.next(); m; m = r.next()) {
        got.push(m.type === "binary" ? { type: "binary", data: m.data.slice() } : m);
      }
      if (off % 3 === 0) r.compact();
    }
    assert.deepEqual(got, expected);
  });

  test("validates its options", () => {
    assert.throws(() => new FrameReader({ role: "peer" as Role }), TypeError);
    assert.throws(
      () => new FrameReader({ role: "client", maxMessageSize: -1 }),
      /maxMessageSize must be a positive integer: got -1/,
    );
    assert.throws(() => new FrameReader({ role: "client", bufferCapacity: 1.5 }), RangeError);
    assert.throws(() => new FrameReader({ role: "client", maxFragments: 0 }), RangeError);
    const r = new FrameReader({ role: "client" });
    assert.throws(() => r.filled(1 << 30), RangeError);
  });
});
