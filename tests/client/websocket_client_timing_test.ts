/**
 * WebSocketClient timing on a manual clock: backoff delays, attempt resets,
 * handshake retry delays, the heartbeat and the receive timeout. The network
 * is real (loopback); only the client's timers wait for the test to advance
 * time, so nothing here sleeps to wait for a timer.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { WebSocketClient } from "../../src/client/websocket_client.ts";
import { ClientClosed } from "../../src/client/errors.ts";
import { exponentialBackoff, fixedDelay } from "../../src/common/retry.ts";
import type { ConnectionEvent } from "../../src/client/events.ts";
import { ChaosProxy } from "../_helpers/chaos_proxy.ts";
import { ManualClock, seededRandom } from "./_support.ts";
import { feedHandshakers, recordEvents, startFeedServer, until } from "./_feed_server.ts";

/** A loopback port nobody listens on: connecting to it is refused at once. */
async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A feed server behind a chaos proxy; both closed afterwards. */
async function withProxiedServer(
  fn: (proxy: ChaosProxy, server: Awaited<ReturnType<typeof startFeedServer>>) => Promise<void>,
  tickMs = 0,
): Promise<void> {
  const server = await startFeedServer({ tickMs });
  const proxy = await ChaosProxy.start(server.port);
  try {
    await fn(proxy, server);
  } finally {
    await proxy.close();
    await server.close();
  }
}

/** Real-time pause for loopback I/O to happen (never to wait for a client timer). */
const io = (ms = 30) => new Promise((r) => setTimeout(r, ms));

type Of<T extends ConnectionEvent["type"]> = Extract<ConnectionEvent, { type: T }>;
const is = <T extends ConnectionEvent["type"]>(type: T, more: (e: Of<T>) => boolean = () => true) =>
(e: ConnectionEvent): boolean => e.type === type && more(e as Of<T>);

