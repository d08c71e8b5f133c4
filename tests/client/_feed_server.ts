/**
 * Test support for the resilient client: a loopback WebSocket server on
 * `serveWebSocket` that speaks a tiny feed protocol and records everything
 * each connection received, plus helpers to drive a client through a
 * `ChaosProxy` and collect its events.
 *
 * Protocol (text messages, JSON unless noted):
 * - `{"type":"auth","token":T}` → `{"type":"authenticated"}`, or
 *   `{"type":"error"}` and close 4001 when T is wrong.
 * - `{"type":"subscribe","channels":[…]}` → `{"type":"subscribed"}`.
 * - `{"type":"burst","n":N,"size":S}` → N messages `b:<i>:` padded to S bytes.
 * - `{"type":"echo","text":X}` → X.
 * - anything else is only recorded (e.g. `m:<seq>` in the ordering tests).
 *
 * @module
 */
import type { AcceptedWebSocket } from "../../src/server/accept.ts";
import { serveWebSocket, type WebSocketServer } from "../../src/server/serve.ts";
import type { ConnectionEvent } from "../../src/client/events.ts";
import type { Message } from "../../src/core/ws/message.ts";
import { authHandshake, subscribeHandshake } from "../../src/client/handshakers.ts";
import type { Handshaker } from "../../src/client/handshake.ts";

/** One connection as the server saw it. */
export interface ServerConn {
  readonly n: number;
  /** Every text message received, in order. */
  readonly received: string[];
  ws: AcceptedWebSocket;
  open: boolean;
}

/** Options of {@link startFeedServer}. */
export interface FeedServerOptions {
  /** The token auth must carry. @default "t0ken" */
  token?: string;
  /** Send `t:<n>` every this many ms after subscribe (0: never). @default 0 */
  tickMs?: number;
  /** Port to listen on. @default 0 */
  port?: number;
  /** Every text message received by any connection, in arrival order. */
  arrivals?: string[];
}

/** A running test server; `conns` accumulates across restarts of the same object. */
export interface FeedServer {
  readonly port: number;
  readonly conns: ServerConn[];
  readonly server: WebSocketServer;
  close(code?: number): Promise<void>;
}

const TOKEN = "t0ken";

/** Starts the feed protocol server on 127.0.0.1; `conns` may be shared across restarts. */
export async function startFeedServer(
  options: FeedServerOptions = {},
  conns: ServerConn[] = [],
): Promise<FeedServer> {
  const token = options.token ?? TOKEN;
  const tickMs = options.tickMs ?? 0;
  const timers = new Set<ReturnType<typeof setInterval>>();
  const handler = async (ws: AcceptedWebSocket) => {
    const conn: ServerConn = { n: conns.length + 1, received: [], ws, open: true };
    conns.push(conn);
    let tick: ReturnType<typeof setInterval> | null = null;
    try {
      for await (const m of ws) {
        if (m.type !== "text") continue;
        conn.received.push(m.text);
        options.arrivals?.push(m.text);
        if (!m.text.startsWith("{")) continue;
        const o = JSON.parse(m.text) as Record<string, unknown>;
        if (o.type === "auth") {
          if (o.token !== token) {
            await ws.sendText('{"type":"error","reason":"bad token"}');
            await ws.close(4001, "bad token");
            return;
          }
          await ws.sendText('{"type":"authenticated"}');
        } else if (o.type === "subscribe") {
          await ws.sendText('{"type":"subscribed"}');
          if (tickMs > 0 && tick === null) {
            let n = 0;
            tick = setInterval(() => void ws.sendText(`t:${++n}`).catch(() => {}), tickMs);
            timers.add(tick);
          }
        } else if (o.type === "burst") {
          const size = Number(o.size);
          for (let i = 1; i <= Number(o.n); i++) {
            const head = `b:${i}:`;
            void ws.sendText(head + "x".repeat(Math.max(0, size - head.length))).catch(() => {});
          }
        } else if (o.type === "echo") await ws.sendText(String(o.text));
      }
    } catch { /* the connection failed: recorded as closed */ } finally {
      conn.open = false;
      if (tick) {
        clearInterval(tick);
        timers.delete(tick);
      }
    }
  };
  const server = await serveWebSocket({ port: options.port ?? 0, handler, closeTimeout: 1000 });
  return {
    port: server.addr.port,
    conns,
    server,
    close: async (code = 1001) => {
      for (const t of timers) clearInterval(t);
      await server.close(code, "restarting");
    },
  };
}

/** The handshakers that match the feed protocol: auth (waits for the answer), then subscribe (confirmed). */
export function feedHandshakers(token = TOKEN, timeoutMs = 5000): Handshaker[] {
  return [
    authHandshake(token, {
      timeoutMs,
      reply: (m: Message) => {
        if (m.type !== "text" || !m.text.startsWith('{"type":')) return undefined;
        if (m.text.includes('"authenticated"')) return true;
        return m.text.includes('"error"') ? false : undefined;
      },
    }),
    subscribeHandshake(["trades"], { waitConfirmation: true, timeoutMs }),
  ];
}

/** Collects a client's events into an array as they arrive. */
export function recordEvents(stream: ReadableStream<ConnectionEvent>): {
  events: ConnectionEvent[];
  done: Promise<void>;
  /** Resolves when an event satisfying `pred` arrives (or was recorded already), else rejects after `ms`. */
  waitFor: (pred: (e: ConnectionEvent) => boolean, ms?: number, from?: number) => Promise<ConnectionEvent>;
} {
  const events: ConnectionEvent[] = [];
  const waiters = new Set<() => void>();
  const done = (async () => {
    const reader = stream.getReader();
    for (;;) {
      const r = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (r.done) break;
      events.push(r.value);
      for (const w of [...waiters]) w();
    }
    for (const w of [...waiters]) w();
  })();
  const waitFor = (pred: (e: ConnectionEvent) => boolean, ms = 5000, from = 0) =>
    new Promise<ConnectionEvent>((resolve, reject) => {
      const check = () => {
        const hit = events.slice(from).find(pred);
        if (hit) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(`event not seen within ${ms} ms; got: ${events.map((e) => e.type).join(", ")}`),
        );
      }, ms);
      waiters.add(check);
      check();
    });
  return { events, done, waitFor };
}

/** Resolves once `cond()` holds, checking every 5 ms; rejects after `ms` with `what`. */
export async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The event types in order, with connection ids where they have one: "connected:c1". */
export function eventTrail(events: readonly ConnectionEvent[]): string[] {
  return events.map((e) => ("id" in e ? `${e.type}:${e.id}` : e.type));
}
