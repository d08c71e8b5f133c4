/**
 * WebSocketClient through the fault-injecting proxy on loopback, in real
 * time: abrupt close mid-message, half-open silence, byte-by-byte delivery,
 * corrupted frames, refused connections, repeated server restarts (the sluice
 * server and the real `ws` package). Every scenario checks the events in
 * order and that auth and subscribe were re-sent on every connection.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { WebSocketClient } from "../../src/client/websocket_client.ts";
import type { WebSocketClientOptions } from "../../src/client/client_options.ts";
import { fixedDelay } from "../../src/common/retry.ts";
import type { ConnectionEvent } from "../../src/client/events.ts";
import { ProtocolError } from "../../src/core/errors.ts";
import { ChaosProxy } from "../_helpers/chaos_proxy.ts";
import {
  eventTrail,
  feedHandshakers,
  type FeedServer,
  recordEvents,
  type ServerConn,
  startFeedServer,
  until,
} from "./_feed_server.ts";

type Of<T extends ConnectionEvent["type"]> = Extract<ConnectionEvent, { type: T }>;
const AUTH = '{"type":"auth","token":"t0ken"}';
const SUBSCRIBE = '{"type":"subscribe","channels":["trades"]}';

interface Rig {
  server: FeedServer;
  proxy: ChaosProxy;
  client: WebSocketClient;
  rec: ReturnType<typeof recordEvents>;
  texts: string[];
  running: Promise<void>;
}

/** A feed server, a chaos proxy in front, and a client through it; all stopped afterwards. */
async function withRig(
  options: WebSocketClientOptions,
  fn: (rig: Rig) => Promise<void>,
  before: (proxy: ChaosProxy) => void = () => {},
): Promise<void> {
  const server = await startFeedServer();
  const proxy = await ChaosProxy.start(server.port);
  const client = new WebSocketClient(`ws://127.0.0.1:${proxy.port}/`, {
    handshakers: feedHandshakers(),
    retry: fixedDelay(20),
    pingIntervalMs: 0,
    ...options,
  });
  const rec = recordEvents(client.events());
  const texts: string[] = [];
  const reading = (async () => {
    for await (const m of client.messages()) if (m.type === "text") texts.push(m.text);
  })();
  before(proxy);
  const running = client.run();
  try {
    await fn({ server, proxy, client, rec, texts, running });
  } finally {
    proxy.heal();
    await client.close();
    await running.catch(() => {});
    await reading;
    await proxy.close();
    await server.close();
  }
}

/** Every connection that got past the handshake began with auth, then subscribe. */
function assertHandshakes(conns: readonly ServerConn[], count: number): void {
  assert.equal(conns.length, count, `server connections: ${conns.length}`);
  for (const c of conns) assert.deepEqual(c.received.slice(0, 2), [AUTH, SUBSCRIBE]);
}

const connected = (id: string) => (e: ConnectionEvent) => e.type === "connected" && e.id === id;
const disconnected = (id: string) => (e: ConnectionEvent) => e.type === "disconnected" && e.id === id;

