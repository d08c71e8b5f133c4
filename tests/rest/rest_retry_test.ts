import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionClosed, HttpParseError, SluiceError, TimeoutError } from "../../src/core/errors.ts";
import { HttpHeaders } from "../../src/core/http1/head.ts";
import { RestClient } from "../../src/rest/client.ts";
import { RestResponse } from "../../src/rest/response.ts";
import { parseRetryAfter, retryDelay, withRetry } from "../../src/rest/retry.ts";
import { answerEach, withNodeServer, withRawServer } from "../_helpers/http_servers.ts";

const half = { random: () => 0.5 };
const io = { error: new SluiceError("IO_ERROR", "reset", { retryable: true }) };
const response = (status: number, headers: [string, string][] = []) => ({
  response: new RestResponse(status, "", new HttpHeaders(headers), new Uint8Array(0), null, null),
});

describe("rest retry", () => {
  test("idempotent methods are retried on transport errors with exponential backoff and full jitter", () => {
    for (const method of ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]) {
      assert.equal(retryDelay({ method }, 1, io, half), 50, method);
    }
    assert.equal(retryDelay({ method: "GET" }, 2, io, half), 100);
    assert.equal(retryDelay({ method: "GET" }, 3, io, { ...half, retries: 3 }), 200);
    assert.equal(retryDelay({ method: "GET" }, 3, io, half), null, "retries (2) exhausted");
    assert.equal(retryDelay({ method: "GET" }, 8, io, { random: () => 0.999, retries: 9, maxDelayMs: 1000 }), 999);
    assert.equal(retryDelay({ method: "GET" }, 1, io, { random: () => 0 }), 0);
    for (const error of [new TimeoutError("READ_TIMEOUT", "t"), new ConnectionClosed("CONNECTION_CLOSED", "c"),
      new HttpParseError("HTTP_INCOMPLETE_MESSAGE", "cut")]) {
      assert.equal(retryDelay({ method: "GET" }, 1, { error }, half), 50, error.code);
    }
  });

  test("POST and PATCH are never retried blindly, only with an idempotency key", () => {
    assert.equal(retryDelay({ method: "POST" }, 1, io, half), null);
    assert.equal(retryDelay({ method: "PATCH" }, 1, response(503), half), null);
    assert.equal(retryDelay({ method: "POST", headers: { "Idempotency-Key": "k1" } }, 1, io, half), 50);
    assert.equal(retryDelay({ method: "PATCH", headers: [["idempotency-key", "k2"]] }, 1, response(502), half), 50);
    assert.equal(retryDelay({ method: "POST", headers: { "X-Key": "k" } }, 1, io,
      { ...half, idempotencyKeyHeader: "x-key" }), 50);
  });

  test("retries 5xx and 429 but not 501, 505, 4xx, malformed responses or stream bodies", () => {
    for (const s of [500, 502, 503, 504, 429]) assert.equal(retryDelay({ method: "GET" }, 1, response(s), half), 50);
    for (const s of [501, 505, 404, 400, 200]) assert.equal(retryDelay({ method: "GET" }, 1, response(s), half), null);
    assert.equal(retryDelay({ method: "GET" }, 1, { error: new HttpParseError("HTTP_BAD_CHUNK", "x") }, half), null);
    assert.equal(retryDelay({ method: "GET" }, 1, { error: new Error("not ours") }, half), null);
    const body = new ReadableStream<Uint8Array>();
    assert.equal(retryDelay({ method: "PUT", body }, 1, io, half), null);
    const ac = new AbortController();
    ac.abort();
    assert.equal(retryDelay({ method: "GET", signal: ac.signal }, 1, io, half), null);
  });

  test("Retry-After is honoured as seconds or HTTP-date, and too long a wait gives up", () => {
    assert.equal(retryDelay({ method: "GET" }, 1, response(503, [["Retry-After", "2"]]), half), 2000);
    const now = Date.UTC(2015, 9, 21, 7, 28, 0);
    assert.equal(retryDelay({ method: "GET" }, 1, response(503, [["retry-after", "Wed, 21 Oct 2015 07:28:05 GMT"]]),
      { ...half, now: () => now }), 5000);
    assert.equal(retryDelay({ method: "GET" }, 1, response(429, [["retry-after", "120"]]), half), null);
    assert.equal(retryDelay({ method: "GET" }, 1, response(503, [["retry-after", "soon"]]), half), 50);
    assert.equal(parseRetryAfter(null, 0), null);
    assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
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

  test("withRetry resends an idempotent request after a reset, but not a POST", async () => {
    let requests = 0;
    const reply = (s: import("node:net").Socket) => {
      // Requests 1 and 3 are dropped without an answer, each on a fresh connection.
      if (++requests % 2 === 1) s.destroy();
      else s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    };
    await withRawServer((socket) => answerEach(socket, [reply, reply, reply]), async ({ port }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        const res = await withRetry(client, { method: "DELETE", path: "/x" }, { baseDelayMs: 1 });
        assert.equal(await res.text(), "ok");
        assert.equal(requests, 2);
      } finally {
        await client.close();
      }
      const fresh = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        await assert.rejects(withRetry(fresh, { method: "POST", body: "x" }, { baseDelayMs: 1 }), (e: unknown) => {
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
