import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Broadcaster, type ConnectionEvent } from "../../src/client/events.ts";
import { SubscriberOverflow } from "../../src/client/errors.ts";
import { collect, settle } from "./_support.ts";

describe("events", () => {
  test("every subscriber gets every item, in order", async () => {
    const hub = new Broadcaster<number>();
    const a = hub.subscribe();
    const b = hub.subscribe();
    for (let i = 0; i < 100; i++) hub.publish(i);
    hub.close();
    const expected = Array.from({ length: 100 }, (_, i) => i);
    assert.deepEqual(await collect(a), expected);
    assert.deepEqual(await collect(b), expected);
  });

  test("a reader waiting for an item gets it as soon as it is published", async () => {
    const hub = new Broadcaster<string>();
    const reader = hub.subscribe().getReader();
    const pending = reader.read();
    await settle(1);
    hub.publish("now");
    assert.deepEqual(await pending, { done: false, value: "now" });
    hub.close();
    assert.equal((await reader.read()).done, true);
  });

  test("a subscriber that falls behind its buffer errors with SubscriberOverflow; the others go on", async () => {
    const hub = new Broadcaster<number>();
    const slow = hub.subscribe({ bufferSize: 3 }).getReader();
    const fast = hub.subscribe({ bufferSize: 3 }).getReader();
    for (let i = 0; i < 10; i++) {
      hub.publish(i);
      assert.equal((await fast.read()).value, i);
    }
    await assert.rejects(slow.read(), (e: unknown) => {
      assert.ok(e instanceof SubscriberOverflow);
      assert.equal(e.code, "CLIENT_SUBSCRIBER_OVERFLOW");
      assert.equal(e.bufferSize, 3);
      return true;
    });
    assert.equal(hub.subscriberCount, 1);
  });

  test("dropOldest keeps the newest bufferSize items and reports the running drop count", async () => {
    const hub = new Broadcaster<number>();
    const drops: number[] = [];
    const stream = hub.subscribe({
      bufferSize: 4,
      overflow: "dropOldest",
      onDrop: (n) => drops.push(n),
    });
    for (let i = 0; i < 1000; i++) hub.publish(i);
    hub.close();
    assert.deepEqual(await collect(stream), [996, 997, 998, 999]);
    assert.equal(drops.length, 996);
    assert.equal(drops.at(-1), 996);
  });

  test("a slow reader that keeps up on average is never cut off", async () => {
    const hub = new Broadcaster<number>();
    const reader = hub.subscribe({ bufferSize: 8 }).getReader();
    const got: number[] = [];
    for (let i = 0; i < 2000; i++) {
      hub.publish(i);
      if (i % 4 === 3) for (let k = 0; k < 4; k++) got.push((await reader.read()).value!);
    }
    assert.equal(got.length, 2000);
    assert.equal(got[1999], 1999);
  });

  test("cancelling a stream or aborting its signal unsubscribes it", async () => {
    const hub = new Broadcaster<number>();
    const cancelled = hub.subscribe();
    const ac = new AbortController();
    const aborted = hub.subscribe({ signal: ac.signal });
    assert.equal(hub.subscriberCount, 2);
    await cancelled.cancel();
    hub.publish(1);
    ac.abort();
    assert.equal(hub.subscriberCount, 0);
    // The aborted subscriber still reads what it got before the abort, then ends.
    assert.deepEqual(await collect(aborted), [1]);
    assert.deepEqual(await collect(hub.subscribe({ signal: AbortSignal.abort() })), []);
  });

  test("close ends streams after their buffered items; error fails them at once", async () => {
    const hub = new Broadcaster<number>();
    const s = hub.subscribe();
    hub.publish(1);
    hub.publish(2);
    hub.close();
    assert.deepEqual(await collect(s), [1, 2]);
    assert.deepEqual(await collect(hub.subscribe()), [], "subscribing after close gives an ended stream");
    assert.throws(() => hub.publish(3), /after the broadcaster ended/);

    const failing = new Broadcaster<number>();
    const f = failing.subscribe();
    failing.publish(1);
    failing.error(new Error("gone"));
    await assert.rejects(collect(f), /gone/);
    await assert.rejects(collect(failing.subscribe()), /gone/);
  });

  test("options are validated with the bad value in the message", () => {
    const hub = new Broadcaster<number>();
    assert.throws(() => hub.subscribe({ bufferSize: 0 }), /bufferSize .*got 0/);
    assert.throws(() => hub.subscribe({ overflow: "block" as never }), /overflow .*got block/);
  });

  test("ConnectionEvent narrows on type", () => {
    const events: ConnectionEvent[] = [
      { type: "connecting", attempt: 1, url: "ws://127.0.0.1:1", at: 0 },
      { type: "connected", id: "c1", attempt: 1, reconnect: false, at: 1 },
      {
        type: "disconnected",
        id: "c1",
        reason: "pong timeout",
        code: 1006,
        wasClean: false,
        unconfirmedMessages: 2,
        unconfirmedBytes: 10,
        connectedForMs: 5,
        at: 6,
      },
      { type: "reconnectScheduled", delayMs: 100, attempt: 2, at: 6 },
      { type: "closed", reason: "shutdown", rejectedMessages: 0, rejectedBytes: 0, at: 7 },
    ];
    const summary = events.map((e) => {
      switch (e.type) {
        case "connected":
          return e.id;
        case "disconnected":
          return `${e.code}:${e.unconfirmedMessages}`;
        case "reconnectScheduled":
          return `${e.attempt}@${e.delayMs}`;
        default:
          return e.type;
      }
    });
    assert.deepEqual(summary, ["connecting", "c1", "1006:2", "2@100", "closed"]);
  });
});
