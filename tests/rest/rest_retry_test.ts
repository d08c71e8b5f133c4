import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { exponentialBackoff, fixedDelay, noRetry } from "../../src/common/retry.ts";
import {
  ConnectionClosed,
  ConnectionPoisoned,
  ConnectionStale,
  HttpParseError,
  SluiceError,
  TimeoutError,
} from "../../src/core/errors.ts";
import { HttpHeaders } from "../../src/core/http1/head.ts";
import { RestClient } from "../../src/rest/client.ts";
import { RestResponse } from "../../src/rest/response.ts";
import { type AttemptOutcome, parseRetryAfter, retryDelay, type RetryPolicy, withRetry } from "../../src/rest/retry.ts";
import { answerEach, withNodeServer, withRawServer } from "../_helpers/http_servers.ts";
import { ManualClock, until } from "./_support.ts";

/** 100 ms doubling, two retries, and jitter fixed at half the delay. */
const half: RetryPolicy = {
  strategy: exponentialBackoff({ initialMs: 100, maxMs: 5_000, maxAttempts: 3, random: () => 0.5 }),
};
const ioError = new SluiceError("IO_ERROR", "reset", { retryable: true });
const failed = (error: unknown, attempt = 1, elapsedMs = 0): AttemptOutcome => ({ attempt, elapsedMs, error });
const answered = (status: number, headers: [string, string][] = [], attempt = 1): AttemptOutcome => ({
  attempt,
  elapsedMs: 0,
  response: new RestResponse(status, "", new HttpHeaders(headers), new Uint8Array(0), null, null),
});
const io = failed(ioError);

