/**
 * Semantics of the WebSocket connection object in both roles, against raw
 * peers and sluice itself: close() and `closed`, poisoning after a failure,
 * readTimeout, ping RTT, and same-turn write batching.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  ConnectionClosed,
  ConnectionPoisoned,
  ProtocolError,
  TimeoutError,
} from "../../src/core/errors.ts";
import type { AcceptedWebSocket } from "../../src/server/accept.ts";
import { serveWebSocket, type ServeWebSocketOptions } from "../../src/server/serve.ts";
import { detectRuntime, lazyTransport } from "../../src/transports/detect.ts";
import type { Connection, Transport } from "../../src/transports/types.ts";
import { connectWebSocket } from "../../src/ws/client.ts";
import type { WebSocketConnectionImpl } from "../../src/ws/connection.ts";
import {
  closeCodeOf,
  closePayload,
  encodeFrame,
  encodeFrames,
  MASK_KEY,
  OP,
  rawClient,
  withRawServer,
} from "../_helpers/raw_peer.ts";
import { echoClient, within, withEchoServer } from "./_conformance.ts";
import { firstDifference } from "../_helpers/net.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A server whose handler hands each connection to the test and holds it open until the test ends. */
async function withHeldServer<T>(
  options: Partial<ServeWebSocketOptions>,
  fn: (port: number, next: () => Promise<AcceptedWebSocket>) => Promise<T>,
): Promise<T> {
  const waiting: ((ws: AcceptedWebSocket) => void)[] = [];
  const ready: AcceptedWebSocket[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => release = r);
  const server = await serveWebSocket({
    port: 0,
    handler: async (ws) => {
      const w = waiting.shift();
      if (w) w(ws);
      else ready.push(ws);
      await held;
    },
    ...options,
  });
  const next = () =>
    within(
      new Promise<AcceptedWebSocket>((resolve) => {
        const ws = ready.shift();
        if (ws) resolve(ws);
        else waiting.push(resolve);
      }),
      5000,
      "accepted WebSocket",
    );
  try {
    return await fn(server.addr.port, next);
  } finally {
    release();
    await within(server.close(), 10_000, "server.close()");
  }
}

/** Asserts every call on a failed connection fails at once with ConnectionPoisoned caused by `cause`. */
async function assertPoisoned(ws: WebSocketConnectionImpl | AcceptedWebSocket, cause: Error) {
  const calls: [string, () => Promise<unknown>][] = [
    ["recv", () => ws.recv()],
    ["sendText", () => ws.sendText("x")],
    ["sendBinary", () => ws.sendBinary(new Uint8Array(3))],
    ["ping", () => ws.ping()],
    ["pong", () => ws.pong()],
  ];
  for (const [name, call] of calls) {
    await assert.rejects(within(call(), 1000, name), (e: unknown) => {
      assert.ok(e instanceof ConnectionPoisoned, `${name}: ${e}`);
      assert.equal(e.cause, cause, `${name}: cause is the original failure`);
      return true;
    }, name);
  }
}

/** Wraps a transport so every chunk written to a connection is counted. */
function countingTransport(base: Transport, writes: number[]): Transport {
  const wrap = (conn: Connection): Connection => {
    const inner = conn.writable.getWriter();
    return {
      readable: conn.readable,
      writable: new WritableStream<Uint8Array>({
        write: (chunk) => {
          writes.push(chunk.length);
          return inner.write(chunk);
        },
        close: () => inner.close(),
        abort: (r) => inner.abort(r),
      }),
      localAddr: conn.localAddr,
      remoteAddr: conn.remoteAddr,
      close: () => conn.close(),
      closed: conn.closed,
    };
  };
  return {
    name: base.name,
    connect: async (o) => wrap(await base.connect(o)),
    listen: (o) => base.listen(o),
  };
}

