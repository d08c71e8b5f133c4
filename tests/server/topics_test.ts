/**
 * Topics on the server: subscribe / unsubscribe / exact matching, publish
 * with its counts, order against a socket's own sends, encode-once, and the
 * slow-subscriber policies under a 50 MB publish.
 *
 * @module
 */
import { sleep, waitFor } from "./_load.ts";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connectWebSocket } from "../../src/ws/client.ts";
import type { WebSocketConnection } from "../../src/ws/types.ts";
import { serveWebSocket, type ServeWebSocketOptions, type WebSocketServer } from "../../src/server/serve.ts";
import type { AcceptedWebSocket } from "../../src/server/accept.ts";
import type { SlowSubscriberEvent } from "../../src/server/topics.ts";
import { Topics } from "../../src/server/topics.ts";
import { closeCodeOf, closeReasonOf, OP, rawClient, type RawClient } from "../_helpers/raw_peer.ts";

/** Waits (bounded) until `cond` holds. */
const until = (cond: () => boolean, what: string, ms = 10_000) => waitFor(cond, ms, what);

/**
 * A server whose `open` callback subscribes each socket to the topics named
 * in its path (`/a,b`) and hands it to the test, by path.
 */
async function withTopicServer<T>(
  options: Partial<ServeWebSocketOptions>,
  fn: (server: WebSocketServer, url: string, socketAt: (path: string) => Promise<AcceptedWebSocket>) => Promise<T>,
): Promise<T> {
  const byPath = new Map<string, AcceptedWebSocket>();
  const server = await serveWebSocket({
    port: 0,
    open: (ws) => {
      const topics = ws.request.path.slice(1).split("?")[0]!;
      for (const t of topics.split(",")) if (t !== "") ws.subscribe(decodeURIComponent(t));
      byPath.set(ws.request.path, ws);
    },
    message: () => {},
    ...options,
  });
  const socketAt = async (path: string) => {
    await until(() => byPath.has(path), `the server socket for ${path}`);
    return byPath.get(path)!;
  };
  try {
    return await fn(server, `ws://127.0.0.1:${server.addr.port}`, socketAt);
  } finally {
    await server.close();
  }
}

/** Receives `n` data messages as text ("" for binary). */
async function texts(ws: WebSocketConnection, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) {
    const msg = await ws.recv();
    if (msg === null) throw new Error(`closed after ${out.length} of ${n} messages`);
    if (msg.type === "text") out.push(msg.text);
    else if (msg.type === "binary") out.push(`bin:${Array.from(msg.data).join(",")}`);
  }
  return out;
}

