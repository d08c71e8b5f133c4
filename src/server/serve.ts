/**
 * A WebSocket server on a listening socket, the same on Deno, Bun and Node:
 * topics with encode-once fan-out, and plain HTTP on the same port.
 *
 * @module
 */
import { HandshakeError } from "../core/errors.ts";
import { isUpgradeRequest } from "../core/http1/request_reader.ts";
import { buildRejectResponse } from "../core/ws/handshake.ts";
import { listen } from "../transports/detect.ts";
import { takeIo } from "../transports/take_io.ts";
import type {
  ChunkIO,
  Connection,
  NetAddr,
  ServerTlsOptions,
  Transport,
} from "../transports/types.ts";
import {
  type AcceptedWebSocket,
  type AcceptWebSocketOptions,
  readRequestHead,
  refuse,
  upgrade,
} from "./accept.ts";
import { type FetchHandler, type HttpOptions, resolveHttpOptions, serveHttp } from "./http_serve.ts";
import {
  CallbackRunner,
  InFlight,
  runHandler,
  usesCallbacks,
  type WebSocketCallbacks,
} from "./run_handler.ts";
import type { ServerWebSocket } from "./server_socket.ts";
import {
  type PublishOptions,
  type PublishResult,
  Topics,
  type TopicsOptions,
  type TopicStats,
} from "./topics.ts";

/** Options for {@link serveWebSocket}. */
export interface ServeWebSocketOptions
  extends AcceptWebSocketOptions, TopicsOptions, HttpOptions, WebSocketCallbacks {
  /** Address to listen on. @default "127.0.0.1" */
  hostname?: string | undefined;
  /** Port to listen on; 0 picks a free one (see `addr`). */
  port: number;
  /** Serve `wss://` with this certificate and key (and optional client-certificate checks). @default plain ws:// */
  tls?: ServerTlsOptions | undefined;
  /** Disable Nagle's algorithm on accepted sockets. @default true */
  noDelay?: boolean | undefined;
  /**
   * Runs for each open WebSocket. When its promise settles the connection is
   * closed if still open (1000, or 1011 when it threw), so an `async` handler
   * that reads until the end needs no cleanup. Give either `handler` or the
   * callbacks `open`/`message`/`close` (lighter per connection: no coroutine
   * per socket, as in `Bun.serve`).
   * @default none (the callbacks are used)
   */
  handler?: ((ws: AcceptedWebSocket) => void | Promise<void>) | undefined;
  /**
   * Answers requests that are not WebSocket upgrades (a health check, metrics,
   * a small REST route) with Web-standard `Request` and `Response`, as
   * `Deno.serve` and `Bun.serve` do. Keep-alive connections stay open between
   * requests; a handler that throws answers 500 (and goes to `onError`).
   * @default none: plain requests are refused with 426 Upgrade Required
   */
  fetch?: FetchHandler | undefined;
  /** Most open connections (handshaking and plain HTTP ones included); more are refused with 503. @default 10000 */
  maxConnections?: number | undefined;
  /** Told about every failed handshake, handler error and fetch error; the server keeps running. @default ignore */
  onError?: ((error: unknown) => void) | undefined;
  /** Stops the server when aborted (like `close()`). */
  signal?: AbortSignal | undefined;
  /** The transport to use instead of the running runtime's. @default detected */
  transport?: Transport | undefined;
}

/** A running WebSocket server. */
export interface WebSocketServer {
  /** The address it listens on (the real port when 0 was asked). */
  readonly addr: NetAddr;
  /** Connections open, handshaking or serving plain HTTP now. */
  readonly connections: number;
  /**
   * Sends `data` to every WebSocket subscribed to `topic` (see
   * `ws.subscribe`): encoded once, queued on each subscriber without a copy
   * of its own, slow subscribers handled by `slowSubscriber`.
   *
   * @returns How many subscribers took it and how many did not.
   */
  publish(topic: string, data: string | Uint8Array, options?: PublishOptions): PublishResult;
  /** The server's topics: subscriber counts and counters. */
  readonly topics: Topics;
  /** Counters of the server's topics (a shortcut for `topics.stats`). */
  readonly stats: TopicStats;
  /**
   * Stops accepting, closes every open WebSocket with `code`, and resolves once
   * all are closed (each bounded by its `closeTimeout`).
   */
  close(code?: number, reason?: string): Promise<void>;
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
}

/**
 * Listens and serves WebSockets: every connection goes through the opening
 * handshake (with `onUpgrade` deciding) and then to `handler`. The server
 * survives any one client's bad behaviour: malformed or slow handshakes are
 * answered and dropped, protocol errors close only that connection, and
 * connections past `maxConnections` are refused with 503.
 *
 * Sockets join topics with `ws.subscribe(topic)`; `server.publish(topic,
 * data)` reaches them all. Requests that are not upgrades go to `fetch`.
 *
 * @param options Address, TLS, limits, hooks and the handler.
 * @returns The running server.
 * @throws {RangeError} When `maxConnections` or, with `fetch`, an HTTP limit (`maxRequestBodyBytes`…) is out of range.
 * @throws {SluiceError} When the address cannot be listened on (`LISTEN_ADDR_IN_USE`…).
 *
 * @example A chat room with a health check
 * ```ts
 * import { serveWebSocket } from "@sluice/net";
 * const server = await serveWebSocket({
 *   port: 0,
 *   handler: async (ws) => {
 *     ws.subscribe("room");
 *     for await (const msg of ws) {
 *       if (msg.type === "text") server.publish("room", msg.text);
 *     }
 *   },
 *   fetch: (req) => new URL(req.url).pathname === "/health"
 *     ? Response.json({ ok: true, connections: server.connections })
 *     : new Response("not found", { status: 404 }),
 * });
 * console.log(`listening on ws://${server.addr.hostname}:${server.addr.port}`);
 * await server.close();
 * ```
 */
