import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { TimeoutError } from "../../src/core/errors.ts";
import { RestClient } from "../../src/rest/client.ts";
import { withNodeServer } from "../_helpers/http_servers.ts";
import { ManualClock, until } from "./_support.ts";

const isReadTimeout = (e: unknown) => {
  assert.ok(e instanceof TimeoutError, String(e));
  assert.equal(e.code, "READ_TIMEOUT");
  return true;
};

describe("rest RestClient timeouts", () => {
  test("a server that does not answer fails with READ_TIMEOUT on real timers, then the client reconnects", async () => {
    let n = 0;
    await withNodeServer((_req, res) => {
      if (n++ === 0) return; // never answer the first request
      res.end("late ok");
    }, async ({ port, sockets }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`, { readTimeoutMs: 40 });
      try {
        await assert.rejects(client.request({ method: "GET" }), (e: unknown) => {
          isReadTimeout(e);
          assert.equal((e as TimeoutError).retryable, true);
          assert.match((e as Error).message, /no response data for 40 ms \(readTimeoutMs\)/);
          return true;
        });
        await assert.rejects(client.request({ method: "POST", readTimeoutMs: 0, signal: AbortSignal.timeout(1) }));
        assert.equal(await (await client.request({ method: "GET" })).text(), "late ok");
        assert.ok(sockets.length >= 2);
      } finally {
        await client.close();
      }
    });
  });

  test("readTimeoutMs bounds each read, not the whole body: a trickled body arrives, a stalled one fails at the limit", async () => {
    // The test writes the body pieces itself, so the clock alone decides timing.
    const pending: ServerResponse[] = [];
    await withNodeServer((req, res) => {
      res.writeHead(200, { "Transfer-Encoding": "chunked" });
      if (req.url === "/ok") return res.end("ok");
      res.flushHeaders();
      pending.push(res);
    }, async ({ port, sockets }) => {
      const clock = new ManualClock();
      const client = await RestClient.connect(`http://127.0.0.1:${port}`, { readTimeoutMs: 150, clock });
      try {
        const trickled = await client.request({ method: "GET", path: "/trickle" });
        const reader = trickled.stream!.getReader();
        const decoder = new TextDecoder();
        let text = "";
        // Eight pieces 100 ms apart: 800 ms in all, each read well within 150 ms.
        for (let i = 0; i < 8; i++) {
          const next = reader.read();
          await clock.advance(100);
          pending[0]!.write(`piece ${i};`);
          const r = await next;
          if (!r.done) text += decoder.decode(r.value, { stream: true });
        }
        pending.shift()!.end();
        for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value);
        assert.equal(text, Array.from({ length: 8 }, (_, i) => `piece ${i};`).join(""));

        const stalled = await client.request({ method: "GET", path: "/stall" });
        let settled = false;
        const body = stalled.text().finally(() => settled = true);
        body.catch(() => {});
        await clock.advance(149);
        assert.equal(settled, false, "no timeout before readTimeoutMs");
        await clock.advance(1);
        await assert.rejects(body, isReadTimeout);
        // The timed-out exchange closed its connection; the next request opens another.
        assert.equal(await (await client.request({ method: "GET", path: "/ok" })).text(), "ok");
        assert.equal(sockets.length, 2);
      } finally {
        for (const res of pending) res.destroy();
        await client.close();
      }
    });
  });

  test("a request's own readTimeoutMs replaces the client's, and 0 means no limit", async () => {
    const pending: ServerResponse[] = [];
    await withNodeServer((_req, res) => void pending.push(res), async ({ port }) => {
      const clock = new ManualClock();
      const client = await RestClient.connect(`http://127.0.0.1:${port}`, { readTimeoutMs: 1_000, clock });
      try {
        let settled = false;
        const unlimited = client.request({ method: "GET", path: "/a", readTimeoutMs: 0 })
          .finally(() => settled = true);
        await until(() => pending.length === 1, "the request reached the server");
        await clock.advance(3_600_000);
        assert.equal(settled, false, "readTimeoutMs 0: an hour passes without a timeout");
        assert.equal(clock.pending, 0, "no timer armed");
        pending.shift()!.end("late");
        assert.equal(await (await unlimited).text(), "late");

        const short = client.request({ method: "GET", path: "/b", readTimeoutMs: 20 });
        short.catch(() => {});
        await until(() => pending.length === 1, "the request reached the server");
        await clock.advance(20);
        await assert.rejects(short, (e: unknown) => {
          isReadTimeout(e);
          assert.match((e as Error).message, /no response data for 20 ms/);
          return true;
        });
      } finally {
        for (const res of pending) res.destroy();
        await client.close();
      }
    });
  });

  test("every timeout takes 0 for no limit; a negative, NaN or infinite one is a RangeError naming it", async () => {
    for (const name of ["connectTimeoutMs", "readTimeoutMs"] as const) {
      for (const bad of [-5, NaN, Infinity]) {
        await assert.rejects(
          RestClient.connect("http://127.0.0.1:1", { [name]: bad }),
          (e: unknown) => {
            assert.ok(e instanceof RangeError, String(e));
            assert.equal(e.message, `${name} must be a finite number of ms >= 0 (use 0 for no limit): got ${bad}`);
            return true;
          },
        );
      }
    }
    await withNodeServer((_req, res) => res.end("ok"), async ({ port }) => {
      const clock = new ManualClock();
      const client = await RestClient.connect(`http://127.0.0.1:${port}`, {
        connectTimeoutMs: 0,
        readTimeoutMs: 0,
        clock,
      });
      try {
        assert.equal(await (await client.request({ method: "GET" })).text(), "ok");
        assert.equal(clock.pending, 0, "no timer armed with both limits off");
        for (const bad of [-1, NaN, Infinity]) {
          await assert.rejects(client.request({ method: "GET", readTimeoutMs: bad }), /readTimeoutMs must be .*use 0 for no limit/);
        }
      } finally {
        await client.close();
      }
    });
  });
});