describe("server topics", () => {
  test("subscribe, unsubscribe, isSubscribed and topics keep one list; counts follow; a topic without members is forgotten", async () => {
    await withTopicServer({}, async (server, url, socketAt) => {
      const client = await connectWebSocket(`${url}/`);
      const ws = await socketAt("/");
      assert.deepEqual(ws.topics, []);
      assert.equal(ws.subscribe("a"), true);
      assert.equal(ws.subscribe("a"), false, "a second subscribe to the same topic is a no-op");
      assert.equal(ws.subscribe("b"), true);
      assert.equal(ws.subscribe("c"), true);
      assert.deepEqual(ws.topics, ["a", "b", "c"]);
      assert.equal(ws.isSubscribed("b"), true);
      assert.equal(ws.isSubscribed("B"), false);
      assert.equal(server.topics.subscriberCount("a"), 1);
      assert.deepEqual([server.stats.topics, server.stats.subscriptions], [3, 3]);
      assert.equal(ws.unsubscribe("b"), true);
      assert.equal(ws.unsubscribe("b"), false);
      assert.equal(ws.unsubscribe("never"), false);
      assert.deepEqual(ws.topics, ["a", "c"]);
      assert.equal(server.topics.subscriberCount("b"), 0);
      assert.deepEqual([server.stats.topics, server.stats.subscriptions], [2, 2]);
      // The returned list is a copy: changing it changes nothing.
      (ws.topics as string[]).push("zzz");
      assert.deepEqual(ws.topics, ["a", "c"]);
      assert.throws(() => ws.subscribe(42 as unknown as string), TypeError);
      await client.close();
      await until(() => server.stats.subscriptions === 0, "the closed socket to leave its topics");
      assert.deepEqual([server.stats.topics, ws.topics.length, ws.subscribe("a")], [0, 0, false]);
    });
  });

  test("topics match exactly: no prefixes, no wildcards, case and Unicode as given", async () => {
    const names = ["room", "room/1", "Room", "room*", "ä", ""];
    await withTopicServer({}, async (server, url) => {
      const clients: WebSocketConnection[] = [];
      // "" cannot be spelled in the path scheme; it gets a socket of its own below.
      for (const name of names.slice(0, -1)) clients.push(await connectWebSocket(`${url}/${encodeURIComponent(name)}`));
      await until(() => server.stats.subscriptions === names.length - 1, "the subscriptions");
      for (const name of names.slice(0, -1)) {
        assert.deepEqual(server.publish(name, `to ${name}`), { sent: 1, dropped: 0 }, name);
      }
      assert.deepEqual(server.publish("room/", "nobody"), { sent: 0, dropped: 0 });
      assert.deepEqual(server.publish("*", "nobody"), { sent: 0, dropped: 0 });
      for (let i = 0; i < clients.length; i++) {
        assert.deepEqual(await texts(clients[i]!, 1), [`to ${names[i]}`]);
      }
      for (const c of clients) await c.close();
    });
  });

  test("publish reaches every subscriber, leaves out `exclude`, and counts; ws.publish leaves out the sender", async () => {
    await withTopicServer({}, async (server, url, socketAt) => {
      const a = await connectWebSocket(`${url}/chat?a`);
      const b = await connectWebSocket(`${url}/chat?b`);
      const c = await connectWebSocket(`${url}/other?c`);
      const sa = await socketAt("/chat?a");
      await socketAt("/chat?b");
      await socketAt("/other?c");
      assert.deepEqual(server.publish("chat", "to all"), { sent: 2, dropped: 0 });
      assert.deepEqual(server.publish("chat", "not a", { exclude: sa }), { sent: 1, dropped: 0 });
      assert.deepEqual(sa.publish("chat", "from a"), { sent: 1, dropped: 0 });
      assert.deepEqual(server.publish("chat", Uint8Array.of(1, 2, 3)), { sent: 2, dropped: 0 });
      assert.deepEqual(await texts(a, 2), ["to all", "bin:1,2,3"]);
      assert.deepEqual(await texts(b, 4), ["to all", "not a", "from a", "bin:1,2,3"]);
      // A socket may publish to a topic it is not in.
      const sc = await socketAt("/other?c");
      assert.deepEqual(sc.publish("chat", "from c"), { sent: 2, dropped: 0 });
      assert.deepEqual(await texts(a, 1), ["from c"]);
      assert.deepEqual(await texts(b, 1), ["from c"]);
      const stats = server.stats;
      assert.deepEqual([stats.published, stats.sent, stats.dropped, stats.closedSlow], [5, 8, 0, 0]);
      assert.throws(() => server.publish("chat", 5 as unknown as string), TypeError);
      for (const ws of [a, b, c]) await ws.close();
    });
  });

  test("order holds between a socket's own sends and publishes, and per publisher within a topic", async () => {
    await withTopicServer({}, async (server, url, socketAt) => {
      const client = await connectWebSocket(`${url}/t`);
      const other = await connectWebSocket(`${url}/t?other`);
      const ws = await socketAt("/t");
      await socketAt("/t?other");
      const expected: string[] = [];
      const pending: Promise<void>[] = [];
      for (let i = 0; i < 300; i++) {
        if (i % 3 === 0) {
          pending.push(ws.sendText(`own ${i}`));
          expected.push(`own ${i}`);
        } else if (i % 3 === 1) {
          server.publish("t", `pub ${i}`);
          expected.push(`pub ${i}`);
        } else {
          pending.push(ws.sendBinary(Uint8Array.of(i & 0xff)));
          expected.push(`bin:${i & 0xff}`);
        }
        if (i % 50 === 0) await sleep(0); // across event-loop turns too
      }
      await Promise.all(pending);
      assert.deepEqual(await texts(client, expected.length), expected);
      const published = expected.filter((m) => m.startsWith("pub"));
      assert.deepEqual(await texts(other, published.length), published);
      await client.close();
      await other.close();
    });
  });

  test("a published message is encoded once: the caller's bytes may change at once, every subscriber gets the original", async () => {
    await withTopicServer({}, async (server, url) => {
      const clients = await Promise.all([0, 1, 2].map((i) => connectWebSocket(`${url}/x?${i}`)));
      await until(() => server.topics.subscriberCount("x") === 3, "three subscribers");
      const data = Uint8Array.of(9, 8, 7);
      assert.deepEqual(server.publish("x", data), { sent: 3, dropped: 0 });
      data.fill(0);
      for (const c of clients) assert.deepEqual(await texts(c, 1), ["bin:9,8,7"]);
      for (const c of clients) await c.close();
    });
  });

  test("a Topics made for acceptWebSocket rejects sockets it cannot serve, and a socket with no topics says how to get them", () => {
    const topics = new Topics();
    assert.throws(() => topics.add({} as AcceptedWebSocket, "t"), /only WebSockets accepted by sluice/);
    assert.deepEqual(topics.publish("t", "x"), { sent: 0, dropped: 0 });
    assert.throws(() => new Topics({ maxBufferedBytes: 0 }), RangeError);
    assert.throws(() => new Topics({ slowSubscriber: "ignore" as "drop" }), /slowSubscriber must be "close" or "drop"/);
    assert.equal(topics.stats.published, 1);
  });
});

