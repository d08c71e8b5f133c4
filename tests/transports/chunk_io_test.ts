import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { nodeTransport } from "../../src/transports/mod.ts";
import type { ChunkIO, Connection } from "../../src/transports/types.ts";
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

  test("close() ends a pending read with null", async () => {
    await withPair(nodeTransport, nodeTransport, async ({ server }) => {
      const io = take(server);
      const pending = io.read();
      server.close();
      assert.equal(await pending, null);
    });
  });
});