describe("rest retry", () => {
  test("idempotent methods are retried on transport errors, paced by the strategy", () => {
    for (const method of ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]) {
      assert.equal(retryDelay({ method }, io, half), 50, method);
    }
    assert.equal(retryDelay({ method: "GET" }, failed(ioError, 2), half), 100);
    assert.equal(retryDelay({ method: "GET" }, failed(ioError, 3), half), null, "maxAttempts (3) reached");
    const four = exponentialBackoff({ initialMs: 100, maxAttempts: 4, random: () => 0.5 });
    assert.equal(retryDelay({ method: "GET" }, failed(ioError, 3), { strategy: four }), 200);
    const capped = exponentialBackoff({ initialMs: 100, maxMs: 1000, random: () => 0.999 });
    assert.equal(retryDelay({ method: "GET" }, failed(ioError, 8), { strategy: capped }), 999);
    const cut = new ConnectionClosed("CONNECTION_CLOSED", "cut", {
      cause: new HttpParseError("HTTP_INCOMPLETE_MESSAGE", "cut"),
    });
    for (const error of [new TimeoutError("READ_TIMEOUT", "t"), cut, new ConnectionPoisoned("CONNECTION_POISONED", "p"),
      new ConnectionStale("CONNECTION_STALE", "s")]) {
      assert.equal(retryDelay({ method: "GET" }, failed(error), half), 50, error.code);
    }
  });

  test("the default strategy makes two retries, 100 ms then 200 ms at most, full jitter", () => {
    for (let i = 0; i < 50; i++) {
      const first = retryDelay({ method: "GET" }, failed(ioError, 1))!;
      const second = retryDelay({ method: "GET" }, failed(ioError, 2))!;
      assert.ok(first >= 0 && first <= 100, `first ${first}`);
      assert.ok(second >= 0 && second <= 200, `second ${second}`);
      assert.equal(retryDelay({ method: "GET" }, failed(ioError, 3)), null);
    }
  });

  test("POST and PATCH are never retried blindly, only with an idempotency key", () => {
    assert.equal(retryDelay({ method: "POST" }, io, half), null);
    assert.equal(retryDelay({ method: "PATCH" }, answered(503), half), null);
    assert.equal(retryDelay({ method: "POST", headers: { "Idempotency-Key": "k1" } }, io, half), 50);
    assert.equal(retryDelay({ method: "PATCH", headers: [["idempotency-key", "k2"]] }, answered(502), half), 50);
    assert.equal(retryDelay({ method: "POST", headers: { "X-Key": "k" } }, io, { ...half, idempotencyKeyHeader: "x-key" }), 50);
  });

  test("retries 5xx and 429 but not 501, 505, 4xx, malformed responses or stream bodies", () => {
    for (const s of [500, 502, 503, 504, 429]) assert.equal(retryDelay({ method: "GET" }, answered(s), half), 50);
    for (const s of [501, 505, 404, 400, 200]) assert.equal(retryDelay({ method: "GET" }, answered(s), half), null);
    for (const code of ["HTTP_BAD_CHUNK", "HTTP_INCOMPLETE_MESSAGE"]) {
      assert.equal(retryDelay({ method: "GET" }, failed(new HttpParseError(code, "x")), half), null, code);
    }
    assert.equal(retryDelay({ method: "GET" }, failed(new Error("not ours")), half), null);
    const body = new ReadableStream<Uint8Array>();
    assert.equal(retryDelay({ method: "PUT", body }, io, half), null);
    const ac = new AbortController();
    ac.abort();
    assert.equal(retryDelay({ method: "GET", signal: ac.signal }, io, half), null);
  });

  test("the strategy is asked with the attempt, the error or response and the elapsed time; null ends it", () => {
    const asked: [number, unknown, number][] = [];
    const strategy = (attempt: number, reason: unknown, elapsedMs: number) => {
      asked.push([attempt, reason, elapsedMs]);
      return elapsedMs < 1_000 ? 10 * attempt : null;
    };
    const busy = answered(503, [], 2);
    assert.equal(retryDelay({ method: "GET" }, failed(ioError, 1, 40), { strategy }), 10);
    assert.equal(retryDelay({ method: "GET" }, { ...busy, elapsedMs: 300 }, { strategy }), 20);
    assert.equal(retryDelay({ method: "GET" }, failed(ioError, 3, 1_000), { strategy }), null);
    assert.deepEqual(asked.map(([a, , e]) => [a, e]), [[1, 40], [2, 300], [3, 1_000]]);
    assert.equal(asked[0]![1], ioError);
    assert.equal(asked[1]![1], (busy as { response: RestResponse }).response);
    // Not asked at all when the rules already say no.
    retryDelay({ method: "GET" }, answered(404), { strategy });
    assert.equal(asked.length, 3);
    assert.equal(retryDelay({ method: "GET" }, io, { strategy: noRetry() }), null);
    assert.equal(retryDelay({ method: "GET" }, io, { strategy: fixedDelay(7) }), 7);
  });

  test("Retry-After, as seconds or an HTTP-date on the clock, replaces the strategy's delay; too long a wait gives up", () => {
    assert.equal(retryDelay({ method: "GET" }, answered(503, [["Retry-After", "2"]]), half), 2000);
    const clock = new ManualClock(Date.UTC(2015, 9, 21, 7, 28, 0));
    assert.equal(retryDelay({ method: "GET" }, answered(503, [["retry-after", "Wed, 21 Oct 2015 07:28:05 GMT"]]),
      { ...half, clock }), 5000);
    assert.equal(retryDelay({ method: "GET" }, answered(429, [["retry-after", "120"]]), half), null);
    assert.equal(retryDelay({ method: "GET" }, answered(429, [["retry-after", "120"]]), { ...half, maxRetryAfterMs: 120_000 }),
      120_000);
    assert.equal(retryDelay({ method: "GET" }, answered(503, [["retry-after", "soon"]]), half), 50);
    // The strategy still decides whether to go on.
    assert.equal(retryDelay({ method: "GET" }, answered(503, [["retry-after", "1"]], 3), half), null);
    assert.equal(parseRetryAfter(null, 0), null);
    assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", clock.now()), 0);
  });

  test("an invalid policy, or a strategy returning a bad delay, is rejected naming it", () => {
    assert.throws(() => retryDelay({ method: "GET" }, io, { strategy: 5 as unknown as RetryPolicy["strategy"] }),
      /retry must be a RetryStrategy or a function/);
    assert.throws(() => retryDelay({ method: "GET" }, io, { maxRetryAfterMs: -1 }),
      /maxRetryAfterMs must be a finite number of ms >= 0: got -1/);
    assert.throws(() => retryDelay({ method: "GET" }, io, { clock: {} as RetryPolicy["clock"] }), TypeError);
    assert.throws(() => retryDelay({ method: "GET" }, io, { strategy: () => NaN }),
      /the retry strategy must return a finite delay in ms >= 0 or null: got NaN/);
  });

  test("withRetry retries a GET through 503s (Retry-After: 0) until it succeeds", async () => {
    let hits = 0;
    await withNodeServer((_req, res) => {
      if (++hits < 3) {
        res.writeHead(503, { "retry-after": "0" });
        res.end("busy");
      } else res.end("done");
    }, async ({ port }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        const seen: number[] = [];
        const res = await withRetry(client, { method: "GET" }, { onRetry: (a, d) => seen.push(a, d) });
        assert.equal(await res.text(), "done");
        assert.deepEqual(seen, [1, 0, 2, 0]);
        hits = 0;
        const post = await withRetry(client, { method: "POST", body: "x" });
        assert.equal(post.status, 503);
        assert.equal(hits, 1);
        hits = 0;
        const keyed = await withRetry(client, { method: "POST", body: "x", headers: { "Idempotency-Key": "abc" } });
        assert.equal(keyed.status, 200);
        assert.equal(hits, 3);
      } finally {
        await client.close();
      }
    });
  });

  test("withRetry sleeps on the injected clock and gives the strategy the clock's elapsed time", async () => {
    let hits = 0;
    await withNodeServer((_req, res) => {
      res.statusCode = ++hits < 3 ? 503 : 200;
      res.end(String(hits));
    }, async ({ port }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        const clock = new ManualClock();
        const asked: [number, number, number][] = [];
        const strategy = (attempt: number, reason: unknown, elapsedMs: number) => {
          asked.push([attempt, (reason as RestResponse).status, elapsedMs]);
          return 1_000 * attempt;
        };
        const done = withRetry(client, { method: "GET" }, { strategy, clock });
        await until(() => clock.pending === 1, "the first backoff started");
        assert.deepEqual(clock.pendingDelays, [1_000]);
        assert.equal(hits, 1, "no retry before the clock moves");
        await clock.advance(1_000);
        await until(() => clock.pending === 1, "the second backoff started");
        assert.deepEqual(clock.pendingDelays, [2_000]);
        await clock.advance(2_000);
        const res = await done;
        assert.equal(await res.text(), "3");
        assert.deepEqual(asked, [[1, 503, 0], [2, 503, 1_000]]);
      } finally {
        await client.close();
      }
    });
  });

  test("withRetry resends an idempotent request after a reset, but not a POST", async () => {
    let requests = 0;
    const reply = (s: Socket) => {
      // Requests 1 and 3 are dropped without an answer, each on a fresh connection.
      if (++requests % 2 === 1) s.destroy();
      else s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    };
    const strategy = fixedDelay(0, { maxAttempts: 3 });
    await withRawServer((socket) => answerEach(socket, [reply, reply, reply]), async ({ port }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        const res = await withRetry(client, { method: "DELETE", path: "/x" }, { strategy });
        assert.equal(await res.text(), "ok");
        assert.equal(requests, 2);
      } finally {
        await client.close();
      }
      const fresh = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        await assert.rejects(withRetry(fresh, { method: "POST", body: "x" }, { strategy }), (e: unknown) => {
          assert.ok(e instanceof ConnectionClosed, String(e));
          assert.equal(e.retryable, false);
          return true;
        });
        assert.equal(requests, 3);
      } finally {
        await fresh.close();
      }
    });
  });
});