/** 64 KiB messages, each starting with its sequence number. */
const MESSAGE_BYTES = 64 * 1024;
const MESSAGE_COUNT = 800; // 52 MB in all
const MAX_BUFFERED = 1 << 20;

function message(seq: number): Uint8Array {
  const m = new Uint8Array(MESSAGE_BYTES);
  new DataView(m.buffer).setUint32(0, seq);
  m[MESSAGE_BYTES - 1] = seq & 0xff;
  return m;
}

/** Reads binary messages until `count` arrived or the socket closed; fails on any gap or reorder. */
async function readAllInOrder(ws: WebSocketConnection, count: number): Promise<number> {
  let next = 0;
  while (next < count) {
    const msg = await ws.recv();
    if (msg === null) break;
    if (msg.type !== "binary") continue;
    const seq = new DataView(msg.data.buffer, msg.data.byteOffset).getUint32(0);
    assert.equal(seq, next, `message ${next} expected, ${seq} arrived`);
    assert.equal(msg.data.length, MESSAGE_BYTES);
    assert.equal(msg.data[MESSAGE_BYTES - 1], seq & 0xff);
    next++;
  }
  return next;
}

interface SlowRun {
  slow: RawClient;
  slowServer: AcceptedWebSocket;
  events: SlowSubscriberEvent[];
  results: { sent: number; dropped: number }[];
  maxSlowBuffered: number;
  fastReceived: number[];
  server: WebSocketServer;
}

/**
 * Two fast subscribers that read everything and one raw subscriber that
 * stops reading; 800 × 64 KiB published to all three, paced by the fast
 * ones only (a publisher that waits for the slowest would never see the
 * policy).
 */
async function slowSubscriberRun(
  policy: "close" | "drop",
  check: (run: SlowRun) => Promise<void>,
): Promise<void> {
  const events: SlowSubscriberEvent[] = [];
  await withTopicServer({
    maxBufferedBytes: MAX_BUFFERED,
    slowSubscriber: policy,
    onSlowSubscriber: (e) => events.push(e),
    closeTimeout: 500,
  }, async (server, url, socketAt) => {
    const port = server.addr.port;
    const fast = [await connectWebSocket(`${url}/feed?f0`), await connectWebSocket(`${url}/feed?f1`)];
    const slow = await rawClient(port, { path: "/feed?slow" });
    slow.socket.pause(); // stops reading: the kernel buffers fill, then the server's
    const fastServer = [await socketAt("/feed?f0"), await socketAt("/feed?f1")];
    const slowServer = await socketAt("/feed?slow");
    const reading = fast.map((ws) => readAllInOrder(ws, MESSAGE_COUNT));
    const results: { sent: number; dropped: number }[] = [];
    let maxSlowBuffered = 0;
    for (let seq = 0; seq < MESSAGE_COUNT; seq++) {
      // Pace on the fast subscribers' buffers only.
      await until(
        () => fastServer.every((ws) => ws.bufferedAmount <= 4 * MESSAGE_BYTES),
        "the fast subscribers to drain",
        20_000,
      );
      results.push(server.publish("feed", message(seq)));
      maxSlowBuffered = Math.max(maxSlowBuffered, slowServer.bufferedAmount);
    }
    const fastReceived = await Promise.all(reading);
    try {
      await check({ slow, slowServer, events, results, maxSlowBuffered, fastReceived, server });
    } finally {
      slow.destroy();
      for (const ws of fast) await ws.close().catch(() => {});
    }
  });
}

