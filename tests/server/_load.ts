/**
 * Load helpers for the server reliability tests (flood_test.ts, churn_test.ts):
 * raw `node:net` sockets (the same on Deno, Bun and Node) that are always
 * tracked and destroyed, a bounded worker pool, a hand-written upgrade, bounded
 * waits, and memory readings after a forced garbage collection where the
 * runtime allows one.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import net from "node:net";
import v8 from "node:v8";
import vm from "node:vm";
import { MAX_POOLED_BYTES, MIN_POOLED_BYTES } from "../../src/core/buf_pool.ts";
import { acceptFor } from "../_helpers/raw_peer.ts";

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with the value, or rejects naming `what` after `ms` (the conformance helpers' own). */
export { within } from "../ws/_conformance.ts";

/**
 * Polls `cond` every `pollMs` until it holds or `timeoutMs` passed.
 *
 * @param cond The condition.
 * @param timeoutMs Upper bound of the wait.
 * @param what Described in the error, with `detail()` when given.
 * @param detail The state to report when the wait fails.
 * @returns How long it took, ms.
 * @throws {Error} When `cond` did not hold in time.
 */
export async function waitFor(
  cond: () => boolean,
  timeoutMs: number,
  what: string,
  detail?: () => string,
): Promise<number> {
  const started = performance.now();
  while (!cond()) {
    if (performance.now() - started > timeoutMs) {
      throw new Error(`${what}: not within ${timeoutMs} ms${detail ? ` (${detail()})` : ""}`);
    }
    await sleep(5);
  }
  return performance.now() - started;
}

/** The running runtime. */
export function runtime(): "deno" | "bun" | "node" {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno ? "deno" : g.Bun ? "bun" : "node";
}

/**
 * Runs `task(0 … count-1)` with at most `concurrency` at a time, giving up
 * on starting new ones after `timeoutMs`. A task that throws is counted, not
 * rethrown (the first error is kept), so one bad connection cannot hide the
 * others' results.
 *
 * @returns How many tasks ran, how many threw, and the first error.
 */
export async function runPool(
  count: number,
  concurrency: number,
  timeoutMs: number,
  task: (i: number) => Promise<void>,
): Promise<{ started: number; failed: number; firstError: unknown }> {
  const deadline = performance.now() + timeoutMs;
  let next = 0;
  let failed = 0;
  let firstError: unknown = null;
  const worker = async () => {
    while (next < count && performance.now() < deadline) {
      const i = next++;
      try {
        await task(i);
      } catch (e) {
        if (failed++ === 0) firstError = e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { started: next, failed, firstError };
}

/** How a raw socket ended, seen from the client side. */
export interface RawSocket {
  readonly socket: net.Socket;
  /** `performance.now()` when connected. */
  readonly connectedAt: number;
  /** `performance.now()` when the socket closed; null while open. */
  closedAt: number | null;
  /** True when this side destroyed the socket first (not the server's doing). */
  destroyedByUs: boolean;
  /** The first bytes received (up to 64), as latin1 text. */
  firstBytes: string;
  /** Settles when the socket has closed (never rejects). */
  readonly closed: Promise<void>;
  /** Destroys it (FIN, or RST when unread data remains); marks it as our doing. */
  destroy(): void;
  /** Destroys it with an RST (`resetAndDestroy`, where the runtime has it). */
  reset(): void;
}

/** Every raw socket a test opened, destroyed together in `finally`. */
export class SocketTracker {
  readonly #open = new Set<net.Socket>();

  /** Sockets not yet closed. */
  get size(): number {
    return this.#open.size;
  }

  /** Tracks `socket` until it closes. */
  add(socket: net.Socket): void {
    this.#open.add(socket);
    socket.once("close", () => this.#open.delete(socket));
  }

  /** Destroys every socket still open. */
  destroyAll(): void {
    for (const s of this.#open) s.destroy();
    this.#open.clear();
  }
}

/**
 * Connects a raw TCP socket to 127.0.0.1:`port`, tracked by `tracker`.
 * Socket errors after the connect (ECONNRESET, EPIPE: the server cut it)
 * only end it.
 *
 * @throws {Error} When the connect fails or takes longer than `timeoutMs`.
 */
export function connectRaw(
  port: number,
  tracker: SocketTracker,
  timeoutMs = 5000,
): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    tracker.add(socket);
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(new Error(`connect to ${port}: not within ${timeoutMs} ms`));
    }, timeoutMs);
    let markClosed!: () => void;
    const closed = new Promise<void>((r) => markClosed = r);
    const raw: RawSocket = {
      socket,
      connectedAt: 0,
      closedAt: null,
      destroyedByUs: false,
      firstBytes: "",
      closed,
      destroy() {
        if (raw.closedAt === null) raw.destroyedByUs = true;
        socket.destroy();
      },
      reset() {
        if (raw.closedAt === null) raw.destroyedByUs = true;
        if (typeof socket.resetAndDestroy === "function") socket.resetAndDestroy();
        else socket.destroy();
      },
    };
    socket.on("error", (e) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(e);
      }
    });
    socket.once("close", () => {
      raw.closedAt ??= performance.now();
      markClosed();
    });
    socket.once("connect", () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.setNoDelay(true);
      (raw as { connectedAt: number }).connectedAt = performance.now();
      resolve(raw);
    });
  });
}

/**
 * Writes `bytes`, resolving once they are taken (false when the socket failed
 * or closed first, which is expected when the server cuts a flood socket).
 */
