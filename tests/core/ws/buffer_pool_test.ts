/**
 * The shared buffer pool and the reader's use of it: an idle reader holds no
 * buffer, a partial frame borrows one only while it waits, streaming reads
 * start small and grow only while they fill, and the pool stays bounded.
 *
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  giveBuffer,
  MAX_POOLED_BYTES,
  MIN_POOLED_BYTES,
  pooledBytes,
  pooledSize,
  takeBuffer,
} from "../../../src/core/buf_pool.ts";
import { FrameReader } from "../../../src/core/ws/frame_reader.ts";
import { FrameWriter } from "../../../src/core/ws/frame_writer.ts";
import type { Message } from "../../../src/core/ws/message.ts";

const client = new FrameWriter({ role: "client", random: (b) => b.fill(7) });

function drain(reader: FrameReader): Message[] {
  const out: Message[] = [];
  for (let m = reader.next(); m !== null; m = reader.next()) out.push(m);
  return out;
}

describe("buffer pool", () => {
  test("sizes round up to power-of-two classes from 1 KiB to 256 KiB; larger ones are exact (rounded to words)", () => {
    assert.equal(pooledSize(1), MIN_POOLED_BYTES);
    assert.equal(pooledSize(1024), 1024);
    assert.equal(pooledSize(1025), 2048);
    assert.equal(pooledSize(MAX_POOLED_BYTES), MAX_POOLED_BYTES);
    assert.equal(pooledSize(MAX_POOLED_BYTES + 1), MAX_POOLED_BYTES + 4);
  });

  test("a given-back buffer is taken again (same memory), and the pool keeps at most 2 MiB per class", () => {
    const a = takeBuffer(3000);
    assert.equal(a.bytes.length, 4096);
    assert.equal(a.words.length, 1024);
    assert.equal(a.words.buffer, a.bytes.buffer, "the word view shares the bytes");
    giveBuffer(a);
    const b = takeBuffer(4000);
    assert.equal(b, a, "the pooled buffer comes back");
    giveBuffer(b);
    const before = pooledBytes();
    const many = Array.from({ length: 40 }, () => takeBuffer(128 * 1024)); // 5 MiB of one class
    for (const buf of many) giveBuffer(buf);
    assert.ok(pooledBytes() - before <= 2 * 1024 * 1024, `pool grew by ${pooledBytes() - before}`);
    // Odd sizes and oversized buffers are not kept.
    const huge = takeBuffer(MAX_POOLED_BYTES * 2);
    const held = pooledBytes();
    giveBuffer(huge);
    assert.equal(pooledBytes(), held);
  });
});

describe("FrameReader buffers", () => {
  test("an idle reader holds no buffer; whole frames pushed as chunks are parsed in place", () => {
    const reader = new FrameReader({ role: "server" });
    assert.equal(reader.heldBytes, 0);
    const chunk = client.text("x".repeat(5000));
    reader.push(chunk);
    const [m] = drain(reader);
    assert.equal(m?.type === "text" && m.text.length, 5000);
    assert.equal(reader.heldBytes, 0, "no own buffer after a whole frame");
  });

  test("a partial frame borrows a buffer only while it waits, and gives it back when the frame is done", () => {
    const reader = new FrameReader({ role: "server" });
    const frame = client.binary(new Uint8Array(20_000).fill(3));
    reader.push(frame.subarray(0, 100));
    assert.equal(drain(reader).length, 0);
    assert.ok(reader.heldBytes > 0 && reader.heldBytes <= 32 * 1024, `held ${reader.heldBytes} for a partial frame`);
    reader.push(frame.subarray(100, 15_000));
    reader.push(frame.subarray(15_000));
    const [m] = drain(reader);
    assert.equal(m?.type === "binary" && m.data.length, 20_000);
    assert.equal(reader.heldBytes, 0, "the buffer went back to the pool");
  });

  test("streaming reads start at 1 KiB, double while they fill the view (up to bufferCapacity), and drop back when they don't", () => {
    const reader = new FrameReader({ role: "server", bufferCapacity: 16 * 1024 });
    const sizes: number[] = [];
    // A long run of 200-byte frames delivered as full reads.
    const stream = new Uint8Array(200_000);
    let at = 0;
    const frame = client.binary(new Uint8Array(194).fill(1)); // 200 bytes on the wire
    while (at + frame.length <= stream.length) {
      stream.set(frame, at);
      at += frame.length;
    }
    let fed = 0;
    let received = 0;
    for (let i = 0; i < 8; i++) {
      const view = reader.spare();
      sizes.push(view.length);
      const n = Math.min(view.length, at - fed);
      view.set(stream.subarray(fed, fed + n));
      fed += n;
      reader.filled(n);
      received += drain(reader).length;
    }
    assert.equal(sizes[0], 1024, "an idle read waits in 1 KiB");
    for (let i = 1; i < sizes.length; i++) {
      assert.ok(sizes[i]! <= 16 * 1024, `view ${i} is ${sizes[i]}: bounded by bufferCapacity`);
    }
    assert.ok(Math.max(...sizes) >= 8 * 1024, `views grew while reads filled them: ${sizes}`);
    // A short read that ends on a frame boundary: nothing waits, the buffer
    // goes back, and the next read waits in 1 KiB again.
    const view = reader.spare();
    const n = frame.length - (fed % frame.length);
    view.set(stream.subarray(fed, fed + n));
    reader.filled(n);
    received += drain(reader).length;
    assert.equal(received, (fed + n) / frame.length);
    assert.equal(reader.buffered, 0);
    const after = reader.spare();
    assert.equal(after.length, 1024, "after a short read the view is small again");
    assert.equal(reader.heldBytes, 1024);
  });

  test("many idle readers hold nothing: 1,000 readers that each read one whole frame keep no buffers", () => {
    const readers = Array.from({ length: 1000 }, () => new FrameReader({ role: "server" }));
    const frame = client.text("hello");
    for (const r of readers) {
      r.push(frame);
      assert.equal(drain(r).length, 1);
    }
    assert.equal(readers.reduce((n, r) => n + r.heldBytes, 0), 0);
  });
});
