/**
 * Shared pieces of the WebSocket interop tests: the real `ws` and `undici`
 * packages loaded by path (on Bun the bare names are Bun's own shims), the
 * echo protocol every peer fixture speaks, and a small event-to-promise
 * driver over WHATWG-style WebSocket clients (Deno's, Bun's, undici's, and
 * `ws`, which implements the same event API).
 *
 * The echo protocol: text and binary messages come back unchanged, as the
 * same type; the text `close:<code>:<reason>` makes the server close with that
 * code and reason; the text `ping-me` (sluice servers only) makes the server
 * ping and answer `rtt:<ms>`. `/refuse/401` and `/refuse/403` are refused with
 * that status, a `WWW-Authenticate` (401) and the bodies in {@link REFUSAL}. The
 * server selects {@link PROTOCOL} when offered, no subprotocol otherwise.
 *
 * @module
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** The subprotocol servers select when offered. */
export const PROTOCOL = "sluice.v2";

/** What `/refuse/<status>` answers. */
export const REFUSAL: Readonly<
  Record<401 | 403, { body: string; headers: Record<string, string> }>
> = {
  401: { body: "token required", headers: { "WWW-Authenticate": 'Bearer realm="sluice"' } },
  403: { body: "origin not allowed", headers: { "X-Refused-By": "sluice-test" } },
};

/** The refusal a path asks for, or null. */
export function refusalOf(path: string): 401 | 403 | null {
  const m = /^\/refuse\/(401|403)(?:\?|$)/.exec(path);
  return m ? (Number(m[1]) as 401 | 403) : null;
}

/** The close a `close:<code>:<reason>` text asks for, or null. */
export function closeCommand(text: string): { code: number; reason: string } | null {
  const m = /^close:(\d+):(.*)$/s.exec(text);
  return m ? { code: Number(m[1]), reason: m[2] } : null;
}

/** The `id` query parameter of a request target ("" when absent). */
export function idOf(target: string): string {
  return new URL(target, "http://x").searchParams.get("id") ?? "";
}

/** A close as one side saw it. */
export interface SeenClose {
  code: number;
  reason: string;
}

/** Closes (or any value) recorded by connection id, awaitable before they happen. */
export class Recorder<T> {
  #waiters = new Map<string, { promise: Promise<T>; resolve: (v: T) => void }>();

  #entry(id: string) {
    let e = this.#waiters.get(id);
    if (!e) {
      let resolve!: (v: T) => void;
      const promise = new Promise<T>((r) => (resolve = r));
      e = { promise, resolve };
      this.#waiters.set(id, e);
    }
    return e;
  }

  /** Records the value for `id` (the first one wins). */
  record(id: string, value: T): void {
    this.#entry(id).resolve(value);
  }

  /** The value for `id`, waiting at most `ms`. */
  get(id: string, ms = 5_000): Promise<T> {
    return within(this.#entry(id).promise, ms, `nothing recorded for connection ${id}`);
  }
}

/** Rejects when `promise` takes longer than `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Unique connection ids within a process. */
let seq = 0;
export function nextId(): string {
  return String(++seq);
}

// ------------------------------------------------------------------ ws package

/** A `ws` server-side socket (the EventEmitter API). */
export interface WsSocket {
  readonly protocol: string;
  send(data: string | Uint8Array, options?: { binary?: boolean; fin?: boolean }): void;
  readonly extensions: string;
  close(code?: number, reason?: string): void;
  ping(data?: Uint8Array): void;
  on(event: "message", fn: (data: Uint8Array, isBinary: boolean) => void): this;
  on(event: "close", fn: (code: number, reason: Uint8Array) => void): this;
  on(event: "pong", fn: (data: Uint8Array) => void): this;
  on(event: "error", fn: (err: Error) => void): this;
  on(event: "unexpected-response", fn: (req: unknown, res: WsIncoming) => void): this;
  on(event: "upgrade", fn: (res: WsIncoming) => void): this;
}

/** The HTTP response `ws` hands to `unexpected-response`. */
export interface WsIncoming {
  readonly statusCode?: number;
  readonly headers: Record<string, string | string[] | undefined>;
  on(event: "data", fn: (chunk: Uint8Array) => void): this;
  on(event: "end", fn: () => void): this;
}

/** A `ws` WebSocketServer. */
export interface WsServer {
  address(): { port: number };
  on(event: "listening", fn: () => void): this;
  on(event: "connection", fn: (socket: WsSocket, req: { url?: string }) => void): this;
  on(event: "error", fn: (err: Error) => void): this;
  emit(event: "connection", socket: WsSocket, req: unknown): boolean;
  handleUpgrade(req: unknown, socket: unknown, head: unknown, cb: (s: WsSocket) => void): void;
  close(cb?: () => void): void;
  readonly clients: Set<{ terminate(): void }>;
}

