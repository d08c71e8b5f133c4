import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { Buffer } from "node:buffer";
import { connectWebSocket } from "../../src/ws/client.ts";
import { serveWebSocket } from "../../src/server/serve.ts";
import type { AcceptedWebSocket } from "../../src/server/accept.ts";
import { FrameReader } from "../../src/core/ws/frame_reader.ts";
import { retainMessage } from "../../src/core/ws/message.ts";
import { ConnectionClosed, ConnectionPoisoned, HandshakeError, SluiceError } from "../../src/core/errors.ts";

/** A server whose handler hands each connection to the test. */
async function withServer<T>(
  opts: { maxMessageSize?: number },
  fn: (url: string, next: () => Promise<AcceptedWebSocket>) => Promise<T>,
): Promise<T> {
  const waiting: ((ws: AcceptedWebSocket) => void)[] = [];
  const ready: AcceptedWebSocket[] = [];
  const server = await serveWebSocket({
    port: 0,
    maxMessageSize: opts.maxMessageSize,
    handler: (ws) => {
      const w = waiting.shift();
      if (w) w(ws);
      else ready.push(ws);
      return ws.closed.then(() => {});
    },
  });
  const next = () => ready.length > 0 ? Promise.resolve(ready.shift()!) : new Promise<AcceptedWebSocket>((r) => waiting.push(r));
  try {
    return await fn(`ws://127.0.0.1:${server.addr.port}/`, next);
  } finally {
    await server.close();
  }
}

describe("WebSocket connection lifecycle", () => {
  test("abort() drops the connection at once: 1006 locally and at the peer, later calls fail", async () => {
    await withServer({}, async (url, next) => {
      const ws = await connectWebSocket(url);
      const peer = await next();
      assert.equal(ws.readyState, "open");
      const pending = ws.recv();
      ws.abort(new Error("peer presumed dead"));
      const outcome = await pending.then(() => "resolved", (e) => e);
      assert.ok(outcome instanceof SluiceError, `pending recv rejects: ${outcome}`);
      const info = await ws.closed;
      assert.equal(info.code, 1006);
      assert.equal(info.wasClean, false);
      assert.equal(info.initiatedBy, "local");
      assert.ok(info.error instanceof ConnectionClosed && info.error.code === "WS_ABORTED");
      assert.equal(ws.readyState, "closed");
      await assert.rejects(ws.sendText("x"), ConnectionPoisoned);
      const peerInfo = await peer.recv().then(() => peer.closed, () => peer.closed);
      assert.equal(peerInfo.code, 1006);
      assert.equal(peerInfo.wasClean, false);
    });
  });

  test("readyState goes open → closing → closed through a close handshake", async () => {
    await withServer({}, async (url, next) => {
      const ws = await connectWebSocket(url);
      const peer = await next();
      const peerReading = peer.recv();
      const closing = ws.close(1000, "bye");
      assert.equal(ws.readyState, "closing");
      const info = await closing;
      assert.equal(ws.readyState, "closed");
      assert.deepEqual([info.code, info.reason, info.wasClean, info.initiatedBy], [1000, "", true, "local"]);
      assert.equal(await peerReading, null);
      assert.equal((await peer.closed).reason, "bye");
    });
  });

  test("a failing server lets the client read its close code (1009), whatever the client sends after", async () => {
    await withServer({ maxMessageSize: 1024 }, async (url, next) => {
      for (let i = 0; i < 5; i++) {
        const ws = await connectWebSocket(url);
        const peer = await next();
        void peer.recv().catch(() => {});
        await ws.sendBinary(new Uint8Array(4096));
        // Keep sending while the server fails: unread bytes must not turn its close into an RST.
        for (let j = 0; j < 5; j++) void ws.sendText("more").catch(() => {});
        const got = await ws.recv().then((m) => m, (e) => e);
        assert.equal(got, null, `round ${i}: the client sees a close, not ${got}`);
        const info = await ws.closed;
        assert.equal(info.code, 1009, `round ${i}`);
        assert.equal((await peer.closed).code, 1009);
      }
    });
  });

  test("a send whose socket write fails rejects instead of hanging", async () => {
    await withServer({}, async (url, next) => {
      const ws = await connectWebSocket(url);
      const peer = await next();
      peer.abort();
      await new Promise((r) => setTimeout(r, 50));
      const big = new Uint8Array(256 * 1024);
      let rejected: unknown = null;
      const deadline = Date.now() + 5000;
      while (rejected === null && Date.now() < deadline) {
        rejected = await Promise.race([
          ws.sendBinary(big).then(() => null, (e) => e ?? new Error("rejected")),
          new Promise<unknown>((r) => setTimeout(() => r("hung"), 2000)),
        ]);
        assert.notEqual(rejected, "hung", "a send must settle");
        if (rejected === null) await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(rejected instanceof Error, "sending into a dead socket eventually rejects");
      await ws.closed;
    });
  });

  test("a chunked refusal's bodyStart holds the body, not the chunk framing", async () => {
    const sockets = new Set<Socket>();
    const server = createServer((s) => {
      sockets.add(s);
      s.once("data", () => {
        s.end(
          "HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n" +
            "6\r\ntoken \r\n8;ext=1\r\nrequired\r\n0\r\n\r\n",
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as { port: number }).port;
      const err = await connectWebSocket(`ws://127.0.0.1:${port}/`).then(() => null, (e) => e);
      assert.ok(err instanceof HandshakeError);
      assert.equal(err.status, 401);
      assert.equal(new TextDecoder().decode(err.bodyStart), "token required");
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  test("messages decoded from Node Buffers are plain Uint8Arrays; retainMessage copies", () => {
    const reader = new FrameReader({ role: "client" });
    // Big enough to be parsed in place (small chunks are copied into the reader).
    const payload = Uint8Array.from({ length: 2000 }, (_, i) => i & 0xff);
    const chunk = Buffer.concat([Buffer.from([0x82, 0x7e, 0x07, 0xd0]), payload]);
    reader.push(chunk);
    const msg = reader.next();
    assert.ok(msg?.type === "binary");
    assert.equal(msg.data.constructor, Uint8Array);
    const kept = retainMessage(msg);
    chunk[4] = 99;
    assert.deepEqual(kept.data, payload);
    assert.equal(msg.data[0], 99, "the borrowed view still shows the chunk");
  });
});