describe("WebSocketClient under chaos", () => {
  test("abrupt close mid-message: the torn message is never delivered, the client reconnects and re-authenticates", async () => {
    await withRig({}, async ({ server, proxy, client, rec, texts }) => {
      await rec.waitFor(connected("c1"));
      proxy.closeAfter("down", 30_000); // the 2nd of 5 frames of 20004 bytes is cut
      await client.send('{"type":"burst","n":5,"size":20000}');
      const down = (await rec.waitFor(disconnected("c1"))) as Of<"disconnected">;
      assert.equal(down.code, 1006);
      assert.equal(down.wasClean, false);
      assert.deepEqual(texts.map((t) => [t.slice(0, 4), t.length]), [["b:1:", 20000]]);
      await rec.waitFor(connected("c2"));
      await client.send('{"type":"burst","n":5,"size":20000}');
      await until(() => texts.length === 6, "the second burst");
      assert.deepEqual(texts.slice(1).map((t) => [t.slice(0, 4), t.length]), [1, 2, 3, 4, 5].map((i) => [`b:${i}:`, 20000]));
      assert.deepEqual(eventTrail(rec.events), [
        "connecting",
        "connected:c1",
        "disconnected:c1",
        "reconnectScheduled",
        "connecting",
        "connected:c2",
      ]);
      assertHandshakes(server.conns, 2);
      assert.equal(client.state().reconnectCount, 1);
    });
  });

  test("half-open silence (no FIN, no RST) is detected by the heartbeat within pongTimeout plus a margin", async () => {
    const pingIntervalMs = 100;
    const pongTimeoutMs = 400;
    await withRig({ pingIntervalMs, pongTimeoutMs }, async ({ server, proxy, client, rec }) => {
      await rec.waitFor(connected("c1"));
      await until(() => client.state().lastRttMs !== null, "a first pong");
      const start = performance.now();
      proxy.silence(); // both directions swallowed, FINs included
      const down = (await rec.waitFor(disconnected("c1"), 5000)) as Of<"disconnected">;
      const detectedMs = performance.now() - start;
      assert.equal((down.error as { code?: string }).code, "CLIENT_PONG_TIMEOUT");
      // Not before pongTimeout after the last pong (<= one interval before the silence) …
      assert.ok(detectedMs >= pongTimeoutMs - pingIntervalMs - 20, `too early: ${detectedMs} ms`);
      // … and no later than a ping interval plus pongTimeout, plus a margin for a loaded machine.
      assert.ok(detectedMs <= pingIntervalMs + pongTimeoutMs + 1500, `too late: ${detectedMs} ms`);
      assert.equal(server.conns[0].open, true, "the server still thinks the connection is up");
      proxy.heal();
      await rec.waitFor(connected("c2"));
      assertHandshakes(server.conns, 2);
    });
  });

  test("bytes delayed and delivered one at a time both ways: handshakes and messages arrive whole, no reconnect", async () => {
    await withRig(
      { pingIntervalMs: 200, pongTimeoutMs: 10_000 },
      async ({ server, client, rec, texts }) => {
        await rec.waitFor(connected("c1"), 20_000);
        const sends = ["one", "two", "three"].map((t) =>
          client.send(JSON.stringify({ type: "echo", text: `echo ${t} ✓` }))
        );
        await Promise.all(sends);
        await until(() => texts.length === 3, "three echoes", 20_000);
        assert.deepEqual(texts, ["echo one ✓", "echo two ✓", "echo three ✓"]);
        await until(() => client.state().lastRttMs !== null, "a pong through the trickle", 10_000);
        assert.deepEqual(eventTrail(rec.events), ["connecting", "connected:c1"]);
        assertHandshakes(server.conns, 1);
      },
      (proxy) => proxy.trickle(1), // from the very first byte of the HTTP upgrade
    );
  });

  test("a corrupted frame from the server fails the connection with 1002; the client reconnects", async () => {
    await withRig({}, async ({ server, proxy, client, rec, texts }) => {
      await rec.waitFor(connected("c1"));
      proxy.corrupt("down", 0); // the first header byte of the echo: 0x81 → 0x7e (RSV bits, opcode 0xE)
      await client.send('{"type":"echo","text":"lost"}');
      const down = (await rec.waitFor(disconnected("c1"))) as Of<"disconnected">;
      assert.equal(down.code, 1002);
      assert.ok(down.error instanceof ProtocolError, `got ${String(down.error)}`);
      await rec.waitFor(connected("c2"));
      await client.send('{"type":"echo","text":"fine"}');
      await until(() => texts.length === 1, "the echo on c2");
      assert.deepEqual(texts, ["fine"]);
      assertHandshakes(server.conns, 2);
    });
  });

  test("a corrupted frame to the server gets a 1002 close from it; the client reconnects", async () => {
    await withRig({}, async ({ server, proxy, client, rec }) => {
      await rec.waitFor(connected("c1"));
      proxy.corrupt("up", 0);
      await client.send("m:corrupted");
      const down = (await rec.waitFor(disconnected("c1"))) as Of<"disconnected">;
      assert.equal(down.code, 1002);
      assert.equal(down.unconfirmedMessages, 1, "the corrupted message counts as unconfirmed");
      await rec.waitFor(connected("c2"));
      await client.send("m:ok");
      await until(() => server.conns[1]?.received.includes("m:ok"), "m:ok on the 2nd connection");
      assert.ok(!server.conns[0].received.includes("m:corrupted"));
      assertHandshakes(server.conns, 2);
    });
  });

  test("the server refusing connections for a while: failed attempts are counted in order until it comes back", async () => {
    await withRig({ retry: fixedDelay(50) }, async ({ server, proxy, client, rec }) => {
      await rec.waitFor(connected("c1"));
      proxy.refuseFor(600);
      proxy.resetAll();
      await rec.waitFor(connected("c2"), 10_000);
      assert.ok(proxy.stats.refused >= 2, `refused ${proxy.stats.refused}`);
      const trail = rec.events.slice(rec.events.findIndex(disconnected("c1")));
      // disconnected, reconnectScheduled(1), then per refused attempt n: connecting(n), error(n), reconnectScheduled(n+1)
      assert.equal(trail[1].type, "reconnectScheduled");
      assert.equal((trail[1] as Of<"reconnectScheduled">).attempt, 1);
      const failures = trail.filter((e) => e.type === "error") as Of<"error">[];
      assert.ok(failures.length >= 2 && failures.length === proxy.stats.refused);
      failures.forEach((e, i) => assert.equal(e.attempt, i + 1));
      const expected = ["disconnected", "reconnectScheduled"];
      for (let i = 0; i < failures.length; i++) expected.push("connecting", "error", "reconnectScheduled");
      expected.push("connecting", "connected");
      assert.deepEqual(trail.map((e) => e.type), expected);
      assert.equal((trail.at(-1) as Of<"connected">).attempt, failures.length + 1);
      assert.equal(client.state().errorCount, failures.length + 1, "the drop and each refusal");
      assertHandshakes(server.conns, 2);
    });
  });

  test("repeated server restarts on the same port: one reconnect each, auth and subscribe every time", async () => {
    await withRig({ retry: fixedDelay(30) }, async ({ server, client, rec }) => {
      let current = server;
      try {
        for (let n = 1; n <= 3; n++) {
          await rec.waitFor(connected(`c${n}`));
          await current.close(1001); // going away
          const down = (await rec.waitFor(disconnected(`c${n}`))) as Of<"disconnected">;
          assert.equal(down.code, 1001);
          assert.equal(down.wasClean, true);
          await new Promise((r) => setTimeout(r, 100)); // nobody listening meanwhile
          current = await startFeedServer({ port: server.port }, server.conns);
        }
        await rec.waitFor(connected("c4"));
        assert.equal(client.state().reconnectCount, 3);
        assertHandshakes(server.conns, 4);
        const kinds = rec.events.map((e) => e.type);
        assert.equal(kinds.filter((k) => k === "connected").length, 4);
        assert.equal(kinds.filter((k) => k === "disconnected").length, 3);
        assert.ok(kinds.filter((k) => k === "error").length >= 3, "attempts while the port was closed");
      } finally {
        if (current !== server) await current.close();
      }
    });
  });

  test("against the real ws package: restarts of a ws WebSocketServer, auth and subscribe on every connection", async () => {
    const require = createRequire(import.meta.url);
    const ws = require("../../node_modules/ws/index.js") as WsModule;
    const received: string[][] = [];
    const start = (port: number) =>
      new Promise<WsServer>((resolve) => {
        const wss = new ws.WebSocketServer({ port, host: "127.0.0.1" }, () => resolve(wss));
        wss.on("connection", (socket) => {
          const log: string[] = [];
          received.push(log);
          socket.on("message", (data: Uint8Array) => {
            const text = new TextDecoder().decode(data);
            log.push(text);
            if (text.includes('"auth"')) socket.send('{"type":"authenticated"}');
            else if (text.includes('"subscribe"')) socket.send('{"type":"subscribed"}');
            else socket.send(`ack ${text}`);
          });
        });
      });
    const stop = (wss: WsServer) =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.close(1001, "restart");
        wss.close(() => resolve());
      });
    let wss = await start(0);
    const port = (wss.address() as { port: number }).port;
    const proxy = await ChaosProxy.start(port);
    const client = new WebSocketClient(`ws://127.0.0.1:${proxy.port}/`, {
      handshakers: feedHandshakers(),
      retry: fixedDelay(30),
      pingIntervalMs: 100,
      pongTimeoutMs: 2000,
    });
    const rec = recordEvents(client.events());
    const acks: string[] = [];
    const reading = (async () => {
      for await (const m of client.messages()) if (m.type === "text") acks.push(m.text);
    })();
    const running = client.run();
    try {
      for (let n = 1; n <= 3; n++) {
        await rec.waitFor(connected(`c${n}`));
        await client.send(`m:${n}`);
        await until(() => acks.includes(`ack m:${n}`), `ack ${n}`);
        await until(() => client.state().lastRttMs !== null, "ws answers pings");
        if (n === 3) break;
        if (n === 1) await stop(wss);
        else proxy.resetAll(); // and one abrupt drop
        if (n === 1) wss = await start(port);
      }
      assert.deepEqual(received.map((r) => r.slice(0, 3)), [1, 2, 3].map((n) => [AUTH, SUBSCRIBE, `m:${n}`]));
      const downs = rec.events.filter((e) => e.type === "disconnected") as Of<"disconnected">[];
      assert.deepEqual(downs.map((d) => [d.code, d.wasClean]), [[1001, true], [1006, false]]);
    } finally {
      await client.close();
      await running;
      await reading;
      await proxy.close();
      await stop(wss);
    }
  });
});

interface WsSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  on(event: "message", fn: (data: Uint8Array) => void): void;
}
interface WsServer {
  clients: Set<WsSocket>;
  address(): unknown;
  close(cb: () => void): void;
  on(event: "connection", fn: (socket: WsSocket) => void): void;
}
interface WsModule {
  WebSocketServer: new (o: { port: number; host: string }, cb: () => void) => WsServer;
}
