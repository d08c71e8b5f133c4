import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { fixedDelay } from "../../src/common/retry.ts";
import { ConnectionClosed, ConnectionPoisoned, HttpParseError } from "../../src/core/errors.ts";
import { RestClient } from "../../src/rest/client.ts";
import type { RestClientOptions } from "../../src/rest/options.ts";
import { withRetry } from "../../src/rest/retry.ts";
import { answerEach, withRawServer } from "../_helpers/http_servers.ts";
import { lines } from "./_support.ts";

const FULL = lines("HTTP/1.1 200 OK", "Content-Length: 5000", "", "x".repeat(5000));
/** 1200 of the 5000 bytes announced, then the server closes the connection. */
const CUT = lines("HTTP/1.1 200 OK", "Content-Length: 5000", "", "x".repeat(1200));
/** A chunked body of 1200 bytes so far, then the server closes the connection. */
const CUT_CHUNKED = lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "4b0", "x".repeat(1200), "");
/** 27 bytes of a head, then the server closes the connection. */
const CUT_HEAD = "HTTP/1.1 200 OK\r\nContent-Le";

/**
 * Runs `fn` against a raw server that answers the first `cuts` requests
 * with `cut` and closes the connection, and every later one with `FULL`.
 */
async function withCuttingServer(
  cut: string,
  cuts: number,
  fn: (connect: (o?: RestClientOptions) => Promise<RestClient>, hits: () => number) => Promise<void>,
): Promise<void> {
  let hits = 0;
  const reply = (s: Socket) => {
    if (hits++ < cuts) s.end(cut);
    else s.write(FULL);
  };
  await withRawServer((socket) => answerEach(socket, [reply, reply, reply, reply]), async ({ port }) => {
    const clients: RestClient[] = [];
    try {
      await fn(async (o) => {
        const client = await RestClient.connect(`http://127.0.0.1:${port}`, o);
        clients.push(client);
        return client;
      }, () => hits);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
}

/** Asserts a `ConnectionClosed` whose cause is the parse error of the cut. */
function cutShort(message: string, retryable: boolean): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof ConnectionClosed, String(e));
    assert.equal(e.code, "CONNECTION_CLOSED");
    assert.equal(e.message, message);
    assert.equal(e.retryable, retryable);
    assert.ok(e.cause instanceof HttpParseError, String(e.cause));
    assert.equal(e.cause.code, "HTTP_INCOMPLETE_MESSAGE");
    return true;
  };
}

describe("rest RestClient: a server closing in the middle of a response", () => {
  test("during a body of known length: ConnectionClosed naming the request and the bytes, retryable for GET", async () => {
    await withCuttingServer(CUT, 1, async (connect, hits) => {
      const client = await connect();
      await assert.rejects(
        client.request({ method: "GET", path: "/items?page=2" }),
        cutShort("the server closed the connection during the response body of GET /items: 1200 of 5000 bytes arrived", true),
      );
      // The next call reconnects.
      assert.equal((await (await client.request({ method: "GET", path: "/items" })).text()).length, 5000);
      assert.equal(hits(), 2);
    });
  });

  test("during the body of a POST: the same error, not retryable", async () => {
    await withCuttingServer(CUT, 1, async (connect) => {
      const client = await connect();
      await assert.rejects(
        client.request({ method: "POST", path: "/items", body: "x" }),
        cutShort("the server closed the connection during the response body of POST /items: 1200 of 5000 bytes arrived", false),
      );
    });
  });

  test("during a chunked body: the message counts the body bytes that arrived", async () => {
    await withCuttingServer(CUT_CHUNKED, 1, async (connect) => {
      const client = await connect();
      const res = await client.request({ method: "GET", path: "/feed" });
      await assert.rejects(
        res.bytes(),
        cutShort("the server closed the connection during the response body of GET /feed: 1200 bytes of a chunked body arrived", true),
      );
    });
  });

  test("during a streamed body: the stream fails with the same error", async () => {
    await withCuttingServer(CUT, 1, async (connect) => {
      const client = await connect({ maxBufferedBodyBytes: 1000 });
      const res = await client.request({ method: "GET", path: "/big" });
      const reader = res.stream!.getReader();
      let got = 0;
      await assert.rejects(async () => {
        for (let r = await reader.read(); !r.done; r = await reader.read()) got += r.value.length;
      }, cutShort("the server closed the connection during the response body of GET /big: 1200 of 5000 bytes arrived", true));
      assert.equal(got, 1200);
    });
  });

  test("during the head: ConnectionClosed saying how many bytes of the head arrived", async () => {
    await withCuttingServer(CUT_HEAD, 1, async (connect) => {
      const client = await connect();
      await assert.rejects(
        client.request({ method: "DELETE", path: "/items/1" }),
        cutShort("the server closed the connection during the response head of DELETE /items/1: 27 bytes arrived", true),
      );
    });
  });

  test("a request pipelined behind the cut response fails with ConnectionPoisoned caused by it", async () => {
    await withCuttingServer(CUT, 1, async (connect) => {
      const client = await connect({ maxInFlightRequestsPerConnection: 2 });
      const a = client.request({ method: "GET", path: "/a" });
      const b = client.request({ method: "GET", path: "/b" });
      await assert.rejects(a, ConnectionClosed);
      await assert.rejects(b, (e: unknown) => {
        assert.ok(e instanceof ConnectionPoisoned, String(e));
        assert.equal(e.retryable, true);
        assert.ok(e.cause instanceof ConnectionClosed);
        return true;
      });
    });
  });

  test("withRetry retries a GET whose body was cut and succeeds; a POST is not retried unless it has an idempotency key", async () => {
    const strategy = fixedDelay(0, { maxAttempts: 3 });
    await withCuttingServer(CUT, 1, async (connect, hits) => {
      const client = await connect();
      const seen: unknown[] = [];
      const res = await withRetry(client, { method: "GET", path: "/items" }, {
        strategy,
        onRetry: (_attempt, _delay, reason) => seen.push(reason),
      });
      assert.equal((await res.bytes()).length, 5000);
      assert.equal(hits(), 2);
      assert.equal(seen.length, 1);
      assert.ok(seen[0] instanceof ConnectionClosed);
    });
    await withCuttingServer(CUT, 1, async (connect, hits) => {
      const client = await connect();
      await assert.rejects(
        withRetry(client, { method: "POST", path: "/items", body: "x" }, { strategy }),
        cutShort("the server closed the connection during the response body of POST /items: 1200 of 5000 bytes arrived", false),
      );
      assert.equal(hits(), 1, "the POST was sent once");
    });
    await withCuttingServer(CUT, 1, async (connect, hits) => {
      const client = await connect();
      const keyed = { method: "POST", path: "/items", body: "x", headers: { "Idempotency-Key": "k1" } };
      assert.equal((await (await withRetry(client, keyed, { strategy })).bytes()).length, 5000);
      assert.equal(hits(), 2);
    });
  });
});