describe("slow subscribers under a 50 MB publish", () => {
  test('policy "close": the reader that stopped is closed with 1008 once its buffer is full, counted and reported once; the others get all 800 in order', async () => {
    await slowSubscriberRun("close", async ({ slow, slowServer, events, results, maxSlowBuffered, fastReceived, server }) => {
      assert.deepEqual(fastReceived, [MESSAGE_COUNT, MESSAGE_COUNT]);
      assert.ok(maxSlowBuffered <= MAX_BUFFERED, `the slow socket's buffer stayed within its bound: ${maxSlowBuffered}`);
      assert.equal(events.length, 1, "one slow-subscriber event for a closed subscriber");
      const [event] = events;
      assert.equal(event!.ws, slowServer);
      assert.equal(event!.action, "closed");
      assert.equal(event!.topic, "feed");
      assert.equal(event!.droppedMessages, 1);
      assert.ok(event!.bufferedBytes + MESSAGE_BYTES > MAX_BUFFERED, `full when reported: ${event!.bufferedBytes}`);
      // Every publish is accounted for: each subscriber took it or is counted, until the
      // closed one has left the topic (after closeTimeout), then two.
      const members = results.map((r) => r.sent + r.dropped);
      const left = members.indexOf(2);
      assert.ok(members.every((n, i) => n === (left === -1 || i < left ? 3 : 2)), `members per publish: ${members}`);
      const dropped = results.reduce((n, r) => n + r.dropped, 0);
      assert.ok(dropped > 0 && dropped < MESSAGE_COUNT - 10, `dropped ${dropped}`);
      assert.equal(slowServer.droppedMessages, dropped, "the slow socket counts what it missed");
      assert.equal(server.stats.closedSlow, 1);
      assert.equal(server.stats.dropped, dropped);
      assert.equal(server.stats.sent, results.reduce((n, r) => n + r.sent, 0));
      // The server gives up on the close handshake after closeTimeout: the socket is gone.
      // (1006 when the stalled peer never answered the close frame within closeTimeout.)
      const info = await slowServer.closed;
      assert.ok(info.code === 1008 || (info.code === 1006 && !info.wasClean), `closed with ${info.code}`);
      assert.equal(server.topics.subscriberCount("feed"), 2, "the closed subscriber left the topic");
      // What it was sent before the close is intact and in order, and the close says why.
      slow.socket.resume();
      await until(() => slow.peerEnded, "the server to end the slow socket");
      const frames = slow.received;
      const data = frames.filter((f) => f.opcode === OP.binary);
      assert.ok(data.length < MESSAGE_COUNT - dropped + 1, `at most what was taken arrived: ${data.length}`);
      data.forEach((f, i) => assert.equal(new DataView(f.payload.buffer, f.payload.byteOffset).getUint32(0), i));
      const close = frames.find((f) => f.opcode === OP.close);
      if (close !== undefined) {
        // Behind a full kernel buffer the close frame may never leave before the timeout.
        assert.equal(closeCodeOf(close), 1008);
        assert.match(closeReasonOf(close), /slow subscriber/);
      }
    });
  });

  test('policy "drop": the stalled reader stays open and misses messages, each counted and reported; what it took arrives whole and in order once it reads again', async () => {
    await slowSubscriberRun("drop", async ({ slow, slowServer, events, results, maxSlowBuffered, fastReceived, server }) => {
      assert.deepEqual(fastReceived, [MESSAGE_COUNT, MESSAGE_COUNT]);
      assert.ok(maxSlowBuffered <= MAX_BUFFERED, `the slow socket's buffer stayed within its bound: ${maxSlowBuffered}`);
      for (const r of results) assert.equal(r.sent + r.dropped, 3);
      const dropped = results.reduce((n, r) => n + r.dropped, 0);
      assert.ok(dropped > MESSAGE_COUNT / 2, `most messages were dropped for the stalled reader: ${dropped}`);
      assert.equal(events.length, dropped, "one event per dropped message");
      assert.ok(events.every((e, i) => e.action === "dropped" && e.ws === slowServer && e.droppedMessages === i + 1));
      assert.equal(slowServer.droppedMessages, dropped);
      assert.equal(slowServer.readyState, "open");
      assert.equal(server.stats.closedSlow, 0);
      // Which messages it took, from the publish results (index = seq).
      const taken: number[] = [];
      results.forEach((r, seq) => {
        if (r.dropped === 0) taken.push(seq);
      });
      assert.equal(taken.length, MESSAGE_COUNT - dropped);
      slow.socket.resume();
      await until(() => slow.received.length >= taken.length, `${taken.length} messages on the slow socket`, 20_000);
      const seqs = slow.received.map((f) => {
        assert.equal(f.opcode, OP.binary);
        assert.equal(f.payload.length, MESSAGE_BYTES);
        return new DataView(f.payload.buffer, f.payload.byteOffset).getUint32(0);
      });
      assert.deepEqual(seqs, taken);
      // Once it has drained, it takes new messages again.
      await until(() => slowServer.bufferedAmount === 0, "the slow socket to drain");
      assert.deepEqual(server.publish("feed", message(MESSAGE_COUNT)), { sent: 3, dropped: 0 });
    });
  });
});
