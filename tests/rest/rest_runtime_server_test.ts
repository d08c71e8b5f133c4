import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { RestClient } from "../../src/rest/client.ts";

// The fetch-style handler every runtime's own server runs: the same routes,
// so one check function covers Deno.serve, Bun.serve and node:http.
async function handle(req: Request, peerPort: number): Promise<Response> {
  const url = new URL(req.url);
  if (url.pathname === "/peer") return Response.json({ port: peerPort });
  if (url.pathname === "/stream") {
    let n = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (n++ === 64) return c.close();
        c.enqueue(new Uint8Array(16 * 1024).fill(n & 0xff));
      },
    });
    return new Response(body, { headers: { "content-type": "application/octet-stream" } });
  }
  if (url.pathname === "/empty") return new Response(null, { status: 204 });
  if (url.pathname === "/echo") return new Response(await req.text(), { status: 201 });
  return new Response("hello from " + url.pathname, { headers: { "content-type": "text/plain" } });
}

async function check(port: number): Promise<void> {
  const client = await RestClient.connect(`http://127.0.0.1:${port}`);
  try {
    const peers = new Set<number>();
    for (let i = 0; i < 100; i++) {
      const res = await client.request({ method: "GET", path: "/peer" });
      peers.add((await res.json<{ port: number }>()).port);
    }
    assert.equal(peers.size, 1, "one keep-alive connection for 100 requests");
    const streamed = await client.request({ method: "GET", path: "/stream" });
    const bytes = await streamed.bytes();
    assert.equal(bytes.length, 64 * 16 * 1024);
    assert.equal(bytes[0], 1);
    assert.equal(bytes[bytes.length - 1], 64);
    const head = await client.request({ method: "HEAD", path: "/x" });
    assert.equal(head.status, 200);
    assert.equal((await head.bytes()).length, 0);
    assert.equal((await client.request({ method: "GET", path: "/empty" })).status, 204);
    const echo = await client.request({ method: "POST", path: "/echo", body: { json: { a: [1, 2] } } });
    assert.equal(echo.status, 201);
    assert.deepEqual(await echo.json(), { a: [1, 2] });
    assert.equal(await (await client.request({ method: "GET", path: "/last" })).text(), "hello from /last");
    assert.equal(client.connectionCount, 1);
  } finally {
    await client.close();
  }
}

interface DenoServe {
  serve(
    o: { hostname: string; port: number; onListen?: () => void },
    h: (req: Request, info: { remoteAddr: { port: number } }) => Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void> };
}
interface BunServe {
  serve(o: {
    hostname: string;
    port: number;
    fetch: (req: Request, server: { requestIP(r: Request): { port: number } | null }) => Promise<Response>;
  }): { port: number; stop(force?: boolean): void };
}
const g = globalThis as { Deno?: DenoServe; Bun?: BunServe };

describe("rest RestClient against the runtime's own HTTP server", () => {
  if (g.Deno) {
    const Deno = g.Deno;
    test("Deno.serve: keep-alive reuse, streamed chunked body, HEAD, 204, POST", async () => {
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} },
        (req, info) => handle(req, info.remoteAddr.port));
      try {
        await check(server.addr.port);
      } finally {
        await server.shutdown();
      }
    });
  } else if (g.Bun) {
    const Bun = g.Bun;
    test("Bun.serve: keep-alive reuse, streamed chunked body, HEAD, 204, POST", async () => {
      const server = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        fetch: (req, s) => handle(req, s.requestIP(req)?.port ?? -1),
      });
      try {
        await check(server.port);
      } finally {
        server.stop(true);
      }
    });
  } else {
    test("node:http with a fetch-style adapter: keep-alive reuse, streamed chunked body, HEAD, 204, POST", async () => {
      const server = http.createServer(async (req, res) => {
        const chunks: Uint8Array[] = [];
        for await (const c of req) chunks.push(c);
        const request = new Request(`http://127.0.0.1${req.url}`, {
          method: req.method,
          body: req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.concat(chunks),
        });
        const response = await handle(request, req.socket.remotePort ?? -1);
        res.writeHead(response.status, Object.fromEntries(response.headers));
        if (response.body && req.method !== "HEAD") {
          const reader = response.body.getReader();
          for (let r = await reader.read(); !r.done; r = await reader.read()) res.write(r.value);
        }
        res.end();
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      try {
        await check((server.address() as AddressInfo).port);
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    });
  }
});
