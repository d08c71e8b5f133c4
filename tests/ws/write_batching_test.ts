import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connectWebSocket } from "../../src/ws/client.ts";
import { serveWebSocket } from "../../src/server/serve.ts";
import { defaultTransport } from "../../src/transports/mod.ts";
import type { ChunkIO, Connection, Transport } from "../../src/transports/types.ts";

/** The running runtime's real transport, with socket writes counted after the handshake. */
async function countingTransport(): Promise<{ transport: Transport; writes: number[] }> {
  const real = await defaultTransport();
  const writes: number[] = [];
  const transport: Transport = {
    name: real.name,
    listen: (o) => real.listen(o),
    async connect(o) {
      const conn = await real.connect(o);
      const wrapped: Connection = Object.create(conn);
      let takeIo: () => ChunkIO;
      const direct = conn.takeChunkIO?.bind(conn);
      if (direct) takeIo = () => direct()!;
      else {
        takeIo = () => {
          const reader = conn.readable.getReader();
          const writer = conn.writable.getWriter();
          return { read: () => reader.read().then((r) => r.done ? null : r.value), write: (c) => writer.write(c) };
        };
      }
      (wrapped as { takeChunkIO: () => ChunkIO }).takeChunkIO = () => {
        const io = takeIo();
        return {
          read: () => io.read(),
          readInto: io.readInto ? (b: Uint8Array) => io.readInto!(b) : undefined,
          write: (chunk: Uint8Array) => {
            writes.push(chunk.length);
            return io.write(chunk);
          },
        };
      };
      return wrapped;
    },
  };
  return { transport, writes };
}

async function withEchoCounter<T>(fn: (url: string, received: () => number) => Promise<T>): Promise<T> {
  let count = 0;
  const server = await serveWebSocket({
    port: 0,
    handler: async (ws) => {
      for await (const _ of ws) count++;
    },
  });
  try {
    return await fn(`ws://127.0.0.1:${server.addr.port}/`, () => count);
  } finally {
    await server.close();
  }
}

describe("WebSocket write batching", () => {
  test("frames sent in one turn of the event loop leave in a few writes, not one each", async () => {
    await withEchoCounter(async (url, received) => {
      const { transport, writes } = await countingTransport();
      const ws = await connectWebSocket(url, { transport });
      const before = writes.length; // the handshake request
      const sends: Promise<void>[] = [];
      for (let i = 0; i < 1000; i++) sends.push(ws.sendText(`message ${i}`));
      await Promise.all(sends);
      const frameWrites = writes.length - before;
      assert.ok(frameWrites >= 1 && frameWrites <= 10, `1000 frames took ${frameWrites} writes`);
      for (let i = 0; i < 200 && received() < 1000; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(received(), 1000);
      await ws.close();
    });
  });

  test("a lone message is written before the next macrotask: no added latency", async () => {
    await withEchoCounter(async (url) => {
      const { transport, writes } = await countingTransport();
      const ws = await connectWebSocket(url, { transport });
      // Wait for a quiet moment (the handshake's own turn is over).
      await new Promise((r) => setTimeout(r, 20));
      const before = writes.length;
      const seen = new Promise<number>((resolve) => setTimeout(() => resolve(writes.length - before), 0));
      void ws.sendText("alone");
      // Microtasks run before any timer: the frame must already be written then.
      assert.equal(await seen, 1);
      await ws.close();
    });
  });

  test("writes stay at most about 64 KiB even when much more is queued at once", async () => {
    await withEchoCounter(async (url, received) => {
      const { transport, writes } = await countingTransport();
      const ws = await connectWebSocket(url, { transport });
      const before = writes.length;
      const payload = new Uint8Array(1000);
      const sends: Promise<void>[] = [];
      for (let i = 0; i < 1000; i++) sends.push(ws.sendBinary(payload));
      await Promise.all(sends);
      const sizes = writes.slice(before);
      assert.ok(sizes.length >= 15, `1 MB went out in ${sizes.length} writes`);
      assert.ok(Math.max(...sizes) <= 64 * 1024 + 2048, `largest write ${Math.max(...sizes)}`);
      for (let i = 0; i < 300 && received() < 1000; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(received(), 1000);
      await ws.close();
    });
  });

  test("bufferedAmount counts queued bytes and returns to 0 once written", async () => {
    await withEchoCounter(async (url) => {
      const ws = await connectWebSocket(url);
      const p = ws.sendBinary(new Uint8Array(10_000));
      assert.ok(ws.bufferedAmount >= 10_000);
      await p;
      assert.equal(ws.bufferedAmount, 0);
      await ws.close();
    });
  });
});
