/**
 * WebSocket echo latency and one-way throughput: sluice client + server beside
 * the `ws` package (every runtime) and the runtime's native WebSocket client +
 * server (Deno.serve/upgradeWebSocket, Bun.serve), in the same run, interleaved.
 * Client and server share the process, for every peer alike.
 *
 *   node --import tsx bench/echo.ts     bun bench/echo.ts     deno run -A bench/echo.ts
 *   options: --quick (smaller counts), --repeats N (default 5, after a warm-up run per size),
 *            --only latency,small,large (run just these measurements)
 *
 * Latency: one message in flight, 32 bytes, round trips timed one by one. The
 * peers take turns in blocks of 500 round trips on connections held open, so
 * that the machine's slow and fast spells (seconds long on a shared VM) hit
 * every peer alike instead of whichever ran during them.
 * Throughput: the client sends N messages as fast as backpressure allows
 * (waiting whenever more than 1 MiB is buffered), then "end"; the server
 * counts and answers with the count; msgs/s = N / time to the answer.
 *
 * @module
 */
import { createRequire } from "node:module";
import { connectWebSocket } from "../src/ws/client.ts";
import { serveWebSocket } from "../src/server/serve.ts";
import { median, percentile, runtimeName, runtimeVersion } from "./_harness.ts";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const repIdx = args.indexOf("--repeats");
const REPEATS = repIdx >= 0 ? Number(args[repIdx + 1]) : quick ? 2 : 5;
const onlyIdx = args.indexOf("--only");
const only = new Set(onlyIdx >= 0 ? args[onlyIdx + 1].split(",") : ["latency", "small", "large"]);
const LAT_N = quick ? 2000 : 10_000;
const SMALL_N = quick ? 50_000 : 200_000;
const LARGE_N = quick ? 300 : 1500;
const HWM = 1 << 20;

/** What each peer implements: a latency run and a throughput run against its own server. */
interface Peer {
  name: string;
  /** A connection for sequential echoes of `size` bytes. */
  openEcho(size: number): Promise<Echo>;
  /** Messages per second for `n` one-way messages of `size` bytes. */
  throughput(n: number, size: number): Promise<number>;
  close(): Promise<void>;
}

/** An open echo connection: `run` times `n` sequential round trips (ms each) into `out`. */
interface Echo {
  run(n: number, out: number[]): Promise<void>;
  close(): Promise<void>;
}

/** An echo over a callback-style WebSocket (`ws`, native): one promise per round trip. */
function callbackEcho(
  ws: { send(d: Uint8Array): void; close(): void },
  onMessage: (fn: () => void) => void,
  size: number,
): Echo {
  const p = new Uint8Array(size);
  let wake: () => void = () => {};
  onMessage(() => wake());
  return {
    async run(n, out) {
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const got = new Promise<void>((r) => (wake = r));
        ws.send(p);
        await got;
        out.push(performance.now() - t0);
      }
    },
    close: () => Promise.resolve(ws.close()),
  };
}

const tick = () => new Promise<void>((r) => setTimeout(r, 0));

// ------------------------------------------------------------------ sluice

async function sluicePeer(): Promise<Peer> {
  const server = await serveWebSocket({
    port: 0,
    handler: async (ws) => {
      if (ws.request.path === "/echo") {
        for await (const m of ws) if (m.type === "binary") void ws.sendBinary(m.data);
        return;
      }
      let count = 0;
      for await (const m of ws) {
        if (m.type === "text" && m.text === "end") void ws.sendText(String(count));
        else count++;
      }
    },
  });
  const base = `ws://127.0.0.1:${server.addr.port}`;
  return {
    name: "sluice",
    async openEcho(size) {
      const ws = await connectWebSocket(base + "/echo");
      const p = new Uint8Array(size);
      return {
        async run(n, out) {
          for (let i = 0; i < n; i++) {
            const t0 = performance.now();
            void ws.sendBinary(p);
            await ws.recv();
            out.push(performance.now() - t0);
          }
        },
        close: async () => void await ws.close(),
      };
    },
    async throughput(n, size) {
      const ws = await connectWebSocket(base + "/sink");
      const p = new Uint8Array(size);
      const t0 = performance.now();
      let last: Promise<void> = Promise.resolve();
      for (let i = 0; i < n; i++) {
        if (ws.bufferedAmount > HWM) await last;
        last = ws.sendBinary(p);
      }
      void ws.sendText("end");
      const reply = await ws.recv();
      const dt = performance.now() - t0;
      if (reply?.type !== "text" || Number(reply.text) !== n) throw new Error(`sluice sink counted ${reply?.type === "text" ? reply.text : "?"} of ${n}`);
      await ws.close();
      return n / (dt / 1000);
    },
    close: () => server.close(),
  };
}

