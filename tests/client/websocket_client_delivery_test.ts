/**
 * The send queue's delivery promise under sustained chaos: 10,000 numbered
 * messages through the fault-injecting proxy while connections are reset,
 * cut mid-frame, silenced (half-open), refused, corrupted both ways, and the
 * server restarts. The server must see no duplicate and no reordering, and
 * every message it did not receive must have been rejected to the caller or
 * counted as unconfirmed in the `disconnected` event of the connection it
 * was written on — checked message by message.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { WebSocketClient } from "../../src/client/websocket_client.ts";
import { exponentialBackoff } from "../../src/common/retry.ts";
import type { Extension } from "../../src/client/extensions.ts";
import { TimeoutError } from "../../src/core/errors.ts";
import { ChaosProxy } from "../_helpers/chaos_proxy.ts";
import {
  feedHandshakers,
  type FeedServer,
  recordEvents,
  type ServerConn,
  startFeedServer,
  until,
} from "./_feed_server.ts";

const TOTAL = 10_000;
const WINDOW = 256;
const SEND_TIMEOUT_MS = 250;

/** What one connection wrote, in order, and what its `disconnected` event called unconfirmed. */
interface Segment {
  id: string;
  written: number[];
  unconfirmed: number | null;
}

const seqOf = (text: string) => (text.startsWith("m:") ? Number(text.slice(2)) : null);

