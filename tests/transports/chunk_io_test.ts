import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { nodeTransport } from "../../src/transports/mod.ts";
import type { ChunkIO, ChunkSink, Connection } from "../../src/transports/types.ts";
import { ConnectionClosed } from "../../src/core/errors.ts";
import { firstDifference, pattern, settled, withPair } from "../_helpers/net.ts";

async function readBytes(io: ChunkIO, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const chunk = await io.read();
    if (chunk === null) throw new Error(`stream ended after ${got} of ${n} bytes`);
    out.set(chunk.subarray(0, n - got), got);
    got += chunk.length;
  }
  return out;
}

/** A sink that records what it is handed, and when. */
function recordingSink() {
  const got: (Uint8Array | null | Error)[] = [];
  let wake: (() => void) | null = null;
  const sink: ChunkSink = {
    chunk: (data) => {
      got.push(data);
      wake?.();
    },
    error: (reason) => {
      got.push(reason as Error);
      wake?.();
    },
  };
  const next = (count: number) =>
    new Promise<void>((resolve, reject) => {
      if (got.length >= count) return resolve();
      const timer = setTimeout(() => reject(new Error(`no delivery ${count} within 5 s`)), 5000);
      wake = () => {
        if (got.length >= count) {
          clearTimeout(timer);
          wake = null;
          resolve();
        }
      };
    });
  return { sink, got, next };
}

function take(conn: Connection): ChunkIO {
  const io = conn.takeChunkIO?.();
  assert.ok(io, "the node adapter offers direct chunk I/O");
  return io;
}

