/**
 * A WebSocket server on a listening socket, the same on Deno, Bun and Node.
 *
 * @module
 */
import { buildRejectResponse } from "../core/ws/handshake.ts";
import { listen } from "../transports/detect.ts";
import type { Connection, NetAddr, ServerTlsOptions, Transport } from "../transports/types.ts";
import { type AcceptedWebSocket, acceptWebSocket, type AcceptWebSocketOptions } from "./accept.ts";
import { runHandler } from "./run_handler.ts";

/** Options for {@link serveWebSocket}. */
export interface ServeWebSocketOptions extends AcceptWebSocketOptions {
  /** Address to listen on. @default "127.0.0.1" */
  hostname?: string;
  /** Port to listen on; 0 picks a free one (see `addr`). */
  port: number;
  /** Serve `wss://` with this certificate and key (and optional client-certificate checks). @default plain ws:// */
  tls?: ServerTlsOptions;
  /** Disable Nagle's algorithm on accepted sockets. @default true */
  noDelay?: boolean;
  /**
   * Runs for each open WebSocket. When its promise settles the connection is
   * closed if still open (1000, or 1011 when it threw), so an `async` handler
   * that reads until the end needs no cleanup.
   */
  handler: (ws: AcceptedWebSocket) => void | Promise<void>;
  /** Most open connections (handshaking ones included); more are refused with 503. @default 10000 */
  maxConnections?: number;
  /** Told about every failed handshake and handler error; the server keeps running. @default ignore */
  onError?: (error: unknown) => void;
  /** Stops the server when aborted (like `close()`). */
  signal?: AbortSignal;
  /** The transport to use instead of the running runtime's. @default detected */
  transport?: Transport;
}

/** A running WebSocket server. */
export interface WebSocketServer {
  /** The address it listens on (the real port when 0 was asked). */
  readonly addr: NetAddr;
  /** Connections open or handshaking now. */
  readonly connections: number;
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
 * @param options Address, TLS, limits, hooks and the handler.
 * @returns The running server.
 * @throws {RangeError} When `maxConnections` is not a positive integer.
 * @throws {SluiceError} When the address cannot be listened on (`LISTEN_ADDR_IN_USE`…).
 *
 * @example An echo server
 * ```ts
 * import { serveWebSocket } from "@sluice/net";
 * const server = await serveWebSocket({
 *   port: 9001,
 *   handler: async (ws) => {
 *     for await (const msg of ws) {
 *       if (msg.type === "text") await ws.sendText(msg.text);
 *       else if (msg.type === "binary") await ws.sendBinary(msg.data);
 *     }
 *   },
 * });
 * console.log(`listening on ws://${server.addr.hostname}:${server.addr.port}`);
 * ```
 */
export async function serveWebSocket(options: ServeWebSocketOptions): Promise<WebSocketServer> {
  if (typeof options?.handler !== "function") {
    throw new TypeError("serveWebSocket needs a handler function");
  }
  const max = options.maxConnections ?? 10_000;
  if (!Number.isSafeInteger(max) || max <= 0) {
    throw new RangeError(`maxConnections must be a positive integer: got ${max}`);
  }
  const listener = await listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port,
    tls: options.tls,
    noDelay: options.noDelay ?? true,
    transport: options.transport,
  });
  const onError = options.onError ?? (() => {});
  const open = new Set<AcceptedWebSocket>();
  /** Connections still in the opening handshake: close() drops them at once. */
  const handshaking = new Set<Connection>();
  const pending = new Set<Promise<void>>();
  let active = 0;
  let stopping = false;

  const serveOne = async (conn: Connection) => {
    let ws: AcceptedWebSocket;
    handshaking.add(conn);
    try {
      ws = await acceptWebSocket(conn, options);
    } catch (e) {
      // A handshake cut short by close() is not worth reporting.
      if (!stopping) onError(e);
      return;
    } finally {
      handshaking.delete(conn);
    }
    await runHandler(ws, options.handler, open, onError, () => stopping);
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
      if (active >= max) {
        void refuseBusy(conn);
        continue;
      }
      active++;
      const p = serveOne(conn).finally(() => {
        active--;
        pending.delete(p);
      });
      pending.add(p);
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
      await Promise.all([...pending]);
    })();
    return closing;
  };
  options.signal?.addEventListener("abort", () => void close(), { once: true });

  return {
    addr: listener.addr,
    get connections() {
      return active;
    },
    close,
    get finished() {
      return closing ?? loop.then(() => close());
    },
  };
}
