import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  BackoffPresets,
  exponentialBackoff,
  fixedDelay,
  noRetry,
  toRetryStrategy,
} from "../../src/common/retry.ts";
import { RetryTracker, shouldResetAttempts } from "../../src/client/retry_tracker.ts";
import { seededRandom } from "./_support.ts";

const delays = (s: { nextDelay: (a: number, e: unknown, t: number) => number | null }, n: number) =>
  Array.from({ length: n }, (_, i) => s.nextDelay(i + 1, null, 0));

describe("retry", () => {
  test("exponentialBackoff without jitter doubles from initialMs and caps at maxMs", () => {
    const s = exponentialBackoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: "none" });
    assert.deepEqual(delays(s, 6), [100, 200, 400, 800, 1000, 1000]);
  });

  test("presets follow the documented parameters", () => {
    assert.deepEqual(BackoffPresets.fast, { initialMs: 100, maxMs: 5000, factor: 1.5 });
    const fast = exponentialBackoff({ ...BackoffPresets.fast, jitter: "none" });
    assert.deepEqual(delays(fast, 3), [100, 150, 225]);
    assert.equal(fast.nextDelay(40, null, 0), 5000);
    const standard = exponentialBackoff({ ...BackoffPresets.standard, jitter: "none" });
    assert.deepEqual(delays(standard, 8), [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    const conservative = exponentialBackoff({ ...BackoffPresets.conservative, jitter: "none" });
    assert.deepEqual(delays(conservative, 7), [2000, 4000, 8000, 16000, 32000, 64000, 120000]);
  });

  test("full jitter stays within [0, d] and equal jitter within [d/2, d]", () => {
    const full = exponentialBackoff({ initialMs: 100, maxMs: 10_000, random: seededRandom(1) });
    const equal = exponentialBackoff({
      initialMs: 100,
      maxMs: 10_000,
      jitter: "equal",
      random: seededRandom(2),
    });
    for (let attempt = 1; attempt <= 12; attempt++) {
      const d = Math.min(10_000, 100 * 2 ** (attempt - 1));
      for (let i = 0; i < 50; i++) {
        const f = full.nextDelay(attempt, null, 0)!;
        const e = equal.nextDelay(attempt, null, 0)!;
        assert.ok(f >= 0 && f <= d, `full ${f} outside [0, ${d}]`);
        assert.ok(e >= Math.floor(d / 2) && e <= d, `equal ${e} outside [${d / 2}, ${d}]`);
      }
    }
  });

  test("jitter extremes: random 0 and random just below 1", () => {
    const low = exponentialBackoff({ initialMs: 100, maxMs: 800, jitter: "full", random: () => 0 });
    assert.deepEqual(delays(low, 3), [0, 0, 0]);
    const high = exponentialBackoff({
      initialMs: 100,
      maxMs: 800,
      jitter: "equal",
      random: () => 0.999999,
    });
    assert.deepEqual(delays(high, 5), [100, 200, 400, 800, 800]);
  });

  test("decorrelated jitter stays in [initial, max], grows from the previous delay and restarts at attempt 1", () => {
    const s = exponentialBackoff({
      initialMs: 100,
      maxMs: 5_000,
      jitter: "decorrelated",
      random: () => 0.999999,
    });
    // With random near 1 each delay is about 3 × the previous one.
    assert.deepEqual(delays(s, 5), [300, 900, 2700, 5000, 5000]);
    assert.equal(s.nextDelay(1, null, 0), 300);
    const seeded = exponentialBackoff({
      initialMs: 100,
      maxMs: 5_000,
      jitter: "decorrelated",
      random: seededRandom(7),
    });
    for (const d of delays(seeded, 200)) assert.ok(d! >= 100 && d! <= 5000, `${d}`);
  });

  test("the same seed gives the same delays", () => {
    const make = () => exponentialBackoff({ random: seededRandom(42), jitter: "decorrelated" });
    assert.deepEqual(delays(make(), 20), delays(make(), 20));
  });

  test("maxAttempts counts the first attempt: 3 attempts means two delays", () => {
    const s = exponentialBackoff({ initialMs: 10, jitter: "none", maxAttempts: 3 });
    assert.deepEqual(delays(s, 4), [10, 20, null, null]);
    assert.deepEqual(delays(fixedDelay(50, { maxAttempts: 2 }), 3), [50, null, null]);
    assert.equal(exponentialBackoff({ maxAttempts: 1 }).nextDelay(1, null, 0), null);
  });

  test("maxElapsedMs gives up at the deadline and shortens the last delay to meet it", () => {
    const s = exponentialBackoff({ initialMs: 1000, jitter: "none", maxElapsedMs: 5000 });
    assert.equal(s.nextDelay(1, null, 0), 1000);
    assert.equal(s.nextDelay(3, null, 3500), 1500);
    assert.equal(s.nextDelay(4, null, 5000), null);
    assert.equal(fixedDelay(400, { maxElapsedMs: 1000 }).nextDelay(9, null, 800), 200);
  });

  test("retryIf gives up at once on errors it refuses", () => {
    const fatal = new Error("401");
    const s = exponentialBackoff({ jitter: "none", retryIf: (e) => e !== fatal });
    assert.equal(s.nextDelay(1, fatal, 0), null);
    assert.equal(s.nextDelay(1, new Error("reset"), 0), 1000);
  });

  test("fixedDelay and noRetry", () => {
    assert.deepEqual(delays(fixedDelay(250), 4), [250, 250, 250, 250]);
    assert.equal(noRetry().nextDelay(1, new Error("x"), 0), null);
  });

  test("a bare function is a strategy", () => {
    const s = toRetryStrategy((attempt, error) => (error === "stop" ? null : attempt * 10));
    assert.equal(s.nextDelay(3, null, 0), 30);
    assert.equal(s.nextDelay(3, "stop", 0), null);
    const obj = fixedDelay(1);
    assert.equal(toRetryStrategy(obj), obj);
    assert.throws(() => toRetryStrategy(42 as never), TypeError);
  });

  test("options are validated up front with the bad value in the message", () => {
    assert.throws(() => exponentialBackoff({ initialMs: -1 }), /initialMs .*got -1/);
    assert.throws(() => exponentialBackoff({ initialMs: 10, maxMs: 5 }), /maxMs .*got 5/);
    assert.throws(() => exponentialBackoff({ factor: 0.5 }), /factor .*got 0.5/);
    assert.throws(() => exponentialBackoff({ jitter: "wild" as never }), /jitter .*got wild/);
    assert.throws(() => exponentialBackoff({ maxAttempts: 0 }), /maxAttempts .*got 0/);
    assert.throws(() => fixedDelay(NaN), /delayMs .*got NaN/);
    assert.throws(() => fixedDelay(1, { maxElapsedMs: 0 }), /maxElapsedMs .*got 0/);
    assert.throws(() => new RetryTracker(noRetry(), { resetAfterMs: -5 }), /resetAfterMs .*-5/);
  });

  test("RetryTracker counts consecutive failures and elapsed time from the first attempt", () => {
    const seen: [number, number][] = [];
    const tracker = new RetryTracker((attempt, _e, elapsedMs) => {
      seen.push([attempt, elapsedMs]);
      return attempt < 3 ? 100 : null;
    });
    tracker.started(1000);
    assert.deepEqual(tracker.failed("a", 1050), { type: "retry", attempt: 1, delayMs: 100 });
    tracker.started(1150);
    assert.deepEqual(tracker.failed("b", 1200), { type: "retry", attempt: 2, delayMs: 100 });
    tracker.started(1300);
    assert.deepEqual(tracker.failed("c", 1400), { type: "giveUp", attempt: 3 });
    assert.deepEqual(seen, [[1, 50], [2, 200], [3, 400]]);
  });

  test("RetryTracker resets the attempt count after a connection stayed up for resetAfterMs", () => {
    const tracker = new RetryTracker(
      exponentialBackoff({ initialMs: 100, jitter: "none" }),
      { resetAfterMs: 5000 },
    );
    tracker.started(0);
    tracker.failed("refused", 10);
    tracker.started(110);
    tracker.connected(120);
    // Up for one second only: the streak goes on.
    assert.deepEqual(tracker.failed("reset", 1120), { type: "retry", attempt: 2, delayMs: 200 });
    tracker.started(1320);
    tracker.connected(1330);
    assert.equal(tracker.connectedAt, 1330);
    // Up for six seconds: starts over at the shortest delay.
    assert.deepEqual(tracker.failed("reset", 7330), { type: "retry", attempt: 1, delayMs: 100 });
    assert.equal(tracker.attempt, 1);
    tracker.reset();
    assert.equal(tracker.attempt, 0);
  });

  test("RetryTracker refuses a strategy that returns a negative delay", () => {
    const tracker = new RetryTracker(() => -1);
    assert.throws(() => tracker.failed("x", 0), /invalid delay: got -1/);
  });

  test("shouldResetAttempts compares uptime to the threshold inclusively", () => {
    assert.equal(shouldResetAttempts(0, 4999, 5000), false);
    assert.equal(shouldResetAttempts(0, 5000, 5000), true);
  });
});