describe("WebSocketClient delivery accounting", () => {
  test("10,000 messages under chaos: no duplicate, no reordering, every missing message rejected or counted unconfirmed", async () => {
    const conns: ServerConn[] = [];
    const arrivals: string[] = [];
    let server: FeedServer = await startFeedServer({ tickMs: 5, arrivals }, conns);
    const port = server.port;
    const proxy = await ChaosProxy.start(port);

    // The audit extension sees every write and every disconnect synchronously, in order.
    const segments: Segment[] = [];
    let writtenCount = 0;
    let nextFault = 0;
    let faultPending = false;
    const faultLog: string[] = [];
    const audit: Extension = {
      name: "audit",
      onConnect: (info) => {
        segments.push({ id: info.id, written: [], unconfirmed: null });
        faultPending = false;
      },
      onSend: (m) => {
        const seq = typeof m === "string" ? seqOf(m) : null;
        if (seq === null) return;
        const segment = segments.at(-1)!;
        segment.written.push(seq);
        writtenCount++;
        // One fault per connection once it carried 400 messages, and only
        // after the previous fault's reconnect: every fault must take its
        // connection down by itself, or the chaos stalls and the test fails.
        if (segment.written.length === 400 && !faultPending && nextFault < faults.length) {
          faultPending = true;
          const fault = faults[nextFault++];
          setTimeout(() => void fault(), 0);
        }
      },
      onDisconnect: (info) => void (segments.at(-1)!.unconfirmed = info.unconfirmedMessages),
    };
    const client = new WebSocketClient(`ws://127.0.0.1:${proxy.port}/`, {
      handshakers: feedHandshakers(),
      extensions: [audit],
      retry: exponentialBackoff({ initialMs: 10, maxMs: 200, jitter: "full" }),
      pingIntervalMs: 50,
      pongTimeoutMs: 300,
      sendQueueCapacity: 1024,
    });
    const rec = recordEvents(client.events());
    const afterNextDown = async () => {
      const from = rec.events.length;
      await rec.waitFor((e) => e.type === "disconnected", 5000, from);
    };
    const restart = async () => {
      await server.close(1001);
      await new Promise((r) => setTimeout(r, 60));
      server = await startFeedServer({ port, tickMs: 5, arrivals }, conns);
    };
    const faults: (() => unknown)[] = [
      () => proxy.resetAll(),
      () => proxy.closeAfter("up", 777), // torn client frame
      restart,
      async () => { // half-open: nothing passes, nobody closes
        proxy.silence();
        await afterNextDown();
        proxy.heal();
      },
      () => {
        proxy.refuseFor(300);
        proxy.resetAll();
      },
      // 16 flipped bytes span two frames at least, so they hit a frame header
      // (RSV bits: 1002) or a text payload (invalid UTF-8: 1007), never only
      // a ping's or pong's payload.
      () => { // server → client (ticks flow every 5 ms)
        for (let i = 0; i < 16; i++) proxy.corrupt("down", i);
      },
      () => { // client → server
        for (let i = 0; i < 16; i++) proxy.corrupt("up", i);
      },
      () => proxy.closeAfter("down", 5),
      restart,
      () => proxy.resetAll(),
    ].map((f, i) => async () => {
      faultLog.push(`fault ${i} at ${writtenCount}`);
      await f();
    });

    const running = client.run();
    const resolved = new Set<number>();
    const rejected = new Map<number, unknown>();
    const started = performance.now();
    try {
      const outstanding = new Set<Promise<void>>();
      for (let seq = 1; seq <= TOTAL; seq++) {
        const p: Promise<void> = client.sendTimeout(`m:${seq}`, SEND_TIMEOUT_MS).then(
          () => void resolved.add(seq),
          (e) => void rejected.set(seq, e),
        ).finally(() => outstanding.delete(p));
        outstanding.add(p);
        if (outstanding.size >= WINDOW) await Promise.race(outstanding);
        // About 5 messages per ms, so that every fault plays out within the run.
        if (seq % 8 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      await Promise.all(outstanding);
      assert.ok(performance.now() - started < 30_000);
      await until(() => client.isConnected, "connected at the end", 10_000);
      await client.close(); // graceful: the server reads everything before our close frame
      await running;
    } finally {
      proxy.heal();
      await proxy.close();
      await server.close();
    }

    // Each message settled exactly once.
    assert.equal(resolved.size + rejected.size, TOTAL);
    for (const e of rejected.values()) {
      assert.ok(e instanceof TimeoutError && e.code === "CLIENT_SEND_TIMEOUT", String(e));
    }

    // The server: no duplicate, no reordering (across connections too).
    const seen = arrivals.map(seqOf).filter((s): s is number => s !== null);
    for (let i = 1; i < seen.length; i++) {
      assert.ok(seen[i] > seen[i - 1], `reordered or duplicated: ${seen[i - 1]} then ${seen[i]}`);
    }
    const received = new Set(seen);

    // Written = resolved, in send order; rejected never reached the server.
    const written = segments.flatMap((s) => s.written);
    assert.deepEqual(written, [...resolved].sort((a, b) => a - b));
    for (const seq of rejected.keys()) assert.ok(!received.has(seq), `rejected m:${seq} arrived`);

    // Per connection: the confirmed prefix arrived; what is missing lies in the unconfirmed tail.
    let missing = 0;
    let unconfirmedTotal = 0;
    for (const s of segments) {
      assert.ok(s.unconfirmed !== null, `${s.id} has no disconnected event`);
      assert.ok(s.unconfirmed <= s.written.length);
      const confirmedUpTo = s.written.length - s.unconfirmed;
      s.written.forEach((seq, i) => {
        if (received.has(seq)) return;
        missing++;
        assert.ok(i >= confirmedUpTo, `${s.id}: m:${seq} was confirmed by a pong but never arrived`);
      });
      unconfirmedTotal += s.unconfirmed;
    }
    for (let seq = 1; seq <= TOTAL; seq++) {
      assert.ok(received.has(seq) || rejected.has(seq) || resolved.has(seq), `m:${seq} vanished`);
    }
    assert.ok(missing <= unconfirmedTotal);

    // The chaos happened, and every connection authenticated and subscribed first.
    assert.equal(nextFault, faults.length, faultLog.join("; "));
    const state = client.state();
    const reasons = rec.events.flatMap((e) => e.type === "disconnected" ? [e.reason] : []);
    assert.ok(state.reconnectCount >= faults.length, `${faultLog.join("; ")}: ${reasons.join("; ")} // ${rec.events.map((e) => e.type + ("id" in e ? ":" + e.id : "")).join(" ")}`);
    for (const c of conns) {
      if (!c.received.some((t) => t.startsWith("m:"))) continue;
      assert.match(c.received[0], /"auth"/);
      assert.match(c.received[1], /"subscribe"/);
    }
    assert.equal(rec.events.filter((e) => e.type === "connected").length, segments.length);
    console.log(
      `delivery: ${received.size} received, ${rejected.size} rejected (send timeout), ` +
        `${missing} lost on the wire of ${unconfirmedTotal} unconfirmed, ` +
        `${segments.length} connections, ${Math.round(performance.now() - started)} ms`,
    );
  });
});
