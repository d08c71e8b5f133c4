import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FrameReader } from "../../../src/core/ws/frame_reader.ts";
import { FrameWriter } from "../../../src/core/ws/frame_writer.ts";
import { ProtocolError } from "../../../src/core/errors.ts";
import { concat, prng, randomInt, randomSplits } from "../../_helpers/prng.ts";

const MAX_MESSAGE = 4096;

/**
 * Feeds `bytes` in random pieces; the only allowed outcomes are messages,
 * `null`, or a ProtocolError. Returns how it ended. Bounded: each `next()`
 * either consumes bytes or returns null, so the inner loop cannot spin.
 */
function feed(role: "client" | "server", bytes: Uint8Array, rand: () => number): "ok" | "error" {
  const reader = new FrameReader({
    role,
    maxMessageSize: MAX_MESSAGE,
    maxFragments: 16,
    bufferCapacity: 64,
  });
  try {
    for (const piece of randomSplits(bytes, rand)) {
      reader.push(piece.slice());
      for (let n = 0; n <= bytes.length; n++) {
        if (reader.next() === null) break;
      }
      // Memory stays bounded by the limits, whatever the input.
      assert.ok(reader.buffered <= bytes.length);
      assert.ok(reader.spare().length <= 4 * (MAX_MESSAGE + 64) + 8192);
    }
    return "ok";
  } catch (e) {
    if (e instanceof ProtocolError) {
      assert.ok([1002, 1007, 1009].includes(e.closeCode), `close code ${e.closeCode}`);
      return "error";
    }
    throw e;
  }
}

describe("FrameReader fuzz", () => {
  test("random bytes: only messages or ProtocolError, nothing else, bounded memory", () => {
    const rand = prng(2024);
    const seen = { ok: 0, error: 0 };
    for (let i = 0; i < 3000; i++) {
      const bytes = new Uint8Array(randomInt(rand, 0, 300)).map(() => randomInt(rand, 0, 255));
      seen[feed(i % 2 === 0 ? "client" : "server", bytes, rand)]++;
    }
    assert.ok(seen.error > 1000, `most random input is rejected (${seen.error})`);
  });

  test("mutated valid streams: only messages or ProtocolError", () => {
    const rand = prng(77);
    const seen = { ok: 0, error: 0 };
    for (let i = 0; i < 2000; i++) {
      const role = i % 2 === 0 ? "client" : "server";
      const writer = new FrameWriter({
        role: role === "client" ? "server" : "client",
        maxFrameSize: randomInt(rand, 1, 200),
      });
      const parts: Uint8Array[] = [];
      for (let j = randomInt(rand, 1, 6); j > 0; j--) {
        const kind = randomInt(rand, 0, 3);
        if (kind === 0) parts.push(writer.text("héllo wörld ".repeat(randomInt(rand, 0, 30))));
        else if (kind === 1) parts.push(writer.binary(new Uint8Array(randomInt(rand, 0, 600))));
        else if (kind === 2) parts.push(writer.ping(new Uint8Array(randomInt(rand, 0, 125))));
        else parts.push(writer.close(1000, "bye"));
      }
      const bytes = concat(parts);
      for (let flips = randomInt(rand, 0, 4); flips > 0 && bytes.length > 0; flips--) {
        bytes[randomInt(rand, 0, bytes.length - 1)] ^= 1 << randomInt(rand, 0, 7);
      }
      seen[feed(role, bytes, rand)]++;
    }
    assert.ok(seen.ok > 100 && seen.error > 100, JSON.stringify(seen));
  });
});
