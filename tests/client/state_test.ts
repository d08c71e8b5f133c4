import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { StateTracker } from "../../src/client/state.ts";
import { ManualClock } from "./_support.ts";

describe("state", () => {
  test("a fresh tracker is idle with empty counters", () => {
    const s = new StateTracker(new ManualClock()).snapshot();
    assert.deepEqual(s, {
      id: null,
      status: "idle",
      attempt: 0,
      connectionCount: 0,
      reconnectCount: 0,
      errorCount: 0,
      connectedSince: null,
      connectedForMs: null,
      lastError: undefined,
      lastErrorAt: null,
      lastRttMs: null,
    });
    assert.ok(Object.isFrozen(s));
  });

  test("connect, drop and reconnect update status, counters and uptime from the clock", async () => {
    const clock = new ManualClock(5_000);
    const t = new StateTracker(clock);
    t.connecting(1);
    assert.equal(t.snapshot().attempt, 1);
    t.handshaking("c1");
    t.connected();
    assert.ok(t.isConnected);
    await clock.advance(1500);
    let s = t.snapshot();
    assert.equal(s.id, "c1");
    assert.equal(s.status, "connected");
    assert.equal(s.attempt, 0);
    assert.equal(s.connectedSince, 5_000);
    assert.equal(s.connectedForMs, 1500);
    assert.equal(s.reconnectCount, 0);

    const drop = new Error("reset");
    t.error(drop);
    t.reconnecting();
    s = t.snapshot();
    assert.equal(s.status, "reconnecting");
    assert.equal(s.connectedSince, null);
    assert.equal(s.lastError, drop);
    assert.equal(s.lastErrorAt, 6_500);
    assert.equal(s.errorCount, 1);

    t.connecting(1);
    t.handshaking("c2");
    t.rtt(12.5);
    t.connected();
    s = t.snapshot();
    assert.equal(s.id, "c2");
    assert.equal(s.connectionCount, 2);
    assert.equal(s.reconnectCount, 1);
    assert.equal(s.lastRttMs, 12.5);
    assert.equal(s.connectedForMs, 0);
  });

  test("a failed handshake goes back to reconnecting and keeps the attempt number", () => {
    const t = new StateTracker(new ManualClock());
    t.connecting(3);
    t.handshaking("c9");
    t.reconnecting();
    assert.equal(t.snapshot().attempt, 3);
    assert.equal(t.snapshot().connectionCount, 0);
  });

  test("shutdown from any live status ends in closed, and closed is final", () => {
    for (const setup of [
      (t: StateTracker) => t,
      (t: StateTracker) => t.connecting(1),
      (t: StateTracker) => (t.connecting(1), t.handshaking("x"), t.connected()),
      (t: StateTracker) => (t.connecting(1), t.reconnecting()),
    ]) {
      const t = new StateTracker(new ManualClock());
      setup(t);
      t.closing();
      t.closed();
      assert.equal(t.status, "closed");
      assert.throws(() => t.connecting(1), /illegal client state transition: closed -> connecting/);
    }
  });

  test("illegal transitions throw naming both statuses", () => {
    const t = new StateTracker(new ManualClock());
    assert.throws(() => t.connected(), /idle -> connected/);
    t.connecting(1);
    assert.throws(() => t.connecting(2), /connecting -> connecting/);
    assert.throws(() => t.connected(), /connecting -> connected/);
  });
});
