import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TimeoutError } from "../../src/core/errors.ts";
import { ClientClosed, NotConnected, QueueFull } from "../../src/client/errors.ts";
import { utf8Length } from "../../src/client/ledger.ts";
import { SendQueue } from "../../src/client/send_queue.ts";
import { ManualClock, settle } from "./_support.ts";

/** Records how each promise settled, without awaiting it. */
function track(p: Promise<void>): { state: string; error?: unknown } {
  const t: { state: string; error?: unknown } = { state: "pending" };
  p.then(() => (t.state = "resolved"), (error) => Object.assign(t, { state: "rejected", error }));
  return t;
}

/** Writes everything queued, as a connection loop would. */
function drain(q: SendQueue): string[] {
  const out: string[] = [];
  for (let e = q.take(); e !== null; e = q.take()) {
    out.push(typeof e.message === "string" ? e.message : `<${e.bytes}>`);
    q.written(e);
  }
  return out;
}

describe("send_queue", () => {
  test("utf8Length matches TextEncoder for ASCII, 2-, 3-, 4-byte and lone surrogates", () => {
    const enc = new TextEncoder();
    for (const s of ["", "abc", "é", "€uro", "😀", "a😀b", "\ud800", "x\udc00y", "\ud800\ud800"]) {
      assert.equal(utf8Length(s), enc.encode(s).length, JSON.stringify(s));
    }
  });

  test("messages resolve when written, in FIFO order", async () => {
    const q = new SendQueue();
    q.setConnected(true);
    const a = track(q.send("a"));
    const b = track(q.send(new Uint8Array(3)));
    await settle(1);
    assert.equal(a.state, "pending");
    assert.deepEqual(drain(q), ["a", "<3>"]);
    await settle(1);
    assert.equal(a.state, "resolved");
    assert.equal(b.state, "resolved");
    assert.equal(q.messages, 0);
    assert.equal(q.bytes, 0);
  });

  test("trySend throws QueueFull at once when messages or bytes are at capacity", () => {
    const q = new SendQueue({ maxMessages: 2, maxBytes: 10 });
    q.trySend("12345");
    q.trySend("1234");
    assert.throws(() => q.trySend("x"), (e: unknown) => {
      assert.ok(e instanceof QueueFull);
      assert.equal(e.code, "CLIENT_QUEUE_FULL");
      assert.equal(e.retryable, true);
      assert.equal(e.queuedMessages, 2);
      assert.equal(e.queuedBytes, 9);
      return true;
    });
    const byBytes = new SendQueue({ maxMessages: 10, maxBytes: 4 });
    byBytes.trySend("€"); // 3 bytes
    assert.throws(() => byBytes.trySend("ab"), QueueFull);
    byBytes.trySend("a");
  });

  test("a message larger than maxBytes is refused with a RangeError naming both sizes", async () => {
    const q = new SendQueue({ maxBytes: 4 });
    assert.throws(() => q.trySend("hello"), /5 bytes exceeds .*maxBytes 4/);
    await assert.rejects(q.send(new Uint8Array(5)), RangeError);
    await assert.rejects(q.send(42 as never), TypeError);
  });

  test("send waits for capacity and is admitted in call order; trySend does not jump the line", async () => {
    const q = new SendQueue({ maxMessages: 1 });
    q.setConnected(true);
    const a = track(q.send("a"));
    const b = track(q.send("b"));
    const c = track(q.send("c"));
    assert.equal(q.waiting, 2);
    const first = q.take()!;
    // "a" is being written; the queue is still full, so trySend refuses.
    assert.throws(() => q.trySend("d"), QueueFull);
    q.written(first);
    assert.equal(q.waiting, 1);
    // Writing "b" frees the room "c" waits for, so one drain writes both.
    assert.deepEqual(drain(q), ["b", "c"]);
    await settle(1);
    assert.deepEqual([a.state, b.state, c.state], ["resolved", "resolved", "resolved"]);
  });

  test("aborting a send withdraws it while it waits or is queued, not once in flight", async () => {
    const q = new SendQueue({ maxMessages: 2 });
    const ac1 = new AbortController();
    const ac2 = new AbortController();
    const ac3 = new AbortController();
    const inFlight = track(q.send("flying", { signal: ac1.signal }));
    const queued = track(q.send("queued", { signal: ac2.signal }));
    const waiting = track(q.send("waiting", { signal: ac3.signal }));
    const entry = q.take()!;
    ac1.abort(new Error("late"));
    ac2.abort(new Error("withdrawn"));
    ac3.abort(new Error("gave up waiting"));
    await settle(1);
    assert.equal(queued.state, "rejected");
    assert.equal((queued.error as Error).message, "withdrawn");
    assert.equal(waiting.state, "rejected");
    assert.equal(inFlight.state, "pending");
    q.written(entry);
    await settle(1);
    assert.equal(inFlight.state, "resolved");
    assert.equal(q.take(), null);
    assert.deepEqual(q.ledger.totalRejected, { messages: 2, bytes: 13 });
    await assert.rejects(q.send("x", { signal: AbortSignal.abort(new Error("pre")) }), /pre/);
  });

  test("entries taken but not written go back to the front in order when the connection drops", () => {
    const q = new SendQueue();
    for (const m of ["1", "2", "3", "4"]) q.trySend(m);
    const one = q.take()!;
    q.take();
    q.take();
    q.written(one);
    assert.equal(q.inFlight, 2);
    assert.equal(q.requeueInFlight(), 2);
    q.trySend("5");
    assert.deepEqual(drain(q), ["2", "3", "4", "5"]);
  });

  test("a send whose timeout fired while in flight is rejected on requeue, not sent again", async () => {
    const clock = new ManualClock();
    const q = new SendQueue({ clock });
    const late = track(q.sendTimeout("late", 100));
    const entry = q.take()!;
    await clock.advance(150);
    assert.equal(late.state, "pending");
    q.requeueInFlight();
    await settle(1);
    assert.equal(late.state, "rejected");
    assert.ok(late.error instanceof TimeoutError);
    assert.equal(q.take(), null);
    void entry;
  });

  test("sendTimeout rejects with CLIENT_SEND_TIMEOUT when not written in time, and frees its room", async () => {
    const clock = new ManualClock();
    const q = new SendQueue({ clock, maxMessages: 1 });
    const t = track(q.sendTimeout("slow", 1000));
    await clock.advance(999);
    assert.equal(t.state, "pending");
    await clock.advance(1);
    assert.equal(t.state, "rejected");
    assert.ok(t.error instanceof TimeoutError);
    assert.equal((t.error as TimeoutError).code, "CLIENT_SEND_TIMEOUT");
    assert.equal(q.messages, 0);
    const ok = track(q.sendTimeout("fast", 1000));
    drain(q);
    await settle(1);
    assert.equal(ok.state, "resolved");
    assert.equal(clock.pending, 0, "the timer is cleared once the send settles");
    await assert.rejects(q.sendTimeout("x", -1), /timeoutMs .*got -1/);
  });

  test("the reject policy refuses sends while disconnected and keeps what was queued before", async () => {
    const q = new SendQueue({ whileDisconnected: "reject" });
    assert.throws(() => q.trySend("early"), NotConnected);
    await assert.rejects(q.send("early"), (e: unknown) => {
      assert.ok(e instanceof NotConnected);
      assert.equal(e.code, "CLIENT_NOT_CONNECTED");
      return true;
    });
    q.setConnected(true);
    const kept = track(q.send("kept"));
    q.setConnected(false);
    assert.throws(() => q.trySend("refused"), NotConnected);
    q.setConnected(true);
    assert.deepEqual(drain(q), ["kept"]);
    await settle(1);
    assert.equal(kept.state, "resolved");
  });

  test("close rejects every waiting and queued send, and every later one, with the same error", async () => {
    const q = new SendQueue({ maxMessages: 2 });
    const sends = ["a", "b", "c", "d"].map((m) => track(q.send(m)));
    const inFlight = q.take()!;
    const stop = new ClientClosed("CLIENT_CLOSED", "client shut down");
    assert.deepEqual(q.close(stop), { messages: 3, bytes: 3 });
    await settle(1);
    assert.deepEqual(sends.map((s) => s.state), ["pending", "rejected", "rejected", "rejected"]);
    for (const s of sends.slice(1)) assert.equal(s.error, stop);
    // The in-flight one is rejected when the loop gives it back.
    q.requeueInFlight();
    await settle(1);
    assert.equal(sends[0].error, stop);
    assert.throws(() => q.trySend("late"), ClientClosed);
    await assert.rejects(q.send("late"), ClientClosed);
    assert.deepEqual(q.close(new Error("again")), { messages: 0, bytes: 0 });
    assert.deepEqual(q.ledger.totalRejected, { messages: 4, bytes: 4 });
    void inFlight;
  });

  test("an ignored trySend promise rejected by close does not raise an unhandled rejection", async () => {
    const q = new SendQueue();
    q.trySend("ignored");
    q.close(new Error("bye"));
    await settle(2); // an unhandled rejection would fail the test run
  });

  test("wait resolves when something is queued or the queue closes, and honours its signal", async () => {
    const q = new SendQueue();
    const w = track(q.wait());
    await settle(1);
    assert.equal(w.state, "pending");
    q.trySend("x");
    await settle(1);
    assert.equal(w.state, "resolved");
    q.take();
    const ac = new AbortController();
    const aborted = track(q.wait(ac.signal));
    ac.abort(new Error("stop"));
    await settle(1);
    assert.equal(aborted.state, "rejected");
    const onClose = track(q.wait());
    q.close(new Error("closed"));
    await settle(1);
    assert.equal(onClose.state, "resolved");
  });

  test("unconfirmed counts what was written since the last confirmed checkpoint", () => {
    const q = new SendQueue();
    for (const m of ["aa", "bbb", "c"]) q.trySend(m);
    const e1 = q.take()!;
    q.written(e1);
    const beforePing = q.ledger.checkpoint();
    q.written(q.take()!);
    assert.deepEqual(q.ledger.unconfirmed, { messages: 2, bytes: 5 });
    // The pong for a ping sent after "aa" confirms "aa" only.
    q.ledger.confirm(beforePing);
    assert.deepEqual(q.ledger.unconfirmed, { messages: 1, bytes: 3 });
    q.written(q.take()!);
    assert.deepEqual(q.ledger.unconfirmed, { messages: 2, bytes: 4 });
    q.ledger.confirm();
    assert.deepEqual(q.ledger.unconfirmed, { messages: 0, bytes: 0 });
    q.ledger.confirm(beforePing); // an older checkpoint never moves confirmation back
    assert.deepEqual(q.ledger.unconfirmed, { messages: 0, bytes: 0 });
    assert.throws(() => q.written(e1), /not in flight/);
  });

  test("options are validated with the bad value in the message", () => {
    assert.throws(() => new SendQueue({ maxMessages: 0 }), /maxMessages .*got 0/);
    assert.throws(() => new SendQueue({ maxBytes: 1.5 }), /maxBytes .*got 1.5/);
    assert.throws(
      () => new SendQueue({ whileDisconnected: "drop" as never }),
      /whileDisconnected .*got drop/,
    );
  });

  test("a long run through a small queue keeps order and settles every message once", async () => {
    const q = new SendQueue({ maxMessages: 8, maxBytes: 64 });
    q.setConnected(true);
    const settledCount = { ok: 0 };
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 2000; i++) {
      sends.push(q.send(`m${i}`).then(() => void settledCount.ok++));
    }
    const written: string[] = [];
    let round = 0;
    while (written.length < 2000 && round++ < 10_000) {
      await q.wait();
      const taken = [q.take()!, q.take()].filter((e) => e !== null);
      // Every third round the "connection" drops before writing the second one.
      q.written(taken[0]);
      written.push(taken[0].message as string);
      if (taken[1] && round % 3 === 0) q.requeueInFlight();
      else if (taken[1]) {
        q.written(taken[1]);
        written.push(taken[1].message as string);
      }
    }
    await Promise.all(sends);
    assert.equal(settledCount.ok, 2000);
    assert.deepEqual(written, Array.from({ length: 2000 }, (_, i) => `m${i}`));
  });
});