describe("WebSocketClient timing (manual clock)", () => {
  test("reconnect delays follow an exponential strategy exactly, then the client gives up and rejects run()", async () => {
    const clock = new ManualClock();
    const port = await refusedPort();
    const expected = [100, 200, 400, 800, 1000];
    const client = new WebSocketClient(`ws://127.0.0.1:${port}/`, {
      clock,
      retry: exponentialBackoff({ initialMs: 100, maxMs: 1000, jitter: "none", maxAttempts: 6 }),
      pingIntervalMs: 0,
    });
    const rec = recordEvents(client.events());
    const queued = client.send("never sent");
    const outcome = client.run().then(() => null, (e: unknown) => e);
    for (const [i, delay] of expected.entries()) {
      const attempt = i + 2;
      const scheduled = await rec.waitFor(is("reconnectScheduled", (e) => e.attempt === attempt));
      assert.equal((scheduled as Of<"reconnectScheduled">).delayMs, delay);
      assert.deepEqual(clock.pendingDelays, [delay], "the retry sleep is the only timer");
      const connectingBefore = rec.events.filter(is("connecting")).length;
      await clock.advance(delay - 1);
      await io();
      assert.equal(rec.events.filter(is("connecting")).length, connectingBefore, "not before the delay");
      await clock.advance(1);
      await rec.waitFor(is("connecting", (e) => e.attempt === attempt));
    }
    const error = await outcome;
    assert.ok(error instanceof ClientClosed);
    assert.equal(error.code, "CLIENT_GAVE_UP");
    assert.equal((error.cause as { code?: string }).code, "CONNECT_REFUSED");
    await assert.rejects(queued, (e: unknown) => e instanceof ClientClosed && e.code === "CLIENT_GAVE_UP");
    await rec.done;
    const types = rec.events.map((e) => e.type);
    assert.deepEqual(types.slice(-3), ["connecting", "error", "closed"]);
    assert.equal(rec.events.filter(is("error")).length, 6);
    const closed = rec.events.at(-1) as Of<"closed">;
    assert.equal(closed.reason, "gaveUp");
    assert.equal(closed.rejectedMessages, 1);
    assert.equal(client.state().status, "closed");
    assert.equal(client.state().errorCount, 6);
  });

  test("full-jitter delays are exactly the strategy's for the same seeded random source", async () => {
    const clock = new ManualClock();
    const port = await refusedPort();
    const options = { initialMs: 1000, maxMs: 30_000, jitter: "full" as const };
    const reference = exponentialBackoff({ ...options, random: seededRandom(7) });
    const client = new WebSocketClient(`ws://127.0.0.1:${port}/`, {
      clock,
      retry: exponentialBackoff({ ...options, random: seededRandom(7) }),
      pingIntervalMs: 0,
    });
    const rec = recordEvents(client.events());
    const running = client.run();
    try {
      for (let attempt = 1; attempt <= 6; attempt++) {
        const e = await rec.waitFor(is("reconnectScheduled", (s) => s.attempt === attempt + 1));
        const delay = (e as Of<"reconnectScheduled">).delayMs;
        assert.equal(delay, reference.nextDelay(attempt, null, 0));
        assert.ok(delay <= Math.min(30_000, 1000 * 2 ** (attempt - 1)));
        await clock.advance(delay);
      }
    } finally {
      await client.close();
      await running;
    }
  });

  test("the attempt count restarts after a connection stayed up resetAfterMs; a flapping one keeps backing off", async () => {
    await withProxiedServer(async (proxy, server) => {
      const clock = new ManualClock();
      const client = new WebSocketClient(`ws://127.0.0.1:${proxy.port}/`, {
        clock,
        retry: exponentialBackoff({ initialMs: 100, maxMs: 10_000, jitter: "none" }),
        resetAfterMs: 1000,
        handshakers: feedHandshakers(),
        pingIntervalMs: 0,
      });
      const rec = recordEvents(client.events());
      const running = client.run();
      try {
        const delays: number[] = [];
        for (let n = 1; n <= 4; n++) {
          await rec.waitFor(is("connected", (e) => e.id === `c${n}`));
          if (n === 3) await clock.advance(1000); // c3 stays up long enough
          proxy.resetAll();
          const s = await rec.waitFor(is("reconnectScheduled"), 5000, rec.events.length);
          delays.push((s as Of<"reconnectScheduled">).delayMs);
          if (n < 4) await clock.advance((s as Of<"reconnectScheduled">).delayMs);
        }
        // c1, c2 flap (100, 200), c3 was stable (back to 100), c4 flaps again after it (200).
        assert.deepEqual(delays, [100, 200, 100, 200]);
        const attempts = rec.events.filter(is("connected")).map((e) => (e as Of<"connected">).attempt);
        assert.deepEqual(attempts, [1, 1, 2, 1]);
        assert.equal(server.conns.length, 4);
      } finally {
        await client.close();
        await running;
      }
    });
  });

  test("a refused handshake is handshakeFailed then error, and the next attempt waits its retryDelayMs", async () => {
    await withProxiedServer(async (proxy) => {
      const clock = new ManualClock();
      const [auth] = feedHandshakers("wrong-token");
      const client = new WebSocketClient(`ws://127.0.0.1:${proxy.port}/`, {
        clock,
        retry: fixedDelay(10),
        handshakers: [{ ...auth, retryDelayMs: 5000 }],
        pingIntervalMs: 0,
      });
      const rec = recordEvents(client.events());
      const running = client.run();
      try {
        const s = await rec.waitFor(is("reconnectScheduled"));
        assert.equal((s as Of<"reconnectScheduled">).delayMs, 5000);
        assert.deepEqual(rec.events.map((e) => e.type), [
          "connecting",
          "handshakeFailed",
          "error",
          "reconnectScheduled",
        ]);
        const failed = rec.events[1] as Of<"handshakeFailed">;
        assert.equal(failed.handshaker, "auth");
        assert.equal((failed.error as { code?: string }).code, "CLIENT_HANDSHAKE_REJECTED");
        assert.equal(client.state().connectionCount, 0);
      } finally {
        await client.close();
        await running;
      }
    });
  });

  test("a half-open peer is declared dead exactly pongTimeoutMs after the unanswered ping", async () => {
    await withProxiedServer(async (proxy, server) => {
      const clock = new ManualClock();
      const client = new WebSocketClient(`ws://127.0.0.1:${proxy.port}/`, {
        clock,
        retry: fixedDelay(50),
        handshakers: feedHandshakers(),
        pingIntervalMs: 1000,
        pongTimeoutMs: 500,
      });
      const rec = recordEvents(client.events());
      const running = client.run();
      try {
        const up = (await rec.waitFor(is("connected"))) as Of<"connected">;
        // A first ping is answered: RTT known, connection alive.
        await clock.advance(1000);
        await until(() => client.state().lastRttMs !== null, "the first pong");
        proxy.silence(); // from now on nothing passes either way, and nobody closes
        await clock.advance(1000); // the second ping goes out, unanswered
        await clock.advance(499);
        await io(50);
        assert.equal(rec.events.filter(is("disconnected")).length, 0, "alive until the deadline");
        await clock.advance(1);
        const down = (await rec.waitFor(is("disconnected"))) as Of<"disconnected">;
        assert.equal(down.at - up.at, 2500);
        assert.match(down.reason, /dead peer/);
        assert.equal((down.error as { code?: string }).code, "CLIENT_PONG_TIMEOUT");
        assert.equal(down.code, 1006);
        assert.equal(server.conns[0].open, true, "the server never learnt: half-open");
        proxy.heal();
        await clock.advance(50);
        await rec.waitFor(is("connected", (e) => e.id === "c2"));
      } finally {
        await client.close();
        await running;
      }
    });
  });

  test("data arriving within pongTimeoutMs keeps a connection alive while its pongs are missing", async () => {
    await withProxiedServer(async (proxy) => {
      const clock = new ManualClock();
      const client = new WebSocketClient(`ws://127.0.0.1:${proxy.port}/`, {
        clock,
        handshakers: feedHandshakers(),
        pingIntervalMs: 1000,
        pongTimeoutMs: 500,
      });
      const rec = recordEvents(client.events());
      let ticks = 0;
      const reading = (async () => {
        for await (const _ of client.messages()) ticks++;
      })();
      const running = client.run();
      try {
        await rec.waitFor(is("connected"));
        proxy.silence(true, "up"); // pings never reach the server; its ticks still arrive
        await clock.advance(1000);
        for (let i = 0; i < 4; i++) {
          const seen = ticks;
          await until(() => ticks > seen, "a tick");
          await clock.advance(400);
        }
        await io(50);
        assert.equal(rec.events.filter(is("disconnected")).length, 0);
        proxy.silence(true, "down"); // now nothing arrives either
        await clock.advance(500);
        const down = (await rec.waitFor(is("disconnected"))) as Of<"disconnected">;
        assert.match(down.reason, /dead peer/);
      } finally {
        proxy.heal();
        await client.close();
        await running;
        await reading;
      }
    }, 20);
  });

  test("receiveTimeoutMs reconnects a silent feed even while pongs arrive", async () => {
    await withProxiedServer(async (proxy) => {
      const clock = new ManualClock();
      const client = new WebSocketClient(`ws://127.0.0.1:${proxy.port}/`, {
        clock,
        retry: fixedDelay(0),
        handshakers: feedHandshakers(),
        pingIntervalMs: 500,
        pongTimeoutMs: 1900,
        receiveTimeoutMs: 2000,
      });
      const rec = recordEvents(client.events());
      const running = client.run();
      try {
        await rec.waitFor(is("connected"));
        await clock.advance(500);
        await until(() => client.state().lastRttMs !== null, "a pong");
        await clock.advance(1000);
        await clock.advance(499);
        await io(50);
        assert.equal(rec.events.filter(is("disconnected")).length, 0);
        await clock.advance(1);
        const down = (await rec.waitFor(is("disconnected"))) as Of<"disconnected">;
        assert.equal((down.error as { code?: string }).code, "CLIENT_RECEIVE_TIMEOUT");
        assert.match(down.reason, /receiveTimeout/);
        await rec.waitFor(is("connected", (e) => e.id === "c2"));
      } finally {
        await client.close();
        await running;
      }
    });
  });

  test("a pong confirms what was written before its ping; disconnected counts only what came after", async () => {
    await withProxiedServer(async (proxy, server) => {
      const clock = new ManualClock();
      const client = new WebSocketClient(`ws://127.0.0.1:${proxy.port}/`, {
        clock,
        retry: fixedDelay(0),
        handshakers: feedHandshakers(),
        pingIntervalMs: 1000,
        pongTimeoutMs: 900,
      });
      const rec = recordEvents(client.events());
      const running = client.run();
      try {
        await rec.waitFor(is("connected"));
        await Promise.all(["a", "b", "c"].map((m) => client.send(m)));
        assert.equal(client.state().unconfirmedMessages, 3);
        await clock.advance(1000);
        await until(() => client.state().unconfirmedMessages === 0, "the pong's confirmation");
        await Promise.all(["d", "ee"].map((m) => client.send(m)));
        await until(() => server.conns[0].received.includes("ee"), "the server got d and ee");
        proxy.resetAll();
        const down = (await rec.waitFor(is("disconnected"))) as Of<"disconnected">;
        assert.equal(down.unconfirmedMessages, 2);
        assert.equal(down.unconfirmedBytes, 3);
        await rec.waitFor(is("connected", (e) => e.id === "c2"));
        assert.equal(client.state().unconfirmedMessages, 0, "the connect is a confirmed point");
      } finally {
        await client.close();
        await running;
      }
    });
  });
});