// ------------------------------------------------------------------ ws package

interface WsSocket {
  binaryType: string;
  bufferedAmount: number;
  send(data: Uint8Array | string): void;
  close(): void;
  on(ev: string, fn: (...a: unknown[]) => void): void;
  once(ev: string, fn: (...a: unknown[]) => void): void;
}
interface WsLib {
  new (url: string): WsSocket;
  Server: new (o: { host: string; port: number }, cb?: () => void) => {
    address(): { port: number };
    on(ev: "connection", fn: (ws: WsSocket, req: { url: string }) => void): void;
    close(cb?: () => void): void;
    clients: Set<WsSocket>;
  };
}

async function wsPeer(): Promise<Peer> {
  // The real package by path: on Bun the bare "ws" is Bun's own shim.
  const WS = createRequire(import.meta.url)("../node_modules/ws/index.js") as WsLib;
  const server = await new Promise<InstanceType<WsLib["Server"]>>((resolve) => {
    const s = new WS.Server({ host: "127.0.0.1", port: 0 }, () => resolve(s));
  });
  server.on("connection", (ws, req) => {
    if (req.url === "/echo") {
      ws.on("message", (d) => ws.send(d as Uint8Array));
      return;
    }
    let count = 0;
    ws.on("message", (_data, isBinary) => {
      if (!isBinary) ws.send(String(count));
      else count++;
    });
  });
  const base = `ws://127.0.0.1:${server.address().port}`;
  const open = (path: string) =>
    new Promise<WsSocket>((resolve, reject) => {
      const ws = new WS(base + path);
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
    });
  return {
    name: "ws",
    async openEcho(size) {
      const ws = await open("/echo");
      return callbackEcho(ws, (fn) => ws.on("message", fn), size);
    },
    async throughput(n, size) {
      const ws = await open("/sink");
      const p = new Uint8Array(size);
      const reply = new Promise<string>((r) => ws.once("message", (d) => r(String(d))));
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        while (ws.bufferedAmount > HWM) await tick();
        ws.send(p);
      }
      ws.send("end");
      const count = Number(await reply);
      const dt = performance.now() - t0;
      if (count !== n) throw new Error(`ws sink counted ${count} of ${n}`);
      ws.close();
      return n / (dt / 1000);
    },
    close: () =>
      new Promise<void>((r) => {
        for (const c of server.clients) c.close();
        server.close(() => r());
      }),
  };
}

// ------------------------------------------------------------------ native (Deno, Bun)

interface NativeWs {
  binaryType: string;
  bufferedAmount: number;
  readyState: number;
  send(d: Uint8Array | string): void;
  close(): void;
  onmessage: ((e: { data: unknown }) => void) | null;
  onopen: (() => void) | null;
  onerror: ((e: unknown) => void) | null;
}
type NativeWsCtor = new (url: string) => NativeWs;

function openNative(url: string): Promise<NativeWs> {
  const Ctor = (globalThis as unknown as { WebSocket: NativeWsCtor }).WebSocket;
  return new Promise((resolve, reject) => {
    const ws = new Ctor(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => resolve(ws);
    ws.onerror = reject;
  });
}

function nativeClientRuns(base: string, name: string, close: () => Promise<void>): Peer {
  return {
    name,
    async openEcho(size) {
      const ws = await openNative(base + "/echo");
      return callbackEcho(ws, (fn) => (ws.onmessage = fn), size);
    },
    async throughput(n, size) {
      const ws = await openNative(base + "/sink");
      const p = new Uint8Array(size);
      const reply = new Promise<string>((r) => (ws.onmessage = (e) => r(String(e.data))));
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        while (ws.bufferedAmount > HWM) await tick();
        ws.send(p);
      }
      ws.send("end");
      const count = Number(await reply);
      const dt = performance.now() - t0;
      if (count !== n) throw new Error(`${name} sink counted ${count} of ${n}`);
      ws.close();
      return n / (dt / 1000);
    },
    close,
  };
}

interface DenoLike {
  serve(o: { hostname: string; port: number; onListen?: () => void }, h: (req: Request) => Response): {
    addr: { port: number };
    shutdown(): Promise<void>;
  };
  upgradeWebSocket(req: Request): { socket: NativeWs; response: Response };
}

function denoNativePeer(): Peer {
  const Deno = (globalThis as unknown as { Deno: DenoLike }).Deno;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    const path = new URL(req.url).pathname;
    socket.binaryType = "arraybuffer";
    let count = 0;
    socket.onmessage = (e) => {
      if (path === "/echo") socket.send(new Uint8Array(e.data as ArrayBuffer));
      else if (typeof e.data === "string") socket.send(String(count));
      else count++;
    };
    return response;
  });
  return nativeClientRuns(`ws://127.0.0.1:${server.addr.port}`, "deno native", () => server.shutdown());
}

