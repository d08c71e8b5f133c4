/**
 * A market-data consumer on the resilient `WebSocketClient`: it
 * authenticates and subscribes on every connection, and prints a live
 * one-line status — connected or reconnecting, messages per second, gaps in
 * the trade sequence numbers, reconnects.
 *
 * Run against `examples/feed_server.ts`:
 * `deno run --allow-net --allow-env --allow-read examples/feed_consumer.ts --url ws://127.0.0.1:9300/`
 * (also `bun examples/feed_consumer.ts …` and `node --import tsx examples/feed_consumer.ts …`).
 * Options: `--token`, `--channels a,b`, `--seconds N` (stop after N s). Ctrl-C stops.
 *
 * @module
 */
import { resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { fastReconnect } from "../src/client/client_options.ts";
import type { ConnectionEvent } from "../src/client/events.ts";
import { statusExtension } from "../src/client/extensions.ts";
import { authHandshake, subscribeHandshake } from "../src/client/handshakers.ts";
import { WebSocketClient } from "../src/client/websocket_client.ts";
import type { Message } from "../src/core/ws/message.ts";

/** Options of {@link startConsumer}. */
export interface ConsumerOptions {
  /** The feed's URL. */
  url: string;
  /** The auth token. @default "demo-token" */
  token?: string;
  /** Channels to subscribe to. @default ["trades.BTC-USD", "trades.ETH-USD"] */
  channels?: string[];
  /** Where the status goes; a TTY gets one line redrawn in place. @default process.stdout */
  out?: { write(text: string): unknown; isTTY?: boolean };
  /** How often the status line is drawn, in ms (once a second when not a TTY). @default 250 */
  statusEveryMs?: number;
}

/** What the consumer saw so far. */
export interface ConsumerStats {
  /** Whether a connection is up (handshakes done). */
  connected: boolean;
  /** Trades received. */
  trades: number;
  /** Trades per second over the last status interval. */
  perSecond: number;
  /** Sequence numbers skipped (trades missed while away). */
  missed: number;
  /** Separate runs of skipped numbers. */
  gaps: number;
  /** Trades whose number was not above the last one seen (should stay 0). */
  outOfOrder: number;
  /** Connections after the first. */
  reconnects: number;
  /** Trades received since the last (re)connect. */
  tradesSinceConnect: number;
  /** The last ping round-trip time, in ms. */
  rttMs: number | null;
}

/** A running consumer. */
export interface Consumer {
  /** The counters now. */
  stats(): ConsumerStats;
  /** Prints a line above the status line. */
  note(line: string): void;
  /** Shuts the client down gracefully; resolves with the final counters. */
  stop(): Promise<ConsumerStats>;
  /** Settles when the client stops (rejects if it gave up). */
  readonly done: Promise<void>;
}

const isReply = (kind: string) => (m: Message): boolean | undefined => {
  if (m.type !== "text" || !m.text.startsWith('{"type":')) return undefined;
  if (m.text.startsWith(`{"type":"${kind}"`)) return true;
  return m.text.startsWith('{"type":"error"') ? false : undefined;
};

/** Connects, subscribes and starts drawing the status line. */
export function startConsumer(options: ConsumerOptions): Consumer {
  const out = options.out ?? process.stdout;
  const tty = out.isTTY === true;
  const channels = options.channels ?? ["trades.BTC-USD", "trades.ETH-USD"];
  const status = statusExtension();
  const client = new WebSocketClient(options.url, fastReconnect({
    handshakers: [
      authHandshake(options.token ?? "demo-token", { reply: isReply("authenticated") }),
      subscribeHandshake(channels, { waitConfirmation: true }),
    ],
    extensions: [status],
  }));

  const last = new Map<string, number>();
  const s = { trades: 0, missed: 0, gaps: 0, outOfOrder: 0, sinceConnect: 0 };
  let perSecond = 0;
  let lastEvent: ConnectionEvent | null = null;
  const started = performance.now();

  const line = (): string => {
    const st = client.state();
    const secs = ((performance.now() - started) / 1000).toFixed(1).padStart(5);
    let where: string;
    if (st.status === "connected") {
      where = `● connected ${st.id} (${st.lastRttMs === null ? "rtt ?" : `rtt ${st.lastRttMs.toFixed(1)} ms`})`;
    } else if (st.status === "closed" || st.status === "closing") where = `■ ${st.status}`;
    else if (lastEvent?.type === "reconnectScheduled") {
      where = `○ reconnecting (attempt ${lastEvent.attempt} in ${Math.round(lastEvent.delayMs)} ms)`;
    } else where = `○ ${st.status}${st.attempt > 1 ? ` (attempt ${st.attempt})` : ""}`;
    return `[${secs}s] ${where} | ${perSecond} msg/s | ${s.trades} trades | ` +
      `gaps ${s.gaps} (${s.missed} missed) | reconnects ${st.reconnectCount}`;
  };
  let drawn = false;
  const draw = () => {
    if (tty) out.write(`\r\x1b[2K${line()}`);
    else out.write(`${line()}\n`);
    drawn = tty;
  };
  const note = (text: string) => {
    if (drawn) out.write("\r\x1b[2K");
    out.write(`${text}\n`);
    drawn = false;
    if (tty) draw();
  };

  let counted = 0;
  let countedAt = performance.now();
  const every = tty ? options.statusEveryMs ?? 250 : 1000;
  const ticker = setInterval(() => {
    const now = performance.now();
    perSecond = Math.round(((s.trades - counted) * 1000) / Math.max(1, now - countedAt));
    counted = s.trades;
    countedAt = now;
    draw();
  }, every);

  const events = (async () => {
    for await (const e of client.events()) {
      lastEvent = e;
      if (e.type === "connected") {
        s.sinceConnect = 0;
        note(`  ↑ connected ${e.id} (attempt ${e.attempt}${e.reconnect ? ", re-authenticated and re-subscribed" : ""})`);
      } else if (e.type === "disconnected") {
        note(`  ↓ disconnected ${e.id}: ${e.reason} (code ${e.code}, up ${(e.connectedForMs / 1000).toFixed(1)} s)`);
      } else if (e.type === "handshakeFailed") {
        note(`  ✗ handshake "${e.handshaker}" failed: ${(e.error as Error)?.message}`);
      }
    }
  })();

  const messages = (async () => {
    for await (const m of client.messages()) {
      if (m.type !== "text" || !m.text.startsWith('{"type":"trade"')) continue;
      const trade = JSON.parse(m.text) as { channel: string; seq: number };
      const prev = last.get(trade.channel);
      if (prev !== undefined) {
        if (trade.seq > prev + 1) {
          s.gaps++;
          s.missed += trade.seq - prev - 1;
        } else if (trade.seq <= prev) s.outOfOrder++;
      }
      last.set(trade.channel, trade.seq);
      s.trades++;
      s.sinceConnect++;
    }
  })();

  const stats = (): ConsumerStats => ({
    connected: client.isConnected,
    trades: s.trades,
    perSecond,
    missed: s.missed,
    gaps: s.gaps,
    outOfOrder: s.outOfOrder,
    reconnects: client.state().reconnectCount,
    tradesSinceConnect: s.sinceConnect,
    rttMs: client.state().lastRttMs,
  });

  const done = client.run().finally(() => clearInterval(ticker));
  done.catch(() => {});
  let stopping: Promise<ConsumerStats> | null = null;
  return {
    stats,
    note,
    done,
    stop: () =>
      stopping ??= (async () => {
        const final = stats();
        await client.close();
        await Promise.all([events, messages]);
        draw();
        if (tty) out.write("\n");
        return final;
      })(),
  };
}

function parseArgs(argv: string[]): ConsumerOptions & { seconds?: number } {
  let url: string | undefined;
  const options: Partial<ConsumerOptions> & { seconds?: number } = {};
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--url") url = value;
    else if (flag === "--port") url = `ws://127.0.0.1:${value}/`;
    else if (flag === "--token") options.token = value;
    else if (flag === "--channels") options.channels = value.split(",");
    else if (flag === "--seconds") options.seconds = Number(value);
    else throw new TypeError(`unknown argument ${flag}: use --url, --port, --token, --channels, --seconds`);
  }
  if (!url) throw new TypeError("--url ws://HOST:PORT/ (or --port N) is required");
  return { ...options, url };
}

/** True when this file is the program being run (Deno, Bun, or Node via tsx). */
function isMain(meta: ImportMeta): boolean {
  const main = (meta as ImportMeta & { main?: boolean }).main;
  if (typeof main === "boolean") return main;
  return resolve(process.argv[1] ?? "") === fileURLToPath(meta.url);
}

if (isMain(import.meta)) {
  const { seconds, ...options } = parseArgs(process.argv.slice(2));
  const consumer = startConsumer(options);
  const stop = async () => {
    const s = await consumer.stop();
    console.log(`${s.trades} trades, ${s.gaps} gaps (${s.missed} missed), ${s.reconnects} reconnects`);
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  if (seconds !== undefined) setTimeout(() => void stop(), seconds * 1000);
  consumer.done.catch((e) => {
    console.error(`gave up: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