/** Options of a `ws` WebSocketServer, as far as the tests use them. */
export interface WsServerOptions {
  host?: string;
  maxPayload?: number;
  port?: number;
  noServer?: boolean;
  server?: unknown;
  handleProtocols?: (protocols: Set<string>, req: unknown) => string | false;
  verifyClient?: (
    info: { req: { url?: string } },
    cb: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void,
  ) => void;
}

/** The `ws` module. */
export interface WsModule {
  new (
    url: string,
    protocols?: string[],
    options?: Record<string, unknown>,
  ): WhatwgSocket & WsSocket;
  WebSocketServer: new (options: WsServerOptions) => WsServer;
}

/** The real `ws` package, loaded by path so Bun does not substitute its shim. */
export function loadWs(): WsModule {
  return require("../../node_modules/ws/index.js") as WsModule;
}

/** The real `undici` package (WebSocket and Agent), loaded by path for the same reason. */
export function loadUndici(): {
  WebSocket: WhatwgCtor;
  Agent: new (options: { connect?: Record<string, unknown> }) => { close(): Promise<void> };
} {
  return require("../../node_modules/undici/index.js");
}

/** A `ws` server socket speaking the echo protocol; records the close it sees under `id`. */
export function wsEcho(socket: WsSocket, id: string, closes: Recorder<SeenClose>): void {
  socket.on("message", (data, isBinary) => {
    if (!isBinary) {
      const text = new TextDecoder().decode(data);
      const cmd = closeCommand(text);
      if (cmd) return socket.close(cmd.code, cmd.reason);
      return socket.send(text);
    }
    socket.send(data, { binary: true });
  });
  socket.on(
    "close",
    (code, reason) => closes.record(id, { code, reason: new TextDecoder().decode(reason) }),
  );
  socket.on("error", () => {});
}

// ------------------------------------------------------------- WHATWG clients

/** The WHATWG WebSocket surface shared by browsers, Deno, Bun, undici and `ws`. */
export interface WhatwgSocket {
  binaryType: string;
  readonly protocol: string;
  readonly readyState: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, fn: (event: never) => void): void;
}

/** A WHATWG WebSocket constructor. */
export type WhatwgCtor = new (url: string, protocols?: string | string[]) => WhatwgSocket;

/** A close event's fields. */
export interface ClientClose {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** Messages and the close of a WHATWG WebSocket as promises. */
export class Driver {
  readonly socket: WhatwgSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<ClientClose>;
  #queue: (string | Uint8Array)[] = [];
  #waiter: ((m: string | Uint8Array | null) => void) | null = null;
  #done = false;
  errored = false;

  constructor(socket: WhatwgSocket) {
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    this.opened = new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => resolve());
      socket.addEventListener("close", () => reject(new Error("closed before opening")));
    });
    this.opened.catch(() => {});
    this.closed = new Promise<ClientClose>((resolve) => {
      socket.addEventListener("close", (e: { code: number; reason: string; wasClean: boolean }) => {
        this.#done = true;
        this.#waiter?.(null);
        this.#waiter = null;
        resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
      });
    });
    socket.addEventListener("error", () => {
      this.errored = true;
    });
    socket.addEventListener("message", (e: { data: unknown }) => {
      const d = e.data;
      const m = typeof d === "string" ? d : new Uint8Array(d as ArrayBuffer);
      if (this.#waiter) {
        const w = this.#waiter;
        this.#waiter = null;
        w(m);
      } else this.#queue.push(m);
    });
  }

  /** The next message (null once closed), waiting at most `ms`. */
  next(ms = 10_000): Promise<string | Uint8Array | null> {
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift()!);
    if (this.#done) return Promise.resolve(null);
    return within(new Promise((r) => (this.#waiter = r)), ms, "next message");
  }
}

/** Opens a WHATWG client and waits for `open` (at most 10 s). */
export async function openClient(
  make: (url: string, protocols?: string[]) => WhatwgSocket,
  url: string,
  protocols?: string[],
): Promise<Driver> {
  const d = new Driver(make(url, protocols));
  await within(d.opened, 10_000, `open ${url}`);
  return d;
}

/** Same-sized byte arrays with equal contents, without printing a megabyte on failure. */
export function sameBytes(actual: Uint8Array | string | null, expected: Uint8Array): boolean {
  if (!(actual instanceof Uint8Array) || actual.length !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (actual[i] !== expected[i]) return false;
  return true;
}

/** The running runtime. */
export function runtime(): "deno" | "bun" | "node" {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno ? "deno" : g.Bun ? "bun" : "node";
}