export function writeRaw(raw: RawSocket, bytes: Uint8Array | string): Promise<boolean> {
  if (raw.socket.destroyed || raw.closedAt !== null) return Promise.resolve(false);
  return new Promise((resolve) => {
    try {
      raw.socket.write(bytes, (err) => resolve(!err));
    } catch {
      resolve(false);
    }
  });
}

/** Keeps the first `n` bytes received, as latin1 text, in `raw.firstBytes` (and drains the rest). */
export function keepFirstBytes(raw: RawSocket, n = 64): void {
  raw.socket.on("data", (d: Buffer) => {
    if (raw.firstBytes.length < n) {
      raw.firstBytes += d.subarray(0, n - raw.firstBytes.length).toString("latin1");
    }
  });
}

/** A `Sec-WebSocket-Key` for connection `i`: 16 bytes, base64. */
export function keyFor(i: number): string {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(i >>> 0, 0);
  b.writeUInt32BE(0x9e3779b9, 4);
  b.writeUInt32BE(Math.imul(i, 0x85ebca6b) >>> 0, 8);
  b.writeUInt32BE(0xc2b2ae35, 12);
  return b.toString("base64");
}

/** A valid upgrade request with `key`. */
export function upgradeRequest(port: number, key: string, path = "/"): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

const CRLFCRLF = Buffer.from("\r\n\r\n", "latin1");

/**
 * Connects, sends an upgrade request with key `keyFor(i)`, reads the answer
 * head and checks it is a 101 with the right `Sec-WebSocket-Accept`.
 * `onData` gets every byte after the head (first the leftover).
 *
 * @throws {Error} When the answer is not a valid 101 within `timeoutMs`.
 */
export async function rawUpgrade(
  port: number,
  tracker: SocketTracker,
  i: number,
  onData: (bytes: Uint8Array) => void,
  timeoutMs = 5000,
): Promise<RawSocket> {
  const started = performance.now();
  const raw = await connectRaw(port, tracker, timeoutMs);
  const key = keyFor(i);
  try {
    const head = await new Promise<Buffer>((resolve, reject) => {
      let buf: Buffer = Buffer.alloc(0);
      const timer = setTimeout(
        () => done(new Error(`no 101 within ${timeoutMs} ms (${buf.length} bytes)`)),
        Math.max(1, timeoutMs - (performance.now() - started)),
      );
      const onChunk = (d: Buffer) => {
        buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
        const end = buf.indexOf(CRLFCRLF);
        if (end >= 0) {
          done(null);
          const rest = buf.subarray(end + 4);
          raw.socket.on("data", onData);
          if (rest.length > 0) onData(rest);
          resolve(buf.subarray(0, end));
        } else if (buf.length > 16384) done(new Error("answer head too large"));
      };
      const onEnd = () => done(new Error(`closed before the answer (${buf.length} bytes)`));
      const done = (e: Error | null) => {
        clearTimeout(timer);
        raw.socket.off("data", onChunk);
        raw.socket.off("close", onEnd);
        if (e) reject(e);
      };
      raw.socket.on("data", onChunk);
      raw.socket.on("close", onEnd);
      raw.socket.write(upgradeRequest(port, key, `/c${i}`));
    });
    const text = head.toString("latin1");
    if (!text.startsWith("HTTP/1.1 101 ")) throw new Error(`not a 101: ${text.slice(0, 80)}`);
    const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(text)?.[1];
    if (accept !== acceptFor(key)) throw new Error(`wrong Sec-WebSocket-Accept: ${accept}`);
    return raw;
  } catch (e) {
    raw.destroy();
    throw e;
  }
}

/**
 * The documented cap of the shared buffer pool: `POOL_BYTES_PER_CLASS` (2 MiB,
 * not exported) per size class, classes from MIN_POOLED_BYTES to MAX_POOLED_BYTES.
 */
export const POOL_CAP_BYTES: number = (Math.log2(MAX_POOLED_BYTES / MIN_POOLED_BYTES) + 1) *
  2 * 1024 * 1024;

type Gc = () => void;

let gcFn: Gc | null | undefined;

/**
 * A function that forces a full garbage collection, or null where none is
 * reachable: `Bun.gc(true)` on Bun; on Node and Deno V8's `gc`, exposed by
 * turning on `--expose-gc` at run time and taking it from a fresh context.
 */
export function forcedGc(): Gc | null {
  if (gcFn !== undefined) return gcFn;
  const g = globalThis as { Bun?: { gc(force: boolean): void }; gc?: Gc };
  if (g.Bun && typeof g.Bun.gc === "function") {
    const bun = g.Bun;
    return gcFn = () => bun.gc(true);
  }
  if (typeof g.gc === "function") return gcFn = g.gc;
  try {
    v8.setFlagsFromString("--expose-gc");
    const f: unknown = vm.runInNewContext("gc");
    gcFn = typeof f === "function" ? (f as Gc) : null;
  } catch {
    gcFn = null;
  }
  return gcFn;
}

/** A memory reading. */
export interface MemoryReading {
  rss: number;
  heapUsed: number;
  /** Whether a GC could be forced before reading. */
  gc: boolean;
}

/** Reads memory after forcing GC a few times (with turns of the event loop between). */
export async function settledMemory(): Promise<MemoryReading> {
  const gc = forcedGc();
  for (let i = 0; i < 4; i++) {
    await sleep(30);
    gc?.();
  }
  await sleep(30);
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, gc: gc !== null };
}

/** Bytes as MiB with two decimals. */
export const mib = (n: number): string => `${(n / (1024 * 1024)).toFixed(2)} MiB`;
