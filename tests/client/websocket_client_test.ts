/**
 * WebSocketClient against a real loopback server (serveWebSocket): the
 * ordered connect → handshakers → flush sequence, subscribers, sending
 * policies, shutdown, give-up, extensions and presets.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { WebSocketClient } from "../../src/client/websocket_client.ts";
import { fastReconnect, stableConnection } from "../../src/client/client_options.ts";
import { ClientClosed, NotConnected, QueueFull } from "../../src/client/errors.ts";
import { fixedDelay, noRetry } from "../../src/common/retry.ts";
import { HandshakeError } from "../../src/core/errors.ts";
import { serveWebSocket } from "../../src/server/serve.ts";
import type { Extension } from "../../src/client/extensions.ts";
import type { HandshakeConnection } from "../../src/client/handshake.ts";
import type { Message } from "../../src/core/ws/message.ts";
import { ChaosProxy } from "../_helpers/chaos_proxy.ts";
import {
  eventTrail,
  feedHandshakers,
  type FeedServer,
  recordEvents,
  startFeedServer,
  until,
} from "./_feed_server.ts";

async function withServer(
  fn: (server: FeedServer, url: string) => Promise<void>,
  tickMs = 0,
): Promise<void> {
  const server = await startFeedServer({ tickMs });
  try {
    await fn(server, `ws://127.0.0.1:${server.port}/`);
  } finally {
    await server.close();
  }
}

const texts = (ms: Message[]) => ms.map((m) => (m.type === "text" ? m.text : `<${m.type}>`));

describe("WebSocketClient", () => {
  test("sends queued before run() go out only after auth and subscribe, then connected is emitted", async () => {
    await withServer(async (server, url) => {
      const client = new WebSocketClient(url, { handshakers: feedHandshakers(), pingIntervalMs: 0 });
      const rec = recordEvents(client.events());
      const sent = [client.send("m:1"), client.send("m:2"), client.send(new Uint8Array([1, 2]))];
      assert.equal(client.state().queuedMessages, 3);
      assert.equal(client.isConnected, false);
      const running = client.run();
      await Promise.all(sent);
      await until(() => server.conns[0]?.received.length === 4, "four text messages at the server");
      assert.deepEqual(server.conns[0].received, [
        '{"type":"auth","token":"t0ken"}',
        '{"type":"subscribe","channels":["trades"]}',
        "m:1",
        "m:2",
      ]);
      assert.equal(client.isConnected, true);
      const s = client.state();
      assert.equal(s.status, "connected");
      assert.equal(s.id, "c1");
      assert.equal(s.connectionCount, 1);
      assert.equal(s.reconnectCount, 0);
      assert.equal(s.queuedMessages, 0);
      assert.ok(s.connectedSince !== null && s.connectedForMs !== null);
      await client.close();
      await running;
      await rec.done;
      assert.deepEqual(eventTrail(rec.events), [
        "connecting",
        "connected:c1",
        "disconnected:c1",
        "closed",
      ]);
      const down = rec.events[2];
      assert.ok(down.type === "disconnected" && down.wasClean && down.code === 1000);
      assert.equal(client.state().status, "closed");
    });
  });

  test("readable keeps what arrives before the first read; tee() gives two consumers every message, in order, as owned copies", async () => {
    await withServer(async (_server, url) => {
      const client = new WebSocketClient(url, { handshakers: feedHandshakers(), pingIntervalMs: 0 });
      const running = client.run();
      await client.send('{"type":"burst","n":50,"size":40}');
      await client.send('{"type":"echo","text":"last"}');
      // Nothing reads yet: the messages wait in the client's buffer.
      await until(() => client.state().connectedForMs !== null, "connected");
      await new Promise((res) => setTimeout(res, 150));
      const [a, b] = client.readable.tee();
      assert.throws(() => client.messages(), /already being read: use client\.readable\.tee\(\)/);
      const collect = async (stream: ReadableStream<Message>) => {
        const out: Message[] = [];
        const reader = stream.getReader();
        for (;;) {
          const r = await reader.read();
          if (r.done) return out;
          out.push(r.value);
          if (r.value.type === "text" && r.value.text === "last") {
            reader.releaseLock();
            return out;
          }
        }
      };
      const [ma, mb] = await Promise.all([collect(a), collect(b)]);
      await client.close();
      await running;
      const expected = [...Array.from({ length: 50 }, (_, i) => `b:${i + 1}:`), "last"];
      assert.deepEqual(texts(ma).map((t) => t.replace(/x+$/, "")), expected);
      assert.deepEqual(texts(mb), texts(ma));
      for (const m of ma) {
        // Owned: each payload has a buffer of its own, not a view into a socket chunk.
        assert.ok(m.type === "text" && m.data.byteOffset === 0);
        assert.equal(m.data.buffer.byteLength, m.data.byteLength);
      }
    });
  });

  test("a reader that holds back stops the socket reads (maxBufferedMessages) without losing a message or tripping the heartbeat", async () => {
    await withServer(async (_server, url) => {
      const client = new WebSocketClient(url, {
        handshakers: feedHandshakers(),
        pingIntervalMs: 20,
        pongTimeoutMs: 60,
        receiveTimeoutMs: 80,
        maxBufferedMessages: 4,
      });
      const rec = recordEvents(client.events());
      const running = client.run();
      await client.send('{"type":"burst","n":300,"size":2000}');
      await client.send('{"type":"echo","text":"last"}');
      await rec.waitFor((e) => e.type === "connected");
      // Hold back far longer than the pong and receive timeouts.
      await new Promise((res) => setTimeout(res, 400));
      const got: string[] = [];
      const parse = new TransformStream<Message, string>({
        transform(m, out) {
          if (m.type === "text") out.enqueue(m.text.replace(/x+$/, ""));
        },
      });
      const sink = new WritableStream<string>({
        write(text) {
          got.push(text);
          if (text === "last") void client.close();
        },
      });
      // Bounded: a drop (the heartbeat tripping) would never bring "last" again.
      const guard = setTimeout(() => void client.close(), 10_000);
      const dropped = client.events().getReader();
      void (async () => {
        for (;;) {
          const r = await dropped.read();
          if (r.done || r.value.type === "disconnected") return void client.close();
        }
      })();
      await client.readable.pipeThrough(parse).pipeTo(sink);
      clearTimeout(guard);
      await running;
      assert.deepEqual(got, [...Array.from({ length: 300 }, (_, i) => `b:${i + 1}:`), "last"]);
      assert.equal(rec.events.filter((e) => e.type === "disconnected").length, 1, "only the final close");
      assert.equal(rec.events.filter((e) => e.type === "connected").length, 1, "no reconnect");
    });
  });

  test("client.writable: piped messages go through the queue in order; a full queue holds the pipe back", async () => {
    await withServer(async (_server, url) => {
      const client = new WebSocketClient(url, {
        handshakers: feedHandshakers(),
        pingIntervalMs: 0,
        sendQueueCapacity: 4,
      });
      const running = client.run();
      const n = 200;
      const source = new ReadableStream<string>({
        start(c) {
          for (let i = 0; i < n; i++) c.enqueue(JSON.stringify({ type: "echo", text: `m${i}` }));
          c.close();
        },
      });
      const echoed: string[] = [];
      const reading = (async () => {
        for await (const m of client.messages()) {
          if (m.type !== "text") continue;
          echoed.push(m.text);
          if (echoed.length === n) break;
        }
      })();
      await source.pipeTo(client.writable, { preventClose: true });
      await reading;
      await client.close();
      await running;
      assert.deepEqual(echoed, Array.from({ length: n }, (_, i) => `m${i}`));
    });
  });

  test("close() rejects queued sends with CLIENT_CLOSED, ends every stream, and resolves run()", async () => {
    const proxy = await ChaosProxy.start(1); // nothing behind it: every attempt fails
    try {
      const client = new WebSocketClient(`ws://127.0.0.1:${proxy.port}/`, {
        retry: fixedDelay(20),
        pingIntervalMs: 0,
      });
      const rec = recordEvents(client.events());
      const messages = client.messages().getReader();
      const running = client.run();
      const pending = [client.send("a"), client.sendTimeout("bb", 60_000)];
      await rec.waitFor((e) => e.type === "reconnectScheduled");
      await client.close();
      await running;
      for (const p of pending) {
        await assert.rejects(p, (e: unknown) => e instanceof ClientClosed && e.code === "CLIENT_CLOSED");
      }
      await assert.rejects(client.send("late"), ClientClosed);
      assert.throws(() => client.trySend("late"), ClientClosed);
      assert.equal((await messages.read()).done, true);
      await rec.done;
      const closed = rec.events.at(-1);
      assert.ok(closed?.type === "closed");
      assert.equal(closed.reason, "shutdown");
      assert.equal(closed.rejectedMessages, 2);
      assert.equal(closed.rejectedBytes, 3);
      assert.equal(client.isConnected, false);
    } finally {
      await proxy.close();
    }
  });

  test("run(signal): aborting the signal shuts down gracefully; close() before run() makes run() resolve at once", async () => {
    await withServer(async (server, url) => {
      const client = new WebSocketClient(url, { handshakers: feedHandshakers(), pingIntervalMs: 0 });
      const controller = new AbortController();
      const rec = recordEvents(client.events());
      const running = client.run(controller.signal);
      await rec.waitFor((e) => e.type === "connected");
      controller.abort();
      await running;
      await until(() => server.conns[0].open === false, "the server saw the close");
      await assert.rejects(client.run(), /already called/);
      const idle = new WebSocketClient(url);
      await idle.close();
      await idle.run();
      assert.equal(idle.state().status, "closed");
    });
  });

  test("whileDisconnected reject fails sends at once with NotConnected; trySend throws QueueFull when full", async () => {
    const strict = new WebSocketClient("ws://127.0.0.1:1/", { whileDisconnected: "reject" });
    assert.throws(() => strict.trySend("x"), NotConnected);
    await assert.rejects(strict.send("x"), (e: unknown) => e instanceof NotConnected && e.retryable);
    await strict.close();
    const small = new WebSocketClient("ws://127.0.0.1:1/", { sendQueueCapacity: 2 });
    const kept = [small.trySend("1"), small.trySend("2")];
    try {
      small.trySend("3");
      assert.fail("expected QueueFull");
    } catch (e) {
      assert.ok(e instanceof QueueFull);
      assert.equal(e.queuedMessages, 2);
      assert.equal(e.maxMessages, 2);
    }
    await small.close();
    for (const p of kept) await assert.rejects(p, ClientClosed);
  });

  test("retries exhausted: run() rejects with CLIENT_GAVE_UP carrying the last error, queued sends are rejected", async () => {
    await withServer(async (_server, url) => {
      const client = new WebSocketClient(url, {
        handshakers: feedHandshakers("wrong"),
        retry: fixedDelay(5, { maxAttempts: 3 }),
        pingIntervalMs: 0,
      });
      const rec = recordEvents(client.events());
      const queued = client.send("never");
      const error = await client.run().then(() => null, (e: unknown) => e);
      assert.ok(error instanceof ClientClosed);
      assert.equal(error.code, "CLIENT_GAVE_UP");
      assert.equal((error.cause as { code?: string }).code, "CLIENT_HANDSHAKE_REJECTED");
      await assert.rejects(queued, (e: unknown) => e === error);
      await rec.done;
      assert.equal(rec.events.filter((e) => e.type === "handshakeFailed").length, 3);
      assert.equal(rec.events.filter((e) => e.type === "reconnectScheduled").length, 2);
      const closed = rec.events.at(-1);
      assert.ok(closed?.type === "closed" && closed.reason === "gaveUp");
      assert.equal(closed.rejectedMessages, 1);
    });
  });

  test("a 404 refusal of the upgrade is not retried: run() rejects with it, the error event says willRetry: false", async () => {
    let upgrades = 0;
    const server = await serveWebSocket({
      port: 0,
      onUpgrade: () => {
        upgrades++;
        return { reject: { status: 404, body: "no such feed: /v0" } };
      },
      handler: () => {},
    });
    try {
      const url = `ws://127.0.0.1:${server.addr.port}/v0`;
      const client = new WebSocketClient(url, { retry: fixedDelay(5), pingIntervalMs: 0 });
      const rec = recordEvents(client.events());
      const queued = client.send("never");
      const error = await client.run().then(() => null, (e: unknown) => e);
      assert.ok(error instanceof HandshakeError, `run() rejected with ${error}`);
      assert.equal(error.status, 404);
      assert.equal(error.retryable, false);
      assert.match(error.message, /no such feed: \/v0/, "the message quotes the body");
      const sent = await queued.then(() => null, (e: unknown) => e);
      assert.ok(sent instanceof ClientClosed && sent.code === "CLIENT_NOT_RETRYABLE", `${sent}`);
      assert.equal(sent.cause, error);
      assert.match(sent.message, /retryable: \(\) => true/, "the message says how to retry anyway");
      await rec.done;
      assert.equal(upgrades, 1, "one attempt only");
      const failed = rec.events.find((e) => e.type === "error");
      assert.ok(failed?.type === "error" && failed.willRetry === false && failed.error === error);
      const closed = rec.events.at(-1);
      assert.ok(closed?.type === "closed" && closed.reason === "notRetryable");
      assert.equal(closed.error, error);
      assert.equal(closed.rejectedMessages, 1);
      assert.equal(rec.events.filter((e) => e.type === "reconnectScheduled").length, 0);

      // An option hands the decision back to the strategy; a 503 is retried by default.
      const anyway = new WebSocketClient(url, {
        retry: fixedDelay(5, { maxAttempts: 3 }),
        retryable: () => true,
        pingIntervalMs: 0,
      });
      const e2 = await anyway.run().then(() => null, (e: unknown) => e);
      assert.ok(e2 instanceof ClientClosed && e2.code === "CLIENT_GAVE_UP", `${e2}`);
      assert.equal(upgrades, 4, "three more attempts");
    } finally {
      await server.close();
    }
    let busy = 0;
    const unavailable = await serveWebSocket({
      port: 0,
      onUpgrade: () => (busy++ < 2 ? { reject: { status: 503, body: "restarting" } } : undefined),
      handler: async (ws) => {
        await ws.sendText("up");
        await ws.close(1000);
      },
    });
    try {
      const client = new WebSocketClient(`ws://127.0.0.1:${unavailable.addr.port}/`, {
        retry: fixedDelay(5),
        pingIntervalMs: 0,
      });
      const rec = recordEvents(client.events());
      const running = client.run();
      await rec.waitFor((e) => e.type === "connected");
      assert.equal(busy, 3, "two 503 refusals were retried");
      const errors = rec.events.filter((e) => e.type === "error");
      assert.ok(errors.every((e) => e.type === "error" && e.willRetry), "each said it would retry");
      await client.close();
      await running;
    } finally {
      await unavailable.close();
    }
  });

  test("exitOnFirstFailure rejects run() on the first failed attempt, and on the first drop", async () => {
    const first = new WebSocketClient("ws://127.0.0.1:1/", { exitOnFirstFailure: true });
    const e1 = await first.run().then(() => null, (e: unknown) => e);
    assert.ok(e1 instanceof ClientClosed && e1.code === "CLIENT_GAVE_UP");
    await withServer(async (server, url) => {
      const client = new WebSocketClient(url, {
        exitOnFirstFailure: true,
        handshakers: feedHandshakers(),
        pingIntervalMs: 0,
      });
      const rec = recordEvents(client.events());
      const outcome = client.run().then(() => null, (e: unknown) => e);
      await rec.waitFor((e) => e.type === "connected");
      await server.close(1001);
      const e2 = await outcome;
      assert.ok(e2 instanceof ClientClosed && e2.code === "CLIENT_GAVE_UP");
      assert.deepEqual(eventTrail(rec.events), ["connecting", "connected:c1", "disconnected:c1", "closed"]);
    });
  });

  test("extensions: hooks in order, a fresh incoming transform per connection that can rewrite and drop", async () => {
    await withServer(async (server, _url) => {
      const calls: string[] = [];
      let factories = 0;
      const upper: Extension = {
        name: "upper",
        onConnect: (i) => calls.push(`connect ${i.id}`),
        onDisconnect: (i) => calls.push(`disconnect ${i.id} ${i.code}`),
        onSend: (m) => calls.push(`send ${String(m)}`),
        incoming: () => {
          factories++;
          return new TransformStream<Message, Message>({
            transform(m, c) {
              if (m.type !== "text") return c.enqueue(m);
              if (m.text.startsWith("drop")) return; // dropped
              const text = m.text.toUpperCase();
              c.enqueue({ type: "text", text, data: new TextEncoder().encode(text) });
            },
          });
        },
      };
      const broken: Extension = {
        name: "broken",
        onConnect: () => {
          throw new Error("hook bug");
        },
      };
      const proxy = await ChaosProxy.start(server.port);
      try {
        const client = new WebSocketClient(`ws://127.0.0.1:${proxy.port}/`, {
          handshakers: feedHandshakers(),
          extensions: [upper, broken],
          retry: fixedDelay(10),
          pingIntervalMs: 0,
        });
        const rec = recordEvents(client.events());
        const got: string[] = [];
        const reading = (async () => {
          for await (const m of client.messages()) if (m.type === "text") got.push(m.text);
        })();
        const running = client.run();
        await client.send('{"type":"echo","text":"drop me"}');
        await client.send('{"type":"echo","text":"hello"}');
        await until(() => got.length === 1, "the first echo");
        proxy.resetAll();
        await rec.waitFor((e) => e.type === "connected" && e.id === "c2");
        await client.send('{"type":"echo","text":"again"}');
        await until(() => got.length === 2, "the second echo");
        await client.close();
        await running;
        await reading;
        assert.deepEqual(got, ["HELLO", "AGAIN"]);
        assert.equal(factories, 2);
        assert.deepEqual(calls, [
          "connect c1",
          'send {"type":"echo","text":"drop me"}',
          'send {"type":"echo","text":"hello"}',
          "disconnect c1 1006",
          "connect c2",
          'send {"type":"echo","text":"again"}',
          "disconnect c2 1000",
        ]);
        const hookErrors = rec.events.filter((e) => e.type === "error");
        assert.equal(hookErrors.length, 2, "the throwing hook is reported once per connection");
        assert.match(String((hookErrors[0] as { error: Error }).error.message), /broken.*onConnect/);
      } finally {
        await proxy.close();
      }
    });
  });

  test("messages the handshakers pass on are delivered first, through the extensions", async () => {
    await withServer(async (_server, url) => {
      // Subscribe answers with a burst before the confirmation: those ticks must not be lost.
      const client = new WebSocketClient(url, {
        handshakers: [
          ...feedHandshakers().slice(0, 1),
          {
            name: "subscribe",
            async run(c) {
              await c.sendText('{"type":"burst","n":3,"size":5}');
              await c.sendText('{"type":"subscribe","channels":["x"]}');
              for (;;) {
                const m = await c.recv();
                if (m?.type === "text" && m.text.includes("subscribed")) return;
                if (m) c.forward(m);
              }
            },
          },
        ],
        pingIntervalMs: 0,
      });
      const got: string[] = [];
      const reading = (async () => {
        for await (const m of client.messages()) if (m.type === "text") got.push(m.text);
      })();
      const running = client.run();
      await client.send('{"type":"echo","text":"after"}');
      await until(() => got.length === 4, "3 forwarded + 1 live");
      await client.close();
      await running;
      await reading;
      assert.deepEqual(got, ["b:1:x", "b:2:x", "b:3:x", "after"]);
    });
  });

  test("more messages before the handshakes complete than maxBufferedMessages fail the attempt", async () => {
    await withServer(async (_server, url) => {
      const flood = {
        name: "flood",
        async run(c: HandshakeConnection) {
          await c.sendText('{"type":"burst","n":20,"size":5}');
          for (;;) {
            const m = await c.recv();
            if (m) c.forward(m);
          }
        },
      };
      const client = new WebSocketClient(url, {
        handshakers: [flood],
        maxBufferedMessages: 8,
        retry: noRetry(),
        pingIntervalMs: 0,
      });
      const rec = recordEvents(client.events());
      const error = await client.run().then(() => null, (e: unknown) => e);
      assert.ok(error instanceof ClientClosed);
      const failed = rec.events.find((e) => e.type === "handshakeFailed");
      assert.ok(failed?.type === "handshakeFailed");
      assert.equal((failed.error as { code?: string }).code, "CLIENT_HANDSHAKE_FAILED");
      assert.match(String((failed.error as Error).message), /maxBufferedMessages \(8\)/);
    });
  });

  test("constructor validates the URL and options, naming the bad value", () => {
    assert.throws(() => new WebSocketClient("http://x:1/#frag"), TypeError);
    assert.throws(() => new WebSocketClient("ftp://x/"), /ws: or wss:/);
    assert.throws(() => new WebSocketClient("ws://x/", { pongTimeoutMs: 0 }), /pongTimeoutMs.*got 0/);
    assert.throws(() => new WebSocketClient("ws://x/", { sendQueueCapacity: 1.5 }), RangeError);
    assert.throws(() => new WebSocketClient("ws://x/", { whileDisconnected: "drop" as "reject" }), /drop/);
    assert.throws(
      () => new WebSocketClient("ws://x/", { handshakers: [{} as never] }),
      /handshakers\[0\]/,
    );
  });

  test("presets: fastReconnect and stableConnection give their own strategy and merge overrides", () => {
    const a = fastReconnect();
    const b = fastReconnect({ pingIntervalMs: 1234, connect: { protocols: ["feed"] } });
    assert.notEqual(a.retry, b.retry);
    assert.equal(b.pingIntervalMs, 1234);
    assert.deepEqual(b.connect, { connectTimeout: 3000, handshakeTimeout: 3000, protocols: ["feed"] });
    const fast = a.retry as { nextDelay: (n: number, e: unknown, t: number) => number | null };
    assert.ok(fast.nextDelay(1, null, 0)! <= 100);
    const stable = stableConnection();
    assert.equal(stable.resetAfterMs, 60_000);
    assert.ok(stable.pingIntervalMs! > a.pingIntervalMs!);
    new WebSocketClient("ws://127.0.0.1:1/", a);
    new WebSocketClient("ws://127.0.0.1:1/", stable);
  });

  test("fastReconnect() recovers from a server restart on the same port within a second", async () => {
    const first = await startFeedServer();
    const port = first.port;
    let second: FeedServer | null = null;
    try {
      const client = new WebSocketClient(`ws://127.0.0.1:${port}/`, fastReconnect({
        handshakers: feedHandshakers(),
      }));
      const rec = recordEvents(client.events());
      const running = client.run();
      await rec.waitFor((e) => e.type === "connected");
      await first.close(1001);
      const down = await rec.waitFor((e) => e.type === "disconnected");
      second = await startFeedServer({ port }, first.conns);
      const up = await rec.waitFor((e) => e.type === "connected" && e.id !== "c1", 5000);
      assert.ok(up.at - down.at < 1000, `recovered in ${Math.round(up.at - down.at)} ms`);
      assert.equal(client.state().reconnectCount, 1);
      await client.close();
      await running;
      assert.equal(first.conns.length, 2);
      for (const c of first.conns) assert.match(c.received[0], /"auth"/);
    } finally {
      await second?.close();
    }
  });
});
