/**
 * REST client benchmark: keep-alive requests/s and per-call p50/p99 latency
 * for a 100-byte JSON response and a 1 MiB chunked response, sluice beside
 * undici (`Client`, pipelining 1 and 10), Node's `http` with a keep-alive
 * agent, and the runtime's `fetch`, interleaved in the same run.
 *
 * Every peer consumes bodies the same way in a table: either the whole body
 * as one buffer (sluice `bytes()`, undici and fetch `arrayBuffer()`, node:http
 * `Buffer.concat`), or piece by piece as a stream, counting bytes (sluice
 * `stream`, undici's body iterator, fetch's `body` reader, node:http `data`).
 * The 1 MiB case is measured both ways: joining 1 MiB costs about as much as
 * the rest of the request, and native clients do it outside JavaScript.
 *
 * The server is a minimal raw-TCP HTTP/1.1 responder in a separate `node`
 * process, so the client under test has the event loop to itself and the
 * server is not the bottleneck.
 *
 * Usage: `node --import tsx bench/rest.ts [--duration 400] [--repeats 3]`
 * (also `deno run -A bench/rest.ts`, `bun bench/rest.ts`).
 *
 * @module
 */
import { spawn } from "node:child_process";
import { Buffer } from "node:buffer";
import http from "node:http";
import { RestClient } from "../src/rest/client.ts";
import { type BenchCase, compare, printTable, runtimeName } from "./_harness.ts";

const args = new Map<string, string>();
const argv = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) args.set(argv[i].replace(/^--/, ""), argv[i + 1]);
const durationMs = Number(args.get("duration") ?? 400);
const repeats = Number(args.get("repeats") ?? 3);

// The server: answers each request head with a precomputed response, in order
// (so pipelining works), as fast as node:net allows.
const SERVER = `
const net = require("node:net");
const json = JSON.stringify({ id: 12345, name: "sluice", ok: true, tags: ["a", "b", "c"], pad: "${"x".repeat(32)}" });
const small = Buffer.from("HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: " + json.length + "\\r\\n\\r\\n" + json);
const piece = Buffer.alloc(64 * 1024, 97);
const parts = [Buffer.from("HTTP/1.1 200 OK\\r\\nContent-Type: application/octet-stream\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n")];
for (let i = 0; i < 16; i++) parts.push(Buffer.from("10000\\r\\n"), piece, Buffer.from("\\r\\n"));
parts.push(Buffer.from("0\\r\\n\\r\\n"));
const big = Buffer.concat(parts);
const server = net.createServer((s) => {
  s.setNoDelay(true);
  let tail = "";
  s.on("data", (d) => {
    const text = tail + d.toString("latin1");
    let at = 0, out = [];
    for (let end = text.indexOf("\\r\\n\\r\\n", at); end !== -1; end = text.indexOf("\\r\\n\\r\\n", at)) {
      out.push(text.startsWith("GET /big", at) ? big : small);
      at = end + 4;
    }
    tail = text.slice(at);
    // Pipelined answers go out in one writev, without copying them together.
    s.cork();
    for (const b of out) s.write(b);
    s.uncork();
  });
  s.on("error", () => {});
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

async function startServer(): Promise<{ port: number; stop: () => void }> {
  const child = spawn("node", ["-e", SERVER], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once("data", (d) => resolve(Number(String(d).trim())));
    child.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return { port, stop: () => child.pid !== undefined && process.kill(child.pid, "SIGTERM") };
}

async function drain(body: ReadableStream<Uint8Array> | null): Promise<number> {
  if (body === null) return 0;
  let n = 0;
  const reader = body.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) n += r.value.length;
  return n;
}

/** How a case consumes each response body. */
type Mode = "whole" | "streamed";

interface Peer {
  name: string;
  /** One request; resolves with the body length, read as one buffer ("whole") or piece by piece. */
  one: (path: string, mode: Mode) => Promise<number>;
  close: () => Promise<void>;
  /** Requests this peer can have in flight on its one connection. */
  depth: number;
}

async function peers(port: number): Promise<Peer[]> {
  const base = `http://127.0.0.1:${port}`;
  const out: Peer[] = [];
  for (const depth of [1, 10]) {
    const sluice = await RestClient.connect(base, { maxInFlightRequestsPerConnection: depth });
    out.push({
      name: depth === 1 ? "sluice" : "sluice pipeline 10",
      depth,
      one: async (path, mode) => {
        const res = await sluice.request({ method: "GET", path });
        if (res.body) return res.body.length;
        return mode === "whole" ? (await res.bytes()).length : await drain(res.stream);
      },
      close: () => sluice.close(),
    });
  }
  try {
    // Bun resolves "undici" to a built-in stub; load the npm package by path there.
    const spec = runtimeName() === "bun" ? "../node_modules/undici/index.js" : "undici";
    const { Client } = (await import(spec)) as typeof import("undici");
    for (const pipelining of [1, 10]) {
      const client = new Client(base, { pipelining, connections: 1 } as ConstructorParameters<typeof Client>[1]);
      out.push({
        name: `undici pipelining ${pipelining}`,
        depth: pipelining,
        one: async (path, mode) => {
          const res = await client.request({ method: "GET", path });
          if (mode === "whole") return (await res.body.arrayBuffer()).byteLength;
          let n = 0;
          for await (const piece of res.body) n += (piece as Uint8Array).length;
          return n;
        },
        close: () => client.close(),
      });
    }
  } catch (e) {
    console.log(`undici unavailable on ${runtimeName()}: ${(e as Error).message}`);
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  out.push({
    name: "node:http keep-alive agent",
    depth: 1,
    one: (path, mode) =>
      new Promise<number>((resolve, reject) => {
        http.get({ host: "127.0.0.1", port, path, agent }, (res) => {
          const parts: Uint8Array[] = [];
          let n = 0;
          res.on("data", (d: Uint8Array) => {
            n += d.length;
            if (mode === "whole") parts.push(d);
          });
          res.on("end", () => resolve(mode === "whole" ? Buffer.concat(parts).length : n));
          res.on("error", reject);
        }).on("error", reject);
      }),
    close: () => Promise.resolve(agent.destroy()),
  });
  out.push({
    name: `fetch (${runtimeName()})`,
    depth: 1,
    one: async (path, mode) => {
      const res = await fetch(base + path);
      return mode === "whole" ? (await res.arrayBuffer()).byteLength : await drain(res.body);
    },
    close: () => Promise.resolve(),
  });
  return out;
}

