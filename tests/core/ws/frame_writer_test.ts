import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FrameReader } from "../../../src/core/ws/frame_reader.ts";
import { FrameWriter } from "../../../src/core/ws/frame_writer.ts";
import { WriteBuf } from "../../../src/core/ws/write_buf.ts";
import { chunkings, decodePieces, hex } from "../../_helpers/ws_frames.ts";
import { concat, prng, randomInt } from "../../_helpers/prng.ts";

const te = new TextEncoder();
/** A key source that always yields the RFC 6455 §5.7 example key 37 fa 21 3d. */
const rfcKey = (b: Uint8Array) => {
  for (let i = 0; i < b.length; i += 4) b.set([0x37, 0xfa, 0x21, 0x3d], i);
};

describe("FrameWriter", () => {
  test("encodes the RFC 6455 §5.7 examples byte for byte", () => {
    const server = new FrameWriter({ role: "server" });
    const client = new FrameWriter({ role: "client", random: rfcKey });
    assert.deepEqual(server.text("Hello"), hex("81 05 48656c6c6f"));
    assert.deepEqual(client.text("Hello"), hex("81 85 37fa213d 7f9f4d5158"));
    assert.deepEqual(server.ping(te.encode("Hello")), hex("89 05 48656c6c6f"));
    assert.deepEqual(client.pong(te.encode("Hello")), hex("8a 85 37fa213d 7f9f4d5158"));
    const b256 = new Uint8Array(256).map((_, i) => i);
    assert.deepEqual(server.binary(b256), concat([hex("82 7e 0100"), b256]));
    const b64k = new Uint8Array(65536).map((_, i) => i);
    assert.deepEqual(server.binary(b64k), concat([hex("82 7f 0000000000010000"), b64k]));
    const frag = new FrameWriter({ role: "server", maxFrameSize: 3 });
    assert.deepEqual(frag.text("Hello"), hex("01 03 48656c 80 02 6c6f"));
  });

  test("round-trips sizes 0, 125, 126, 65535, 65536 and 1 MiB in both roles and random chunkings", () => {
    const rand = prng(42);
    for (const role of ["client", "server"] as const) {
      const writer = new FrameWriter({ role });
      const readerRole = role === "client" ? "server" : "client";
      for (const size of [0, 1, 125, 126, 127, 65535, 65536, 1 << 20]) {
        const data = new Uint8Array(size).map(() => randomInt(rand, 0, 255));
        const bytes = writer.binary(data);
        const seeds = size >= 65535 ? [7] : [7, 8, 9];
        for (const [name, pieces, via] of chunkings(bytes, seeds)) {
          if (size === 1 << 20 && name === "byte by byte") continue; // covered for 65536; 1M single bytes adds minutes, not coverage
          const { messages, error } = decodePieces({ role: readerRole }, pieces, via);
          assert.equal(error, null, `${role} ${size} ${name}`);
          assert.equal(messages.length, 1);
          assert.deepEqual(messages[0], { type: "binary", data }, `${role} ${size} ${name}`);
        }
      }
    }
  });

  test("round-trips text of every size class, including non-BMP and lone surrogates", () => {
    const samples = [
      "",
      "a",
      "é",
      "€",
      "𝄞",
      "a".repeat(125),
      "ü".repeat(63),
      "☃".repeat(2000),
      "x".repeat(70000),
      "lone \ud800 surrogate",
    ];
    for (const role of ["client", "server"] as const) {
      const writer = new FrameWriter({ role });
      for (const s of samples) {
        const bytes = writer.text(s);
        const { messages, error } = decodePieces(
          { role: role === "client" ? "server" : "client" },
          [bytes],
        );
        assert.equal(error, null);
        const expected = new TextDecoder().decode(te.encode(s));
        assert.equal(messages[0].type === "text" && messages[0].text, expected);
      }
    }
  });

  test("fragments by maxFrameSize and the reader reassembles in every chunking", () => {
    const writer = new FrameWriter({ role: "client", maxFrameSize: 1000 });
    const data = new Uint8Array(4500).map((_, i) => i % 251);
    const bytes = writer.binary(data);
    assert.equal(bytes.length, 5 * (4 + 4) + 4500); // 5 frames, each a 16-bit length and a mask key
    assert.equal(bytes[0], 0x02);
    for (const [name, pieces, via] of chunkings(bytes)) {
      const { messages } = decodePieces({ role: "server" }, pieces, via);
      assert.deepEqual(messages, [{ type: "binary", data }], name);
    }
  });

  test("fetches mask keys in batches, not once per frame", () => {
    let calls = 0;
    const writer = new FrameWriter({
      role: "client",
      random: (b) => {
        calls++;
        crypto.getRandomValues(b);
      },
    });
    for (let i = 0; i < 1000; i++) writer.text("x");
    assert.equal(calls, 1);
    for (let i = 0; i < 1000; i++) writer.text("x");
    assert.equal(calls, 2);
  });

  test("uses a fresh mask key per frame", () => {
    const writer = new FrameWriter({ role: "client" });
    const keys = new Set<string>();
    for (let i = 0; i < 200; i++) {
      keys.add(writer.binary(new Uint8Array(4)).subarray(2, 6).join(","));
    }
    assert.ok(keys.size > 190);
  });

  test("returned frames are independent: later frames never overwrite earlier ones", () => {
    const writer = new FrameWriter({ role: "server" });
    const a = writer.text("first");
    const copy = a.slice();
    for (let i = 0; i < 20_000; i++) writer.binary(new Uint8Array(13).fill(0xee));
    assert.deepEqual(a, copy);
  });

  test("does not modify the caller's payload when masking", () => {
    const writer = new FrameWriter({ role: "client" });
    const data = new Uint8Array(300).fill(9);
    writer.binary(data);
    assert.ok(data.every((b) => b === 9));
  });

  test("frameInto writes the header in front of the payload without copying it", () => {
    for (const role of ["client", "server"] as const) {
      const writer = new FrameWriter({ role });
      for (const size of [0, 10, 200, 70_000]) {
        const buf = new WriteBuf(16);
        const payload = new Uint8Array(size).map((_, i) => i * 3);
        buf.write(payload);
        const frame = writer.frameInto(buf, "binary");
        assert.equal(frame.buffer, buf.bytes.buffer, "a view of the WriteBuf");
        const { messages } = decodePieces({ role: role === "client" ? "server" : "client" }, [
          frame,
        ]);
        assert.deepEqual(messages, [{ type: "binary", data: payload }]);
      }
      const tb = new WriteBuf();
      tb.writeText('{"op":"sub"}');
      const { messages } = decodePieces({ role: role === "client" ? "server" : "client" }, [
        writer.frameInto(tb, "text"),
      ]);
      assert.equal(messages[0].type === "text" && messages[0].text, '{"op":"sub"}');
    }
  });

  test("header() gives a server the header alone for a vectored write", () => {
    const server = new FrameWriter({ role: "server" });
    const payload = new Uint8Array(70_000).fill(1);
    const r = new FrameReader({ role: "client" });
    r.push(server.header("binary", payload.length));
    r.push(payload);
    assert.deepEqual(r.next(), { type: "binary", data: payload });
    assert.throws(() => new FrameWriter({ role: "client" }).header("binary", 1), TypeError);
  });

  test("rejects control payloads over 125 bytes, invalid close codes and long reasons", () => {
    const w = new FrameWriter({ role: "server" });
    assert.throws(() => w.ping(new Uint8Array(126)), /at most 125 bytes/);
    assert.throws(() => w.pong(new Uint8Array(200)), RangeError);
    assert.throws(() => w.close(1005), /close code must be/);
    assert.throws(() => w.close(999), RangeError);
    assert.throws(() => w.close(1000, "x".repeat(124)), /at most 123 UTF-8 bytes/);
    assert.throws(() => w.close(undefined, "why"), TypeError);
    assert.deepEqual(w.close(), hex("88 00"));
    assert.deepEqual(w.close(1000, "x".repeat(123)).length, 2 + 2 + 123);
    assert.throws(
      () => new FrameWriter({ role: "server", maxFrameSize: 0 }),
      /maxFrameSize must be a positive integer: got 0/,
    );
  });
  test("appendFrame/appendText batch many frames into one WriteBuf that decodes in order", () => {
    for (const role of ["client", "server"] as const) {
      const writer = new FrameWriter({ role });
      const batch = new WriteBuf(8);
      const expected = [];
      const rand = prng(role === "client" ? 1 : 2);
      for (let i = 0; i < 300; i++) {
        const kind = randomInt(rand, 0, 3);
        if (kind === 0) {
          const data = new Uint8Array(randomInt(rand, 0, 70_000 >> randomInt(rand, 0, 10))).map((
            _,
            j,
          ) => j ^ i);
          writer.appendFrame(batch, "binary", data);
          expected.push({ type: "binary", data });
        } else if (kind === 1) {
          const s = "é€𝄞x".repeat(randomInt(rand, 0, 60)) + "a".repeat(randomInt(rand, 0, 200));
          writer.appendText(batch, s);
          expected.push({ type: "text", text: s, data: te.encode(s) });
        } else if (kind === 2) {
          const data = new Uint8Array(randomInt(rand, 0, 125)).fill(i & 0xff);
          writer.appendFrame(batch, "ping", data);
          expected.push({ type: "ping", data });
        } else {
          writer.appendText(batch, "");
          expected.push({ type: "text", text: "", data: new Uint8Array(0) });
        }
      }
      const { messages, error } = decodePieces({ role: role === "client" ? "server" : "client" }, [
        batch.payload(),
      ]);
      assert.equal(error, null);
      assert.deepEqual(messages, expected);
    }
    assert.throws(
      () =>
        new FrameWriter({ role: "server" }).appendFrame(
          new WriteBuf(),
          "ping",
          new Uint8Array(126),
        ),
      RangeError,
    );
  });
});
