/**
 * A local market-data feed on the sluice WebSocket server: clients
 * authenticate, subscribe to channels, then receive a steady stream of trades
 * with sequence numbers.
 *
 * Sequence numbers come from the clock (one trade per channel every
 * `1000 / rate` ms since midnight UTC), so they carry on across server
 * restarts and a client that was away sees exactly how many trades it missed.
 *
 * Protocol (JSON text messages):
 * - `{"type":"auth","token":"…"}` → `{"type":"authenticated"}`, or an error and close 1008
 * - `{"type":"subscribe","channels":["trades.BTC-USD"]}` → `{"type":"subscribed","channels":[…]}`
 * - then `{"type":"trade","channel":…,"seq":…,"price":…,"size":…,"ts":…}`
 *
 * Run: `deno run --allow-net --allow-env --allow-read examples/feed_server.ts --port 9300`
 * (or `bun examples/feed_server.ts …`, `node --import tsx examples/feed_server.ts …`).
 * Prints `listening on ws://HOST:PORT`; SIGTERM/SIGINT close every client with 1001.
 *
 * @module
 */
import { resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { AcceptedWebSocket } from "../src/server/accept.ts";
import { serveWebSocket } from "../src/server/serve.ts";

/** Options of {@link startFeedServer}. */
export interface FeedServerOptions {
  /** Address to listen on. @default "127.0.0.1" */
  hostname?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** The token clients must send. @default "demo-token" */
  token?: string;
  /** Trades per second per channel. @default 200 */
  rate?: number;
}

/** A running feed server. */
export interface FeedServer {
  /** `ws://host:port/`. */
  readonly url: string;
  /** Clients subscribed now. */
  readonly subscribers: number;
  /** Closes every client with 1001 and stops. */
  close(): Promise<void>;
}

const CHANNELS = ["trades.BTC-USD", "trades.ETH-USD"];
/** A slow client is cut off rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 1 << 20;

/** The price of a channel at a sequence number: a deterministic random walk. */
function priceAt(channel: string, seq: number): number {
  const base = channel.includes("BTC") ? 64_000 : 3_200;
  const wobble = Math.sin(seq / 500) * 0.01 + Math.sin(seq / 37) * 0.002;
  return Math.round(base * (1 + wobble) * 100) / 100;
}

/** Starts the feed; see the module documentation for the protocol. */
export async function startFeedServer(options: FeedServerOptions = {}): Promise<FeedServer> {
  const token = options.token ?? "demo-token";
  const periodMs = 1000 / (options.rate ?? 200);
  const subscribed = new Map<AcceptedWebSocket, Set<string>>();
  const midnight = new Date().setUTCHours(0, 0, 0, 0);
  const seqNow = () => Math.floor((Date.now() - midnight) / periodMs);
  let lastSeq = seqNow();

  // One clock for everyone: every tick sends the trades due since the last
  // one, so timer jitter never shows up as missing sequence numbers.
  const timer = setInterval(() => {
    const now = seqNow();
    for (let seq = lastSeq + 1; seq <= now; seq++) {
      for (const channel of CHANNELS) {
        const trade = JSON.stringify({
          type: "trade",
          channel,
          seq,
          price: priceAt(channel, seq),
          size: Math.round((0.01 + (seq % 97) / 100) * 1000) / 1000,
          ts: Math.round(midnight + seq * periodMs),
        });
        for (const [ws, channels] of subscribed) {
          if (!channels.has(channel)) continue;
          if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
            subscribed.delete(ws);
            void ws.close(1008, "too slow").catch(() => {});
            continue;
          }
          ws.sendText(trade).catch(() => {});
        }
      }
    }
    lastSeq = now;
  }, 5);

  const handler = async (ws: AcceptedWebSocket) => {
    let authenticated = false;
    try {
      for await (const msg of ws) {
        if (msg.type !== "text") continue;
        let req: { type?: string; token?: string; channels?: unknown };
        try {
          req = JSON.parse(msg.text);
        } catch {
          await ws.sendText('{"type":"error","reason":"not JSON"}');
          continue;
        }
        if (req.type === "auth") {
          if (req.token !== token) {
            await ws.sendText('{"type":"error","reason":"bad token"}');
            await ws.close(1008, "bad token");
            return;
          }
          authenticated = true;
          await ws.sendText('{"type":"authenticated"}');
        } else if (req.type === "subscribe") {
          if (!authenticated) {
            await ws.sendText('{"type":"error","reason":"authenticate first"}');
            continue;
          }
          const wanted = Array.isArray(req.channels) ? req.channels.map(String) : [];
          const channels = wanted.filter((c) => CHANNELS.includes(c));
          if (channels.length === 0) {
            await ws.sendText(JSON.stringify({ type: "error", reason: "unknown channels" }));
            continue;
          }
          await ws.sendText(JSON.stringify({ type: "subscribed", channels }));
          subscribed.set(ws, new Set([...(subscribed.get(ws) ?? []), ...channels]));
        }
      }
    } finally {
      subscribed.delete(ws);
    }
  };

  const server = await serveWebSocket({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    handler,
    closeTimeout: 1000,
  });
  const host = server.addr.hostname.includes(":") ? `[${server.addr.hostname}]` : server.addr.hostname;
  return {
    url: `ws://${host}:${server.addr.port}/`,
    get subscribers() {
      return subscribed.size;
    },
    async close() {
      clearInterval(timer);
      await server.close(1001, "server restarting");
    },
  };
}

function parseArgs(argv: string[]): FeedServerOptions {
  const options: FeedServerOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--port") options.port = Number(value);
    else if (flag === "--host") options.hostname = value;
    else if (flag === "--token") options.token = value;
    else if (flag === "--rate") options.rate = Number(value);
    else throw new TypeError(`unknown argument ${flag}: use --port, --host, --token, --rate`);
    i++;
  }
  if (options.port !== undefined && !(Number.isInteger(options.port) && options.port >= 0)) {
    throw new RangeError(`--port must be an integer >= 0: got ${options.port}`);
  }
  if (options.rate !== undefined && !(options.rate > 0 && options.rate <= 1000)) {
    throw new RangeError(`--rate must be in (0, 1000] trades per second: got ${options.rate}`);
  }
  return options;
}

/** True when this file is the program being run (Deno, Bun, or Node via tsx). */
function isMain(meta: ImportMeta): boolean {
  const main = (meta as ImportMeta & { main?: boolean }).main;
  if (typeof main === "boolean") return main;
  return resolve(process.argv[1] ?? "") === fileURLToPath(meta.url);
}

if (isMain(import.meta)) {
  const server = await startFeedServer(parseArgs(process.argv.slice(2)));
  console.log(`listening on ${server.url.replace(/\/$/, "")}`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}