export async function serveWebSocket(options: ServeWebSocketOptions): Promise<WebSocketServer> {
  const callbacks = usesCallbacks(options ?? {});
  if (callbacks === (options?.handler !== undefined)) {
    throw new TypeError(
      "serveWebSocket needs either a handler function or the callbacks open/message/close (not both)",
    );
  }
  if (!callbacks && typeof options.handler !== "function") {
    throw new TypeError(`handler must be a function: got ${typeof options.handler}`);
  }
  if (options.fetch !== undefined && typeof options.fetch !== "function") {
    throw new TypeError(`fetch must be a function: got ${typeof options.fetch}`);
  }
  // The plain-HTTP limits fail here, once, rather than on every request.
  if (options.fetch !== undefined) resolveHttpOptions(options);
  const max = options.maxConnections ?? 10_000;
  if (!Number.isSafeInteger(max) || max <= 0) {
    throw new RangeError(`maxConnections must be a positive integer: got ${max}`);
  }
  const topics = options.topics ?? new Topics(options);
  const acceptOptions: AcceptWebSocketOptions = { ...options, topics };
  const listener = await listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port,
    tls: options.tls,
    noDelay: options.noDelay ?? true,
    transport: options.transport,
  });
  const onError = options.onError ?? (() => {});
  const open = new Set<AcceptedWebSocket>();
  /** Connections not yet WebSockets (handshaking, plain HTTP): close() drops them at once. */
  const handshaking = new Set<Connection>();
  const inFlight = new InFlight();
  let stopping = false;
  const isStopping = () => stopping;

  const runner = callbacks
    ? new CallbackRunner(options, open, onError, isStopping, inFlight.leave)
    : null;
  const startWebSocket = (ws: ServerWebSocket, conn: Connection) => {
    handshaking.delete(conn);
    if (runner !== null) runner.start(ws);
    else runHandler(ws, options.handler!, open, onError, isStopping, inFlight.leave);
  };
  const failed = (conn: Connection) => (e: unknown) => {
    handshaking.delete(conn);
    // A handshake cut short by close() is not worth reporting.
    if (!stopping) onError(e);
    inFlight.leave();
  };

  /** Plain HTTP until the connection ends or asks to upgrade. */
  const http = async (conn: Connection, io: ChunkIO, bytes: Uint8Array) => {
    const next = await serveHttp(conn, io, bytes, options.fetch!, options, onError, isStopping);
    if (next === null) {
      handshaking.delete(conn);
      inFlight.leave();
      return;
    }
    startWebSocket(await upgrade(conn, io, next.head, next.rest, acceptOptions), conn);
  };

  const serveOne = (conn: Connection) => {
    inFlight.enter();
    handshaking.add(conn);
    const io = takeIo(conn);
    const onFailure = failed(conn);
    readRequestHead(conn, io, acceptOptions).then((read) => {
      if (options.fetch !== undefined && !isUpgradeRequest(read.head)) {
        http(conn, io, read.bytes).catch(onFailure);
        return;
      }
      upgrade(conn, io, read.head, read.rest, acceptOptions, read.bytes).then(
        (ws) => startWebSocket(ws, conn),
        onFailure,
      );
    }, (e) => {
      if (e instanceof HandshakeError) {
        refuse(conn, io, e.status || 400, e.message, e.headers).then(() => onFailure(e), onFailure);
      } else {
        conn.close();
        onFailure(e);
      }
    });
  };

  const refuseBusy = async (conn: Connection) => {
    const writer = conn.writable.getWriter();
    try {
      await writer.write(
        buildRejectResponse(503, { body: "too many connections", headers: { "Retry-After": "1" } }),
      );
    } catch { /* gone */ }
    conn.close();
  };

  const loop = (async () => {
    for (;;) {
      const conn = await listener.accept().catch((e) => {
        onError(e);
        return null;
      });
      if (conn === null) break;
      if (stopping) {
        conn.close();
        continue;
      }
      if (inFlight.count >= max) {
        void refuseBusy(conn);
        continue;
      }
      serveOne(conn);
    }
  })();

  let closing: Promise<void> | null = null;
  const close = (code = 1001, reason = "server shutting down") => {
    closing ??= (async () => {
      stopping = true;
      await listener.close();
      // Don't wait for half-done handshakes (up to handshakeTimeout each): drop them.
      for (const conn of handshaking) conn.close();
      await Promise.all([...open].map((ws) => ws.close(code, reason).catch(() => {})));
      await loop;
      await inFlight.idle();
    })();
    return closing;
  };
  options.signal?.addEventListener("abort", () => void close(), { once: true });

  return {
    addr: listener.addr,
    get connections() {
      return inFlight.count;
    },
    publish: (topic, data, publishOptions) => topics.publish(topic, data, publishOptions),
    topics,
    get stats() {
      return topics.stats;
    },
    close,
    get finished() {
      return closing ?? loop.then(() => close());
    },
  };
}