interface BunWs {
  data: { path: string; count: number };
  send(d: Uint8Array | string): void;
}
interface BunLike {
  serve(o: {
    hostname: string;
    port: number;
    fetch(req: Request, server: { upgrade(req: Request, o: { data: unknown }): boolean }): Response | undefined;
    websocket: { message(ws: BunWs, msg: string | Uint8Array): void };
  }): { port: number; stop(force?: boolean): void };
}

function bunNativePeer(): Peer {
  const Bun = (globalThis as unknown as { Bun: BunLike }).Bun;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      if (srv.upgrade(req, { data: { path: new URL(req.url).pathname, count: 0 } })) return undefined;
      return new Response("upgrade required", { status: 426 });
    },
    websocket: {
      message(ws, msg) {
        if (ws.data.path === "/echo") ws.send(msg);
        else if (typeof msg === "string") ws.send(String(ws.data.count));
        else ws.data.count++;
      },
    },
  });
  return nativeClientRuns(`ws://127.0.0.1:${server.port}`, "bun native", () => Promise.resolve(server.stop(true)));
}

// ------------------------------------------------------------------ run

const rt = runtimeName();
const peers: Peer[] = [await sluicePeer(), await wsPeer()];
if (rt === "deno") peers.push(denoNativePeer());
if (rt === "bun") peers.push(bunNativePeer());

const lat = new Map<string, number[]>();
const small = new Map<string, number[]>();
const large = new Map<string, number[]>();
for (const p of peers) {
  lat.set(p.name, []);
  small.set(p.name, []);
  large.set(p.name, []);
}
// Warm up with one run of each measured size per peer: the JIT needs a couple
// of full runs before the rates settle (the first runs are 40-50 % slower),
// and with few repeats a cold run would be the median.
for (const p of peers) {
  if (only.has("small") || only.has("latency")) await p.throughput(quick ? 2000 : SMALL_N, 64);
  if (only.has("large")) await p.throughput(quick ? 30 : LARGE_N, 65536);
}
const BLOCK = 500;
for (let rep = 0; rep < REPEATS; rep++) {
  if (!only.has("latency")) continue;
  const echoes = await Promise.all(peers.map((p) => p.openEcho(32)));
  for (const e of echoes) await e.run(BLOCK, []); // warm up
  for (let b = 0; b * BLOCK < LAT_N; b++) {
    for (let k = 0; k < peers.length; k++) {
      const i = (k + b + rep) % peers.length;
      await echoes[i].run(Math.min(BLOCK, LAT_N - b * BLOCK), lat.get(peers[i].name)!);
    }
  }
  for (const e of echoes) await e.close();
}
for (let rep = 0; rep < REPEATS; rep++) {
  for (let k = 0; k < peers.length; k++) {
    const p = peers[(k + rep) % peers.length];
    if (only.has("small")) small.get(p.name)!.push(await p.throughput(SMALL_N, 64));
    if (only.has("large")) large.get(p.name)!.push(await p.throughput(LARGE_N, 65536));
  }
}
for (const p of peers) await p.close();

const baseline = rt === "node" ? "ws" : `${rt} native`;
const fmt = (n: number) => (Number.isNaN(n) ? "–" : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0));
const us = (ms: number) => (Number.isNaN(ms) ? "–" : `${(ms * 1000).toFixed(1)} µs`);
const ratio = (r: number) => (Number.isNaN(r) ? "–" : `${r.toFixed(2)}x`);
const mb = (n: number) => (Number.isNaN(n) ? "–" : n.toFixed(0));
console.log(`\nWebSocket echo — ${runtimeVersion()} — ${REPEATS} repeats, medians; ratios vs ${baseline}`);
console.log("| peer | p50 RTT | p99 RTT | 64 B msgs/s | 64 KiB msgs/s | 64 KiB MB/s | p50 vs base | 64 B vs base | 64 KiB vs base |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
const stats = (name: string) => {
  const l = [...lat.get(name)!].sort((a, b) => a - b);
  return { p50: percentile(l, 50), p99: percentile(l, 99), small: median(small.get(name)!), large: median(large.get(name)!) };
};
const b = stats(baseline);
for (const p of peers) {
  const s = stats(p.name);
  console.log(
    `| ${p.name} | ${us(s.p50)} | ${us(s.p99)} | ${fmt(s.small)} | ${fmt(s.large)} | ${mb(s.large * 65536 / 1e6)} | ` +
      `${ratio(b.p50 / s.p50)} | ${ratio(s.small / b.small)} | ${ratio(s.large / b.large)} |`,
  );
}
console.log("(p50 vs base > 1 means lower latency than the baseline; throughput ratios > 1 mean faster)");