describe("ws connection semantics", () => {
  test("server: after a protocol error recv() rejects with the ProtocolError, then every call fails at once with ConnectionPoisoned caused by it", async () => {
    await withHeldServer({}, async (port, next) => {
      const peer = await rawClient(port);
      try {
        const ws = await next();
        // An unmasked client frame (RFC 6455 §5.1).
        await peer.send(encodeFrame({ opcode: OP.text, payload: "hi" }, null));
        const error = await ws.recv().then(() => null, (e: unknown) => e);
        assert.ok(error instanceof ProtocolError, String(error));
        assert.equal(error.code, "WS_UNMASKED_CLIENT_FRAME");
        assert.equal(error.closeCode, 1002);
        const f = await peer.nextFrame();
        assert.ok(f && closeCodeOf(f) === 1002);
        await assertPoisoned(ws, error);
        const info = await ws.close();
        assert.equal(info.error, error, "close() after a failure reports it");
        assert.equal(info.wasClean, false);
        assert.notEqual(await peer.waitPeerEnd(), "timeout");
      } finally {
        peer.destroy();
      }
    });
  });

  test("client: a masked server frame fails recv() with 1002 WS_MASKED_SERVER_FRAME, then the connection is poisoned", async () => {
    await withRawServer(async (server) => {
      const connecting = connectWebSocket(server.url);
      const peer = await server.accept();
      const ws = await connecting as WebSocketConnectionImpl;
      await peer.send(encodeFrame({ opcode: OP.binary, payload: "x" }, MASK_KEY));
      const error = await ws.recv().then(() => null, (e: unknown) => e);
      assert.ok(error instanceof ProtocolError, String(error));
      assert.equal(error.code, "WS_MASKED_SERVER_FRAME");
      const f = await peer.nextFrame();
      assert.ok(f && f.masked && closeCodeOf(f) === 1002);
      await assertPoisoned(ws, error);
      const info = await ws.closed;
      assert.deepEqual(
        { code: info.code, wasClean: info.wasClean, initiatedBy: info.initiatedBy },
        { code: 1002, wasClean: false, initiatedBy: "local" },
      );
    });
  });

  test("sending after a clean close rejects with ConnectionClosed WS_CLOSED (a rejected promise, not a throw)", async () => {
    await withEchoServer({}, async (server) => {
      const ws = await connectWebSocket(`ws://127.0.0.1:${server.port}/`);
      const info = await ws.close(1000);
      assert.equal(info.wasClean, true);
      for (const [name, call] of [
        ["sendText", () => ws.sendText("late")],
        ["sendBinary", () => ws.sendBinary(new Uint8Array(1))],
        ["ping", () => ws.ping()],
        ["pong", () => ws.pong()],
      ] as const) {
        let result: Promise<unknown>;
        assert.doesNotThrow(() => {
          result = call();
        }, `${name} threw synchronously`);
        await assert.rejects(result!, (e: unknown) => {
          assert.ok(e instanceof ConnectionClosed, `${name}: ${e}`);
          assert.equal(e.code, "WS_CLOSED");
          return true;
        });
      }
      assert.equal(await ws.recv(), null, "recv() after a clean close is null");
    });
  });

  test("client readTimeout: recv() rejects with TimeoutError READ_TIMEOUT after the idle time, the socket is closed, and later calls are poisoned", async () => {
    await withRawServer(async (server) => {
      const connecting = connectWebSocket(server.url, { readTimeout: 200 });
      const peer = await server.accept();
      const ws = await connecting as WebSocketConnectionImpl;
      // Data resets the idle timer: a message every 80 ms keeps it alive.
      for (let i = 0; i < 4; i++) {
        await sleep(80);
        await peer.send(encodeFrame({ opcode: OP.text, payload: `tick ${i}` }, null));
        const msg = await ws.recv();
        assert.equal(msg?.type === "text" && msg.text, `tick ${i}`);
      }
      const started = performance.now();
      const error = await ws.recv().then(() => null, (e: unknown) => e);
      assert.ok(error instanceof TimeoutError, String(error));
      assert.equal(error.code, "READ_TIMEOUT");
      assert.ok(performance.now() - started >= 150, "timed out too early");
      assert.notEqual(await peer.waitPeerEnd(), "timeout", "the socket stays open");
      await assertPoisoned(ws, error);
    });
  });

  test("server readTimeout (from serveWebSocket options) fails an idle connection with TimeoutError", async () => {
    await withHeldServer({ readTimeout: 150 }, async (port, next) => {
      const peer = await rawClient(port);
      try {
        const ws = await next();
        const error = await ws.recv().then(() => null, (e: unknown) => e);
        assert.ok(error instanceof TimeoutError, String(error));
        assert.notEqual(await peer.waitPeerEnd(), "timeout");
      } finally {
        peer.destroy();
      }
    });
  });

  test("close() while the peer keeps sending data drops the data and still completes the handshake", async () => {
    await withHeldServer({}, async (port, next) => {
      const peer = await rawClient(port);
      try {
        const ws = await next();
        const closing = ws.close(1000, "enough");
        for (let i = 0; i < 5; i++) {
          await peer.send(encodeFrame({ opcode: OP.binary, payload: new Uint8Array(1000) }, MASK_KEY));
        }
        const f = await peer.nextFrame();
        assert.ok(f && closeCodeOf(f) === 1000);
        await peer.send(encodeFrame({ opcode: OP.close, payload: closePayload(1000) }, MASK_KEY));
        const info = await within(closing, 3000, "close()");
        assert.deepEqual(
          { code: info.code, wasClean: info.wasClean, initiatedBy: info.initiatedBy },
          { code: 1000, wasClean: true, initiatedBy: "local" },
        );
        assert.equal(await peer.waitPeerEnd(), "fin");
        assert.equal(await ws.recv(), null);
      } finally {
        peer.destroy();
      }
    });
  });

  test("close() twice, and close() racing the peer's close, settle with one CloseInfo and one close frame", async () => {
    await withRawServer(async (server) => {
      const connecting = connectWebSocket(server.url);
      const peer = await server.accept();
      const ws = await connecting;
      const a = ws.close(1000);
      const b = ws.close(4000);
      await peer.send(encodeFrame({ opcode: OP.close, payload: closePayload(1000) }, null));
      const f = await peer.nextFrame();
      assert.ok(f && closeCodeOf(f) === 1000);
      peer.end();
      const [ia, ib] = await within(Promise.all([a, b]), 3000, "close()");
      assert.deepEqual(ia, ib);
      assert.equal(ia.wasClean, true);
      assert.equal(await peer.quietFor(100) || peer.peerEnded, true);
      assert.equal(peer.received.length, 1, "exactly one close frame");
    });
  });

  test("close() rejects a reserved code or a reason over 123 bytes with RangeError", async () => {
    await withEchoServer({}, async (server) => {
      const ws = await connectWebSocket(`ws://127.0.0.1:${server.port}/`);
      try {
        for (const code of [999, 1005, 1006, 1015, 5000]) {
          await assert.rejects(ws.close(code), RangeError, String(code));
        }
        await assert.rejects(ws.close(1000, "é".repeat(62)), RangeError);
      } finally {
        await ws.close();
      }
    });
  });

  test("closeTimeout Infinity (no limit) waits for a slow peer's close instead of giving up at once", async () => {
    await withRawServer(async (server) => {
      const connecting = connectWebSocket(server.url, { closeTimeout: Infinity });
      const peer = await server.accept();
      const ws = await connecting;
      const closing = ws.close(1000);
      const f = await peer.nextFrame();
      assert.ok(f && closeCodeOf(f) === 1000);
      await sleep(100);
      await peer.send(encodeFrame({ opcode: OP.close, payload: closePayload(1000) }, null));
      peer.end();
      const info = await within(closing, 3000, "close()");
      assert.equal(info.wasClean, true, `error: ${info.error}`);
    });
  });

  test("ping() resolves with the round-trip time when the pong arrives (a slow pong gives a longer RTT) and sets lastRtt", async () => {
    await withRawServer(async (server) => {
      const connecting = echoClient(server.url);
      const peer = await server.accept();
      const { ws, done } = await connecting;
      const impl = ws as WebSocketConnectionImpl;
      assert.ok(Number.isNaN(impl.lastRtt));
      const pinging = ws.ping(Uint8Array.of(1, 2, 3));
      const f = await peer.nextFrame();
      assert.ok(f && f.opcode === OP.ping && f.masked);
      assert.deepEqual([...f.payload], [1, 2, 3]);
      await sleep(100);
      // An unsolicited pong with another payload settles nothing.
      await peer.send(encodeFrame({ opcode: OP.pong, payload: "other" }, null));
      await peer.send(encodeFrame({ opcode: OP.pong, payload: f.payload }, null));
      const rtt = await within(pinging, 3000, "ping()");
      assert.ok(rtt >= 90 && Number.isFinite(rtt), `rtt ${rtt}`);
      assert.equal(impl.lastRtt, rtt);
      await assert.rejects(ws.ping(new Uint8Array(126)), RangeError);
      peer.destroy();
      await done;
    });
  });

  test("ping() against a sluice server resolves with a small RTT; a pending ping rejects with ConnectionClosed when the connection closes", async () => {
    await withEchoServer({}, async (server) => {
      const { ws, done } = await echoClient(`ws://127.0.0.1:${server.port}/`);
      const rtt = await within(ws.ping(), 3000, "ping()");
      assert.ok(rtt >= 0 && rtt < 3000, `rtt ${rtt}`);
      await ws.close();
      await done;
    });
    await withRawServer(async (server) => {
      const connecting = echoClient(server.url);
      const peer = await server.accept();
      const { ws } = await connecting;
      const pinging = ws.ping();
      await peer.nextFrame();
      peer.destroy();
      await assert.rejects(within(pinging, 3000, "ping()"), (e: unknown) => e instanceof ConnectionClosed);
    });
  });

  test("ping() on a connection nobody reads rejects after pingTimeoutMs and says why; the connection stays usable and the next ping, read, resolves", async () => {
    await withEchoServer({}, async (server) => {
      const ws = await connectWebSocket(`ws://127.0.0.1:${server.port}/`, { pingTimeoutMs: 150 });
      try {
        const t0 = performance.now();
        const err = await within(ws.ping().then(() => null, (e: unknown) => e), 3000, "unread ping");
        assert.ok(err instanceof TimeoutError, `got ${err}`);
        assert.equal(err.code, "WS_PING_TIMEOUT");
        assert.match(err.message, /150 ms \(pingTimeoutMs\), and nothing is reading the connection/);
        assert.ok(performance.now() - t0 >= 140);
        // Still open: read while pinging, and the pong (the earlier one was
        // answered too, but only this ping is still waiting) settles it.
        const pinging = ws.ping();
        const reading = ws.recv();
        const rtt = await within(pinging, 3000, "read ping");
        assert.ok(rtt >= 0 && rtt < 3000);
        await ws.sendText("after");
        const m = await within(reading, 3000, "echo");
        assert.equal(m?.type === "text" && m.text, "after");
      } finally {
        await ws.close();
      }
    });
  });

  test("ping() to a peer that never answers rejects with WS_PING_TIMEOUT while the connection is read; pingTimeoutMs 0 waits until the close", async () => {
    await withRawServer(async (server) => {
      const connecting = connectWebSocket(server.url, { pingTimeoutMs: 100 });
      const peer = await server.accept();
      const ws = await connecting;
      const reading = ws.recv().catch((e: unknown) => e);
      const err = await within(ws.ping().then(() => null, (e: unknown) => e), 3000, "ping");
      assert.ok(err instanceof TimeoutError && err.code === "WS_PING_TIMEOUT", `got ${err}`);
      assert.match(err.message, /no pong within 100 ms \(pingTimeoutMs\): the peer or the network may be gone/);
      assert.equal((await peer.nextFrame())?.opcode, OP.ping);
      await ws.sendText("still open");
      const f = await peer.nextFrame();
      assert.ok(f && f.opcode === OP.text);
      peer.destroy();
      await reading;
    });
    await withRawServer(async (server) => {
      const connecting = connectWebSocket(server.url, { pingTimeoutMs: 0 });
      const peer = await server.accept();
      const ws = await connecting;
      const reading = ws.recv().catch((e: unknown) => e);
      const pinging = ws.ping().then(() => null, (e: unknown) => e);
      await peer.nextFrame();
      await sleep(150);
      let settled = false;
      void pinging.then(() => settled = true);
      await sleep(0);
      assert.equal(settled, false, "a ping without a limit still waits");
      peer.destroy();
      assert.ok((await within(pinging, 3000, "ping after the drop")) instanceof ConnectionClosed);
      await reading;
    });
    await assert.rejects(connectWebSocket("ws://127.0.0.1:1/", { pingTimeoutMs: -1 }), /pingTimeoutMs must be a non-negative number/);
  });

  test("client: recv() after the close handshake returns null at once while the client still waits for the server to end TCP", async () => {
    await withRawServer(async (server) => {
      const connecting = connectWebSocket(server.url);
      const peer = await server.accept();
      const ws = await connecting;
      try {
        await peer.send(encodeFrame({ opcode: OP.close, payload: closePayload(1000) }, null));
        assert.equal(await within(ws.recv(), 3000, "first recv"), null);
        const f = await peer.nextFrame();
        assert.ok(f && closeCodeOf(f) === 1000);
        // The server keeps TCP open: a second recv() must not wait for it (closeTimeout is 5 s).
        assert.equal(await within(ws.recv(), 500, "second recv"), null);
        assert.equal(await within(ws.recv(), 500, "third recv"), null);
        peer.end();
        assert.equal((await within(ws.closed, 3000, "closed")).wasClean, true);
      } finally {
        peer.destroy();
      }
    });
  });

  test("autoPong false: recv() hands pings over unanswered, and pong(data) answers them", async () => {
    await withRawServer(async (server) => {
      const connecting = connectWebSocket(server.url, { autoPong: false });
      const peer = await server.accept();
      const ws = await connecting;
      try {
        await peer.send(encodeFrames([
          { opcode: OP.ping, payload: "are you there" },
          { opcode: OP.text, payload: "data" },
        ], null));
        const ping = await within(ws.recv(), 3000, "recv");
        assert.equal(ping?.type, "ping");
        assert.equal(new TextDecoder().decode(ping!.data), "are you there");
        const text = await within(ws.recv(), 3000, "recv");
        assert.equal(text?.type === "text" && text.text, "data");
        assert.equal(await peer.quietFor(100), true, "a pong was sent automatically");
        await ws.pong(Uint8Array.from(ping!.data));
        const f = await peer.nextFrame();
        assert.ok(f && f.opcode === OP.pong && f.masked);
        assert.equal(new TextDecoder().decode(f.payload), "are you there");
      } finally {
        peer.destroy();
        await ws.close().catch(() => {});
      }
    });
  });

  test("sluice to sluice: an oversized message closes with 1009 both ways (server maxMessageSize, client maxMessageSize)", async () => {
    await withEchoServer({ maxMessageSize: 1000 }, async (server) => {
      const url = `ws://127.0.0.1:${server.port}/`;
      const ws = await connectWebSocket(url);
      await ws.sendBinary(new Uint8Array(1001));
      assert.equal(await within(ws.recv(), 3000, "recv"), null, "the server's 1009 close ends recv()");
      const info = await within(ws.closed, 3000, "closed");
      assert.deepEqual(
        { code: info.code, initiatedBy: info.initiatedBy },
        { code: 1009, initiatedBy: "remote" },
      );
      const accepted = await server.next();
      const serverInfo = await within(accepted.closed, 3000, "server closed");
      assert.equal(serverInfo.code, 1009);
      assert.ok(serverInfo.error instanceof ProtocolError && serverInfo.error.code === "WS_MESSAGE_TOO_BIG");
      // The other way round: the client refuses an echo past its own limit.
      const client = await connectWebSocket(url, { maxMessageSize: 500 });
      await client.sendText("w".repeat(600));
      const err = await within(client.recv(), 3000, "recv").then(() => null, (e) => e);
      assert.ok(err instanceof ProtocolError && err.closeCode === 1009, String(err));
      await Promise.all([ws.close(), client.close()]);
    });
  });

  test("a burst of mixed-size messages sent while the peer is not reading arrives intact and in order", async () => {
    const sizes = Array.from({ length: 300 }, (_, i) => (i * 7919) % 100_000 + (i % 3 === 0 ? 70_000 : 1));
    const body = (i: number) => {
      const b = new Uint8Array(sizes[i]);
      for (let j = 0; j < b.length; j += 997) b[j] = (i + j) & 0xff;
      b[b.length - 1] = i & 0xff;
      return b;
    };
    let release!: () => void;
    const reading = new Promise<void>((r) => release = r);
    let verdict: Promise<string>;
    const server = await serveWebSocket({
      port: 0,
      handler: (ws) => {
        verdict = (async () => {
          await reading;
          let i = 0;
          for await (const m of ws) {
            if (m.type !== "binary") return `message ${i} is ${m.type}`;
            if (firstDifference(m.data, body(i)) !== -1) return `message ${i} differs`;
            if (++i === sizes.length) return "ok";
          }
          return `only ${i} messages`;
        })();
        return verdict.then(() => {});
      },
    });
    try {
      const ws = await connectWebSocket(`ws://127.0.0.1:${server.addr.port}/`);
      const sent: Promise<void>[] = [];
      for (let i = 0; i < sizes.length; i++) {
        const b = body(i);
        sent.push(ws.sendBinary(b));
        b.fill(0xee); // the connection must not depend on the caller's buffer after the call
      }
      await sleep(100); // the kernel buffers fill; writes wait for the reader
      release();
      await within(Promise.all(sent), 20_000, "sends");
      assert.equal(await within(verdict!, 20_000, "server"), "ok");
      await ws.close();
    } finally {
      await server.close();
    }
  });

  test("a message spread over thousands of chunks queued while nobody reads arrives intact (deliveries do not nest)", async () => {
    await withRawServer(async (server) => {
      let deliveries = 0;
      const connecting = connectWebSocket(server.url, { onBytes: () => deliveries++ });
      const peer = await server.accept();
      const ws = await connecting;
      try {
        // Not reading yet: each byte, written on its own turn, waits as a chunk of its own.
        const payload = Uint8Array.from({ length: 20_000 }, (_, i) => (i * 7) & 0xff);
        const bytes = encodeFrame({ opcode: OP.binary, payload }, null);
        for (let i = 0; i < bytes.length; i++) {
          peer.socket.write(bytes.subarray(i, i + 1));
          await new Promise<void>((r) => setImmediate(r));
        }
        await sleep(50);
        assert.equal(deliveries, 0, "nothing is parsed before recv()");
        const msg = await within(ws.recv(), 5000, "recv");
        assert.ok(msg?.type === "binary");
        assert.equal(msg.data.length, payload.length);
        assert.deepEqual(msg.data, payload);
        // Node and Bun push each read into a queue; Deno's reads are pulled
        // (the kernel coalesces the bytes while nobody reads).
        if (detectRuntime() !== "deno") {
          assert.ok(deliveries > 1000, `only ${deliveries} chunks: the test did not queue many`);
        }
      } finally {
        peer.destroy();
        await ws.close().catch(() => {});
      }
    });
  });

  test("frames sent in one turn leave in one socket write; a lone message is written before the next macrotask", async () => {
    const writes: number[] = [];
    const transport = countingTransport(lazyTransport(detectRuntime()), writes);
    await withRawServer(async (server) => {
      const connecting = connectWebSocket(server.url, { transport });
      const peer = await server.accept();
      const ws = await connecting;
      try {
        assert.equal(writes.length, 1, "the upgrade request");
        const sent = Array.from({ length: 10 }, (_, i) => ws.sendText(`message ${i}`));
        await Promise.all(sent);
        assert.equal(writes.length, 2, `writes: ${writes}`);
        for (let i = 0; i < 10; i++) {
          const f = await peer.nextFrame();
          assert.equal(f && new TextDecoder().decode(f.payload), `message ${i}`);
        }
        await sleep(20);
        let countAtMacrotask = -1;
        setTimeout(() => countAtMacrotask = writes.length, 0);
        await ws.sendText("alone");
        await sleep(20);
        assert.equal(countAtMacrotask, 3, "the lone message waited for a macrotask");
      } finally {
        peer.destroy();
        await ws.close().catch(() => {});
      }
    });
  });
});