async function main(): Promise<void> {
  const server = await startServer();
  const list = await peers(server.port);
  try {
    for (const [label, path, mode, expect] of [
      ["100-byte JSON, keep-alive GET, body as one buffer", "/json", "whole", 100],
      ["1 MiB chunked, keep-alive GET, body read as a stream", "/big", "streamed", 1 << 20],
      ["1 MiB chunked, keep-alive GET, body as one buffer", "/big", "whole", 1 << 20],
    ] as const) {
      // Sanity: every peer reads the full body before we time it.
      for (const p of list) {
        const n = await p.one(path, mode);
        if (n !== expect) throw new Error(`${p.name} read ${n} bytes from ${path}, expected ${expect}`);
      }
      const cases: BenchCase[] = list.map((p) => ({
        name: p.name,
        opsPerCall: p.depth,
        fn: p.depth === 1
          ? () => p.one(path, mode)
          : () => Promise.all(Array.from({ length: p.depth }, () => p.one(path, mode))),
      }));
      const rows = await compare(cases, {
        durationMs: path === "/big" ? durationMs * 2 : durationMs,
        repeats,
        warmup: path === "/big" ? 5 : 200,
      });
      printTable(rows, "sluice", `${label} (requests/s; latency per call, pipelined calls carry 10 requests)`);
    }
  } finally {
    for (const p of list) await p.close().catch(() => {});
    server.stop();
  }
}

// Every run is bounded: give up rather than hang if a peer stalls.
const watchdog = setTimeout(() => {
  console.error("bench/rest.ts exceeded 240 s; exiting");
  process.exit(1);
}, 240_000);
try {
  await main();
} finally {
  clearTimeout(watchdog);
}
