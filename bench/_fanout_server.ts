/**
 * One server of bench/fanout.ts, in a process of its own so that its memory
 * can be read alone: `--peer sluice | sluice-handler | sluice-loop | ws | bun | deno`.
 * JSON lines on stdin, answers on stdout:
 *
 *   --dist: load sluice from dist/ (the npm build), as Node users do
 *
 *   (at start)                      → {"ready":true,"port":P}
 *   {"cmd":"wait","connections":N}  → {"ok":true} once N are open (bounded)
 *   {"cmd":"mem"}                   → {"rss":…,"heap":…,"connections":N} after a full GC
 *   {"cmd":"publish","count":C,"size":S} sends C text messages of S bytes to every connection
 *                                   → {"ok":true,"ms":…} when the sends were handed over
 *   {"cmd":"exit"}
 *
 * sluice subscribes each socket in an `open` callback and publishes through
 * `server.publish` on one topic; sluice-handler does the same from an async
 * `handler` that iterates the socket; sluice-loop sends with `sendText` to
 * each connection of a Set (what users wrote before topics); ws loops over `wss.clients`; Bun.serve uses `server.publish`;
 * Deno.serve loops over its sockets.
 *
 * @module
 */
import { createRequire } from "node:module";
import process from "node:process";
import type { AcceptedWebSocket } from "../src/server/accept.ts";

const args = process.argv.slice(2);
const peer = args[args.indexOf("--peer") + 1] ?? "sluice";
// On Node the package's build is what users run (tsx adds a `name` property
// to every function it compiles, about 250 bytes per closure per connection).
const { serveWebSocket } = (args.includes("--dist")
  ? await import("../dist/mod.js" as string)
  : await import("../mod.ts")) as typeof import("../mod.ts");
const WAIT_LIMIT_MS = 120_000;

interface Server {
  port: number;
  connections(): number;
  publish(text: string): void;
}

function reply(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

async function sluice(mode: "callbacks" | "handler" | "loop"): Promise<Server> {
  const sockets = new Set<AcceptedWebSocket>();
  const common = { hostname: "127.0.0.1", port: 0, maxConnections: 200_000 };
  const server = mode === "callbacks"
    // The lightest form: Bun.serve-style callbacks, no coroutine per socket.
    ? await serveWebSocket({ ...common, open: (ws) => void ws.subscribe("all") })
    : await serveWebSocket({
      ...common,
      handler: async (ws) => {
        if (mode === "loop") sockets.add(ws);
        else ws.subscribe("all");
        try {
          for await (const _ of ws) { /* the clients send nothing */ }
        } finally {
          sockets.delete(ws);
        }
      },
    });
  return {
    port: server.addr.port,
    connections: () => server.connections,
    publish: mode === "loop"
      ? (text) => {
        for (const ws of sockets) void ws.sendText(text);
      }
      : (text) => void server.publish("all", text),
  };
}

function ws(): Promise<Server> {
  const require = createRequire(import.meta.url);
  const { WebSocketServer } = require("ws") as typeof import("ws");
  return new Promise((resolve) => {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
    wss.on("listening", () => {
      resolve({
        port: (wss.address() as { port: number }).port,
        connections: () => wss.clients.size,
        publish: (text) => {
          for (const c of wss.clients) c.send(text);
        },
      });
    });
  });
}

interface BunWs {
  subscribe(topic: string): void;
}
interface BunServer {
  port: number;
  upgrade(req: Request): boolean;
  publish(topic: string, data: string): number;
  pendingWebSockets: number;
}

function bun(): Server {
  const B = (globalThis as unknown as {
    Bun: { serve(o: unknown): BunServer };
  }).Bun;
  let open = 0;
  const server = B.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req: Request, s: BunServer) {
      if (s.upgrade(req)) return undefined;
      return new Response("not a websocket", { status: 400 });
    },
    websocket: {
      perMessageDeflate: false,
      open(ws: BunWs) {
        open++;
        ws.subscribe("all");
      },
      close() {
        open--;
      },
      message() {},
    },
  });
  return {
    port: server.port,
    connections: () => open,
    publish: (text) => void server.publish("all", text),
  };
}

function deno(): Server {
  const D = (globalThis as unknown as {
    Deno: {
      serve(o: unknown, h: (req: Request) => Response): { addr: { port: number } };
      upgradeWebSocket(req: Request): { socket: WebSocket; response: Response };
    };
  }).Deno;
  const sockets = new Set<WebSocket>();
  let port = 0;
  const server = D.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (a: { port: number }) => void (port = a.port),
  }, (req) => {
    const { socket, response } = D.upgradeWebSocket(req);
    socket.onopen = () => sockets.add(socket);
    socket.onclose = () => sockets.delete(socket);
    return response;
  });
  return {
    port: port || server.addr.port,
    connections: () => sockets.size,
    publish: (text) => {
      for (const s of sockets) s.send(text);
    },
  };
}

function gc(): void {
  const g = globalThis as { gc?: () => void; Bun?: { gc(full: boolean): void } };
  if (g.Bun) g.Bun.gc(true);
  else g.gc?.();
}

async function memory(): Promise<{ rss: number; heap: number }> {
  // Two passes with a pause between: finalizers and released native memory settle.
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 200));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

const server = peer === "sluice"
  ? await sluice("callbacks")
  : peer === "sluice-handler"
  ? await sluice("handler")
  : peer === "sluice-loop"
  ? await sluice("loop")
  : peer === "ws"
  ? await ws()
  : peer === "bun"
  ? bun()
  : peer === "deno"
  ? deno()
  : (() => {
    throw new Error(`unknown peer ${peer}`);
  })();

let input = "";
process.stdin.on("data", (d: Uint8Array) => {
  input += new TextDecoder().decode(d);
  for (let nl = input.indexOf("\n"); nl >= 0; nl = input.indexOf("\n")) {
    const line = input.slice(0, nl);
    input = input.slice(nl + 1);
    void handle(JSON.parse(line));
  }
});
process.stdin.on("end", () => process.exit(0));

async function handle(msg: { cmd: string; connections?: number; count?: number; size?: number }) {
  if (msg.cmd === "wait") {
    const deadline = performance.now() + WAIT_LIMIT_MS;
    while (server.connections() < msg.connections! && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    reply({ ok: server.connections() >= msg.connections!, connections: server.connections() });
  } else if (msg.cmd === "mem") {
    reply({ ...(await memory()), connections: server.connections() });
  } else if (msg.cmd === "publish") {
    const texts = Array.from({ length: msg.count! }, (_, i) => String(i % 10).repeat(msg.size!));
    const started = performance.now();
    for (const t of texts) server.publish(t);
    reply({ ok: true, ms: performance.now() - started });
  } else if (msg.cmd === "exit") {
    process.exit(0);
  }
}

reply({ ready: true, port: server.port });
