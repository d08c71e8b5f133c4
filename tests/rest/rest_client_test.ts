import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { ConnectionClosed } from "../../src/core/errors.ts";
import { RestClient } from "../../src/rest/client.ts";
import type { RestClientOptions } from "../../src/rest/options.ts";
import { freePort, withNodeServer } from "../_helpers/http_servers.ts";
import { prng } from "../_helpers/prng.ts";
import { until } from "./_support.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("rest RestClient (node:http server)", () => {
  test("reuses one keep-alive connection across 100 requests", async () => {
    await withNodeServer((req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ path: req.url, port: req.socket.remotePort }));
    }, async ({ port, sockets }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}/base`);
      try {
        const ports = new Set<number>();
        for (let i = 0; i < 100; i++) {
          const res = await client.request({ method: "GET", path: "/item", query: { i } });
          assert.equal(res.status, 200);
          const body = await res.json<{ path: string; port: number }>();
          assert.equal(body.path, `/base/item?i=${i}`);
          ports.add(body.port);
        }
        assert.equal(ports.size, 1);
        assert.equal(sockets.length, 1);
      } finally {
        await client.close();
      }
    });
  });

  test("a connection the server closed while idle is replaced, and a POST is sent once", async () => {
    let posts = 0;
    await withNodeServer((req, res) => {
      if (req.method === "POST") posts++;
      req.resume();
      req.on("end", () => res.end(`${req.method} ok`));
    }, async ({ port, sockets }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        assert.equal(await (await client.request({ method: "GET", path: "/" })).text(), "GET ok");
        // Close the idle connection from the server side, as an idle timeout does.
        sockets[0].end();
        await until(() => client.connectionCount === 0, "the client noticed the close");
        const res = await client.request({ method: "POST", path: "/", body: "x" });
        assert.equal(await res.text(), "POST ok");
        assert.equal(posts, 1);
        assert.equal(sockets.length, 2);
      } finally {
        await client.close();
      }
    });
  });

  test("decodes a chunked response with trailers", async () => {
    await withNodeServer((_req, res) => {
      res.writeHead(200, { "Transfer-Encoding": "chunked", Trailer: "X-Checksum" });
      res.write("hello ");
      res.write("chunked ");
      res.addTrailers({ "X-Checksum": "abc" });
      res.end("world");
    }, async ({ port }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        const res = await client.request({ method: "GET" });
        assert.equal(await res.text(), "hello chunked world");
        assert.equal(res.trailers?.get("x-checksum"), "abc");
        // The connection is reusable after the trailers.
        assert.equal((await client.request({ method: "GET" })).status, 200);
      } finally {
        await client.close();
      }
    });
  });

  test("chunked bodies of changing sizes on one connection are read whole and intact, as bytes and as streams", async () => {
    // Sizes around the previous body's (the client sizes its buffer from it):
    // bigger, much smaller, equal, one byte more, empty.
    const sizes = [1 << 20, 3 << 20, 100, 100, 70_000, 70_001, 0, 2 << 20];
    const bodyOf = (size: number, seed: number) => {
      const rand = prng(seed);
      const out = new Uint8Array(size);
      for (let i = 0; i < size; i++) out[i] = Math.floor(rand() * 256);
      return out;
    };
    const bodies = sizes.map((size, i) => bodyOf(size, i + 1));
    await withNodeServer((req, res) => {
      const body = bodies[Number(req.url!.slice(1))];
      res.writeHead(200, { "Transfer-Encoding": "chunked" });
      // Uneven chunks, so chunk lines fall anywhere in the socket reads.
      for (let at = 0, k = 1; at < body.length; k++) {
        const n = Math.min(body.length - at, 1000 * k * k);
        res.write(body.subarray(at, at + n));
        at += n;
      }
      res.end();
    }, async ({ port, sockets }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        for (const [i, expected] of bodies.entries()) {
          const whole = await (await client.request({ method: "GET", path: `/${i}` })).bytes();
          assert.equal(whole.length, expected.length, `body ${i} as bytes`);
          assert.ok(Buffer.from(whole).equals(Buffer.from(expected)), `body ${i} as bytes`);
          const res = await client.request({ method: "GET", path: `/${i}` });
          const pieces: Uint8Array[] = [];
          if (res.body !== null) pieces.push(res.body);
          else {
            const reader = res.stream!.getReader();
            for (let r = await reader.read(); !r.done; r = await reader.read()) pieces.push(r.value);
          }
          assert.ok(Buffer.concat(pieces).equals(Buffer.from(expected)), `body ${i} as a stream`);
        }
        assert.equal(sockets.length, 1);
      } finally {
        await client.close();
      }
    });
  });

  test("skips 1xx, and HEAD, 204 and 304 responses have no body", async () => {
    await withNodeServer((req, res) => {
      if (req.url === "/early") {
        res.writeEarlyHints({ link: "</a.css>; rel=preload" });
        res.end("after hints");
      } else if (req.url === "/204") {
        res.statusCode = 204;
        res.end();
      } else if (req.url === "/304") {
        res.statusCode = 304;
        res.setHeader("etag", '"v1"');
        res.end();
      } else {
        res.setHeader("content-length", "11");
        res.end(req.method === "HEAD" ? undefined : "hello world");
      }
    }, async ({ port, sockets }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        assert.equal(await (await client.request({ method: "GET", path: "/early" })).text(), "after hints");
        const head = await client.request({ method: "HEAD", path: "/x" });
        assert.equal(head.headers.get("content-length"), "11");
        assert.equal((await head.bytes()).length, 0);
        assert.equal((await client.request({ method: "GET", path: "/204" })).status, 204);
        const nm = await client.request({ method: "GET", path: "/304" });
        assert.equal(nm.status, 304);
        assert.equal((await nm.bytes()).length, 0);
        assert.equal(await (await client.request({ method: "GET", path: "/x" })).text(), "hello world");
        assert.equal(sockets.length, 1);
      } finally {
        await client.close();
      }
    });
  });

  test("streams a large body with backpressure instead of buffering it", async () => {
    const total = 8 << 20;
    let written = 0;
    let drainedEarly = true;
    await withNodeServer((_req, res) => {
      res.setHeader("content-length", String(total));
      const piece = new Uint8Array(64 * 1024).fill(7);
      const pump = () => {
        while (written < total) {
          written += piece.length;
          if (!res.write(piece)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    }, async ({ port }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`, { maxBufferedBodyBytes: 1 << 20 });
      try {
        const res = await client.request({ method: "GET" });
        assert.equal(res.body, null);
        assert.ok(res.stream);
        const reader = res.stream.getReader();
        const first = await reader.read();
        await sleep(100);
        // The client has not read the whole body while nobody consumed it.
        drainedEarly = written >= total;
        let got = first.value!.length;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          got += value.length;
        }
        assert.equal(got, total);
        assert.equal(drainedEarly, false, "the server could write everything while the stream was paused");
        assert.equal((await client.request({ method: "GET" })).status, 200);
      } finally {
        await client.close();
      }
    });
  });

  test("aborting a request while its streamed body is read fails the read with the signal's reason", async () => {
    await withNodeServer((_req, res) => {
      res.writeHead(200, { "Transfer-Encoding": "chunked" });
      res.write("first;");
      // Then nothing: the client waits until the abort.
    }, async ({ port, sockets }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`, { readTimeoutMs: 0 });
      try {
        const controller = new AbortController();
        const res = await client.request({ method: "GET", signal: controller.signal });
        const reader = res.stream!.getReader();
        const first = await reader.read();
        assert.equal(new TextDecoder().decode(first.value), "first;");
        const pending = reader.read();
        setTimeout(() => controller.abort(new Error("user gave up")), 30);
        await assert.rejects(pending, /user gave up/);
        assert.equal((await client.request({ method: "GET" })).status, 200);
        assert.equal(sockets.length, 2);
      } finally {
        await client.close();
      }
    });
  });

  test("a refused connection is a retryable ConnectionClosed", async () => {
    const port = await freePort();
    await assert.rejects(RestClient.connect(`http://127.0.0.1:${port}`), (e: unknown) => {
      assert.ok(e instanceof ConnectionClosed, String(e));
      assert.equal(e.retryable, true);
      return true;
    });
  });

  test("pipelines requests and answers them in order", async () => {
    await withNodeServer((req, res) => {
      const delay = req.url === "/0" ? 20 : 0;
      setTimeout(() => res.end(req.url), delay);
    }, async ({ port, sockets }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`, { maxInFlightRequestsPerConnection: 10 });
      try {
        const all = await Promise.all(
          Array.from({ length: 30 }, (_, i) => client.request({ method: "GET", path: `/${i}` })),
        );
        assert.deepEqual(await Promise.all(all.map((r) => r.text())), all.map((_, i) => `/${i}`));
        assert.equal(sockets.length, 1);
      } finally {
        await client.close();
      }
    });
  });

  test("a small pool serves concurrent requests on several connections", async () => {
    await withNodeServer((req, res) => {
      setTimeout(() => res.end(req.url), 20);
    }, async ({ port, sockets }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`, { maxConnections: 3 });
      try {
        const all = await Promise.all(
          Array.from({ length: 9 }, (_, i) => client.request({ method: "GET", path: `/${i}` })),
        );
        assert.deepEqual(await Promise.all(all.map((r) => r.text())), all.map((_, i) => `/${i}`));
        assert.equal(sockets.length, 3);
      } finally {
        await client.close();
      }
    });
  });

  test("a ReadableStream body is uploaded with chunked coding", async () => {
    await withNodeServer(async (req, res) => {
      let n = 0;
      for await (const c of req) n += (c as Uint8Array).length;
      res.end(`${req.headers["transfer-encoding"]} ${n}`);
    }, async ({ port }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          pull(c) {
            if (sent === 50) return c.close();
            sent++;
            c.enqueue(new Uint8Array(10_000).fill(sent));
          },
        });
        const res = await client.request({ method: "PUT", path: "/up", body });
        assert.equal(await res.text(), "chunked 500000");
        assert.equal((await client.request({ method: "GET" })).status, 200);
      } finally {
        await client.close();
      }
    });
  });

  test("invalid options and URLs are rejected up front", async () => {
    await assert.rejects(RestClient.connect("ftp://127.0.0.1:1"), TypeError);
    await assert.rejects(RestClient.connect("http://127.0.0.1:1/?q=1"), TypeError);
    const bad: [RestClientOptions, string][] = [
      [{ maxInFlightRequestsPerConnection: 0 }, "maxInFlightRequestsPerConnection must be an integer >= 1: got 0"],
      [{ maxConnections: 1.5 }, "maxConnections must be an integer >= 1: got 1.5"],
      [{ maxBodyBytes: 0 }, "maxBodyBytes must be an integer >= 1: got 0"],
      [{ maxBufferedBodyBytes: -1 }, "maxBufferedBodyBytes must be an integer >= 0: got -1"],
      [{ readTimeoutMs: -5 }, "readTimeoutMs must be a finite number of ms >= 0 (use 0 for no limit): got -5"],
    ];
    for (const [options, message] of bad) {
      await assert.rejects(RestClient.connect("http://127.0.0.1:1", options), (e: unknown) => {
        assert.ok(e instanceof RangeError, String(e));
        assert.equal(e.message, message);
        return true;
      });
    }
    await assert.rejects(
      RestClient.connect("http://127.0.0.1:1", { clock: {} as RestClientOptions["clock"] }),
      /clock must have now, setTimeout and clearTimeout/,
    );
  });
});
