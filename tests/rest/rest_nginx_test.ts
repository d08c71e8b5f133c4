import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RestClient } from "../../src/rest/client.ts";
import { withNginx } from "../_helpers/http_servers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Runs `fn` against a fresh nginx; says so loudly when nginx is missing.
async function withClient(
  name: string,
  fn: (client: RestClient, port: number) => Promise<void>,
): Promise<void> {
  const result = await withNginx(async (port) => {
    const client = await RestClient.connect(`http://127.0.0.1:${port}`, { maxBufferedBodyBytes: 64 * 1024 });
    try {
      await fn(client, port);
    } finally {
      await client.close();
    }
  });
  if (result === "skipped") console.log(`SKIPPED: nginx not installed (${name})`);
}

describe("rest RestClient (nginx)", () => {
  test("nginx: 100 keep-alive requests share one connection", async () => {
    await withClient("keep-alive", async (client) => {
      const conns = new Set<string | null>();
      for (let i = 0; i < 100; i++) {
        const res = await client.request({ method: "GET", path: "/json" });
        assert.equal(res.status, 200);
        assert.equal((await res.json<{ ok: boolean }>()).ok, true);
        conns.add(res.headers.get("x-connection"));
      }
      assert.equal(conns.size, 1);
      assert.equal(client.connectionCount, 1);
    });
  });

  test("nginx: a 1 MiB file streams intact and a gzip response arrives chunked", async () => {
    await withClient("large and chunked", async (client) => {
      const big = await client.request({ method: "GET", path: "/big.bin" });
      assert.equal(big.headers.get("content-length"), String(1 << 20));
      assert.ok(big.stream, "larger than maxBufferedBodyBytes: streamed");
      const bytes = await big.bytes();
      assert.equal(bytes.length, 1 << 20);
      for (const i of [0, 250, 251, 99_999, (1 << 20) - 1]) assert.equal(bytes[i], i % 251);
      const gz = await client.request({ method: "GET", path: "/gz.txt", headers: { "Accept-Encoding": "gzip" } });
      assert.equal(gz.headers.get("transfer-encoding"), "chunked");
      assert.equal(gz.headers.get("content-encoding"), "gzip");
      const plain = new Response(new Blob([(await gz.bytes()) as BlobPart]).stream().pipeThrough(
        new DecompressionStream("gzip"),
      ));
      assert.equal(await plain.text(), "sluice ".repeat(20_000));
    });
  });

  test("nginx: HEAD, 204 and 304 have no body and keep the connection", async () => {
    await withClient("HEAD/204/304", async (client) => {
      const head = await client.request({ method: "HEAD", path: "/big.bin" });
      assert.equal(head.headers.get("content-length"), String(1 << 20));
      assert.equal((await head.bytes()).length, 0);
      assert.equal((await client.request({ method: "GET", path: "/empty" })).status, 204);
      const first = await client.request({ method: "GET", path: "/json" });
      await first.bytes();
      const since = first.headers.get("last-modified")!;
      const nm = await client.request({ method: "GET", path: "/json", headers: { "If-Modified-Since": since } });
      assert.equal(nm.status, 304);
      assert.equal((await nm.bytes()).length, 0);
      assert.equal((await client.request({ method: "GET", path: "/json" })).status, 200);
      assert.equal(client.connectionCount, 1);
    });
  });

  test("nginx: after keepalive_timeout closes the idle connection, the next request reconnects", async () => {
    await withClient("idle close", async (client) => {
      const a = await client.request({ method: "GET", path: "/json" });
      await a.bytes();
      await sleep(600); // keepalive_timeout is 300 ms
      const b = await client.request({ method: "POST", path: "/json", body: "x" });
      // nginx answers POST to a static file with 405; what matters is that it answered.
      assert.equal(b.status, 405);
      await b.bytes();
      assert.notEqual(a.headers.get("x-connection"), b.headers.get("x-connection"));
    });
  });
});