describe("node adapter takeChunkIO()", () => {
  test("delivers bytes the readable queued before it was taken, then live bytes, then null at the end", async () => {
    await withPair(nodeTransport, nodeTransport, async ({ client, server }) => {
      const w = client.writable.getWriter();
      await w.write(pattern(1000, 1));
      await settled(() => 0, 100, 200); // let the bytes land in the readable's queue
      const io = take(server);
      const later = pattern(5000, 2);
      await w.write(later);
      const got = await readBytes(io, 6000);
      assert.equal(firstDifference(got.subarray(0, 1000), pattern(1000, 1)), -1);
      assert.equal(firstDifference(got.subarray(1000), later), -1);
      await w.close();
      assert.equal(await io.read(), null);
    });
  });

  test("can be taken once, and not after a stream was locked", async () => {
    await withPair(nodeTransport, nodeTransport, ({ client, server }) => {
      assert.ok(take(server));
      assert.equal(server.takeChunkIO!(), null);
      client.readable.getReader();
      assert.equal(client.takeChunkIO!(), null);
      return Promise.resolve();
    });
  });

  test("a reader that stops reading stalls the peer: bytes pending stay bounded", async () => {
    await withPair(nodeTransport, nodeTransport, async ({ client, server }) => {
      const io = take(server);
      const writer = client.writable.getWriter();
      const chunk = pattern(64 * 1024);
      let written = 0;
      let stalled = false;
      // Write until a write stays pending: the receiver's queue + kernel buffers are full.
      for (let i = 0; i < 2048 && !stalled; i++) {
        const p = writer.write(chunk).then(() => true);
        const done = await Promise.race([p, new Promise<false>((r) => setTimeout(() => r(false), 300))]);
        if (done) written += chunk.length;
        else stalled = true;
      }
      assert.ok(stalled, "writes stall when the reader does not read");
      assert.ok(written < 64 * 1024 * 1024, `stalled after ${written} bytes`);
      // Reading again lets everything through, intact.
      let total = 0;
      while (total < written) {
        const c = await io.read();
        assert.ok(c !== null);
        total += c.length;
      }
      assert.ok(total >= written);
    });
  });

  test("writes are accepted without a promise while the socket keeps up", async () => {
    await withPair(nodeTransport, nodeTransport, async ({ client, server }) => {
      const io = take(client);
      assert.equal(io.write(pattern(100)), undefined);
      const reader = server.readable.getReader();
      const r = await reader.read();
      assert.equal(r.value?.length, 100);
    });
  });

  test("a peer that disappears makes a pending read fail with ConnectionClosed or end", async () => {
    await withPair(nodeTransport, nodeTransport, async ({ client, server }) => {
      const io = take(server);
      const pending = io.read();
      client.close();
      const outcome = await pending.then((v) => v, (e) => e);
      assert.ok(outcome === null || outcome instanceof ConnectionClosed, `got ${outcome}`);
      const again = await io.read().then((v) => v, (e) => e);
      assert.ok(again === null || again instanceof ConnectionClosed);
    });
  });

  test("readWith() hands a queued chunk over before it returns, a live one from the data event, then null at the end", async () => {
    await withPair(nodeTransport, nodeTransport, async ({ client, server }) => {
      const io = take(server);
      assert.ok(io.readWith, "push-based adapters offer readWith");
      const { sink, got, next } = recordingSink();
      const w = client.writable.getWriter();
      await w.write(pattern(1000, 3));
      await settled(() => 0, 100, 200); // queued in the adapter, unread
      io.readWith(sink);
      assert.equal(got.length, 1, "delivered synchronously");
      let bytes = (got[0] as Uint8Array).length;
      while (bytes < 1000) { // the sender's write may have arrived in pieces
        const want = got.length + 1;
        io.readWith(sink);
        await next(want);
        bytes += (got[want - 1] as Uint8Array).length;
      }
      const before = got.length;
      io.readWith(sink);
      assert.equal(got.length, before, "nothing queued: the sink waits");
      await w.write(pattern(10, 4));
      await next(before + 1);
      assert.equal(firstDifference(got[before] as Uint8Array, pattern(10, 4)), -1);
      await w.close();
      io.readWith(sink);
      await next(before + 2);
      assert.equal(got[before + 1], null);
    });
  });

  test("readWith() first delivers bytes the readable queued before the I/O was taken, in order", async () => {
    await withPair(nodeTransport, nodeTransport, async ({ client, server }) => {
      const w = client.writable.getWriter();
      await w.write(pattern(700, 5));
      await settled(() => 0, 100, 200); // in the readable's queue
      const io = take(server);
      await w.write(pattern(300, 6));
      const { sink, got, next } = recordingSink();
      const all: Uint8Array[] = [];
      let total = 0;
      while (total < 1000) {
        const want = got.length + 1;
        io.readWith!(sink);
        await next(want);
        const c = got[want - 1];
        assert.ok(c instanceof Uint8Array, `got ${c}`);
        all.push(c);
        total += c.length;
      }
      const joined = new Uint8Array(total);
      let at = 0;
      for (const c of all) {
        joined.set(c, at);
        at += c.length;
      }
      assert.equal(firstDifference(joined.subarray(0, 700), pattern(700, 5)), -1);
      assert.equal(firstDifference(joined.subarray(700), pattern(300, 6)), -1);
    });
  });

  test("readWith() while a read() is pending reports a TypeError to the sink; a vanished peer ends a waiting sink", async () => {
    await withPair(nodeTransport, nodeTransport, async ({ client, server }) => {
      const io = take(server);
      const pending = io.read();
      const first = recordingSink();
      io.readWith!(first.sink);
      assert.ok(first.got[0] instanceof TypeError, `got ${first.got[0]}`);
      client.close();
      const outcome = await pending.then((v) => v, (e) => e);
      assert.ok(outcome === null || outcome instanceof ConnectionClosed, `got ${outcome}`);
      const second = recordingSink();
      io.readWith!(second.sink);
      await second.next(1);
      const end = second.got[0];
      assert.ok(end === null || end instanceof ConnectionClosed, `got ${end}`);
    });
  });

  test("close() ends a pending read with null", async () => {
    await withPair(nodeTransport, nodeTransport, async ({ server }) => {
      const io = take(server);
      const pending = io.read();
      server.close();
      assert.equal(await pending, null);
    });
  });
});
