/**
 * `serveWebSocket` with the `open` / `message` / `close` callbacks (the
 * lightest way to serve many sockets) and the connection's push-mode
 * `listen()` under them.
 *
 * @module
 */
import { sleep, waitFor } from "./_load.ts";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connectWebSocket } from "../../src/ws/client.ts";
import { serveWebSocket, type ServeWebSocketOptions, type WebSocketServer } from "../../src/server/serve.ts";
import type { AcceptedWebSocket } from "../../src/server/accept.ts";
import type { CloseInfo } from "../../src/ws/types.ts";
import { encodeFrame, OP, rawClient } from "../_helpers/raw_peer.ts";

/** Waits (bounded) until `cond` holds. */
const until = (cond: () => boolean, what: string, ms = 10_000) => waitFor(cond, ms, what);

async function withServer<T>(
  options: Partial<ServeWebSocketOptions>,
  fn: (server: WebSocketServer, url: string) => Promise<T>,
): Promise<T> {
  const server = await serveWebSocket({ port: 0, ...options } as ServeWebSocketOptions);
  try {
    return await fn(server, `ws://127.0.0.1:${server.addr.port}/`);
  } finally {
    await server.close();
  }
}

describe("serveWebSocket callbacks", () => {
  test("open greets, message echoes text and binary, close is told the client's code and reason once", async () => {
    const closes: CloseInfo[] = [];
    const opened: AcceptedWebSocket[] = [];
    await withServer({
      open: (ws) => {
        opened.push(ws);
        void ws.sendText(`hello ${ws.request.path}`);
      },
      message: (ws, msg) => {
        if (msg.type === "text") void ws.sendText(msg.text.toUpperCase());
        else if (msg.type === "binary") void ws.sendBinary(msg.data.slice().reverse());
      },
      close: (ws, info) => {
        assert.equal(ws, opened[0]);
        closes.push(info);
      },
    }, async (server, url) => {
      const ws = await connectWebSocket(url);
      const hello = await ws.recv();
      assert.equal(hello?.type === "text" && hello.text, "hello /");
      await ws.sendText("shout");
      const t = await ws.recv();
      assert.equal(t?.type === "text" && t.text, "SHOUT");
      await ws.sendBinary(Uint8Array.of(1, 2, 3));
      const b = await ws.recv();
      assert.deepEqual(b?.type === "binary" && Array.from(b.data), [3, 2, 1]);
      assert.equal(server.connections, 1);
      await ws.close(4000, "done here");
      await until(() => closes.length === 1, "the close callback");
      assert.equal(closes[0]!.code, 4000);
      assert.equal(closes[0]!.reason, "done here");
      assert.equal(closes[0]!.initiatedBy, "remote");
      await until(() => server.connections === 0, "the connection count to drop");
      await sleep(20);
      assert.equal(closes.length, 1);
    });
  });

  test("an async message callback gets one message at a time, in order: the next waits for its promise", async () => {
    let running = 0;
    let overlapped = false;
    const seen: number[] = [];
    await withServer({
      message: async (ws, msg) => {
        if (msg.type !== "text") return;
        running++;
        if (running > 1) overlapped = true;
        const n = Number(msg.text); // read before the await: the message is borrowed until we settle
        await sleep(n % 7 === 0 ? 5 : 0);
        seen.push(n);
        running--;
        if (seen.length === 100) await ws.sendText("all");
      },
    }, async (_server, url) => {
      const ws = await connectWebSocket(url);
      for (let i = 0; i < 100; i++) void ws.sendText(String(i));
      const done = await ws.recv();
      assert.equal(done?.type === "text" && done.text, "all");
      assert.equal(overlapped, false, "no two message callbacks ran at once on one socket");
      assert.deepEqual(seen, Array.from({ length: 100 }, (_, i) => i));
      await ws.close();
    });
  });

  test("a message callback that throws closes that socket with 1011 and goes to onError; other sockets go on", async () => {
    const errors: unknown[] = [];
    await withServer({
      message: (ws, msg) => {
        if (msg.type === "text" && msg.text === "boom") throw new Error("handler bug");
        if (msg.type === "text") void ws.sendText(`ok ${msg.text}`);
      },
      onError: (e) => errors.push(e),
    }, async (server, url) => {
      const bad = await connectWebSocket(url);
      const good = await connectWebSocket(url);
      await bad.sendText("boom");
      const info = await bad.recv().then(() => bad.closed, () => bad.closed);
      assert.equal(info.code, 1011);
      assert.equal(errors.length, 1);
      assert.match(String(errors[0]), /handler bug/);
      await good.sendText("still");
      const r = await good.recv();
      assert.equal(r?.type === "text" && r.text, "ok still");
      await good.close();
      await until(() => server.connections === 0, "both sockets gone");
    });
  });

  test("an async open delays reading: frames pipelined with the upgrade arrive after it, in order; a rejecting open closes with 1011", async () => {
    const log: string[] = [];
    const errors: unknown[] = [];
    await withServer({
      open: async (ws) => {
        if (ws.request.path === "/reject") throw new Error("not today");
        log.push("open start");
        await sleep(30);
        log.push("open end");
      },
      message: (_ws, msg) => {
        if (msg.type === "text") log.push(msg.text);
      },
      onError: (e) => errors.push(e),
    }, async (server, url) => {
      const early = new Uint8Array([
        ...encodeFrame({ opcode: OP.text, payload: new TextEncoder().encode("m1") }, Uint8Array.of(1, 2, 3, 4)),
        ...encodeFrame({ opcode: OP.text, payload: new TextEncoder().encode("m2") }, Uint8Array.of(5, 6, 7, 8)),
      ]);
      const raw = await rawClient(server.addr.port, { early });
      await until(() => log.length === 4, "both messages");
      assert.deepEqual(log, ["open start", "open end", "m1", "m2"]);
      raw.destroy();
      const rejected = await connectWebSocket(`${url}reject`);
      assert.equal((await rejected.recv().then(() => rejected.closed)).code, 1011);
      assert.match(String(errors[0]), /not today/);
    });
  });

  test("without a message callback sockets are still read: pings answered, closes completed", async () => {
    const closes: CloseInfo[] = [];
    await withServer({ close: (_ws, info) => closes.push(info) }, async (_server, url) => {
      const ws = await connectWebSocket(url);
      await ws.sendText("ignored");
      const reading = ws.recv(); // the client reads, so it sees the pong
      const rtt = await ws.ping();
      assert.ok(rtt >= 0);
      const info = await ws.close(1000);
      assert.equal(await reading, null);
      assert.equal(info.wasClean, true);
      await until(() => closes.length === 1, "the close callback");
    });
  });

  test("server.close() closes callback sockets with 1001 and runs their close callbacks", async () => {
    const closes: CloseInfo[] = [];
    const server = await serveWebSocket({ port: 0, message: () => {}, close: (_ws, info) => closes.push(info) });
    const url = `ws://127.0.0.1:${server.addr.port}/`;
    const clients = await Promise.all([0, 1, 2].map(() => connectWebSocket(url)));
    const reading = clients.map((c) => c.recv().then(() => c.closed, () => c.closed));
    await server.close();
    for (const info of await Promise.all(reading)) assert.equal(info.code, 1001);
    assert.equal(closes.length, 3);
    assert.equal(server.connections, 0);
  });

  test("handler and callbacks are exclusive, and one of them is required", async () => {
    await assert.rejects(
      serveWebSocket({ port: 0, handler: () => {}, message: () => {} }),
      /either a handler function or the callbacks/,
    );
    await assert.rejects(serveWebSocket({ port: 0 }), /either a handler function or the callbacks/);
  });

  test("listen() refuses a socket already being read, and recv() refuses a listened one", async () => {
    let failure: unknown = null;
    await withServer({
      handler: async (ws) => {
        const reading = ws.recv();
        try {
          (ws as unknown as { listen(f: () => void, e: () => void): void }).listen(() => {}, () => {});
        } catch (e) {
          failure = e;
        }
        await reading;
      },
    }, async (_server, url) => {
      const ws = await connectWebSocket(url);
      await until(() => failure !== null, "the listen() refusal");
      assert.ok(failure instanceof TypeError, String(failure));
      await ws.close();
    });
    let recvFailure: unknown = null;
    await withServer({
      open: (ws) => {
        Promise.resolve().then(() => ws.recv()).then(() => {}, (e) => recvFailure = e);
      },
      message: () => {},
    }, async (_server, url) => {
      const ws = await connectWebSocket(url);
      await until(() => recvFailure !== null, "the recv() refusal");
      assert.ok(recvFailure instanceof TypeError, String(recvFailure));
      await ws.close();
    });
  });
});
