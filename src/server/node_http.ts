/**
 * WebSockets on an existing `node:http` or `node:https` server: its
 * `'upgrade'` event handed to sluice's server-side handshake, so one port
 * serves HTTP routes and WebSockets. Node objects are typed structurally; the
 * socket glue lives in `src/transports/node_upgrade.ts`.
 *
 * @module
 */
import { buildRejectResponse } from "../core/ws/handshake.ts";
import { type UpgradeSocket, wrapUpgradeSocket } from "../transports/node_upgrade.ts";
import type { Connection } from "../transports/types.ts";
import { type AcceptedWebSocket, acceptWebSocket, type AcceptWebSocketOptions } from "./accept.ts";
import { InFlight, runHandler } from "./run_handler.ts";
import { type PublishOptions, type PublishResult, Topics, type TopicsOptions } from "./topics.ts";

/** The `IncomingMessage` of an `'upgrade'` event, as far as the adapter reads it. */
export interface NodeUpgradeRequest {
  /** The request method. */
  readonly method?: string;
  /** The request target (path and query). */
  readonly url?: string;
  /** "1.1" for HTTP/1.1. */
  readonly httpVersion: string;
  /** Header names and values as received, alternating. */
  readonly rawHeaders: readonly string[];
}

export type { UpgradeSocket } from "../transports/node_upgrade.ts";

/** Options for {@link handleNodeUpgrade}. */
export interface NodeUpgradeOptions extends Omit<AcceptWebSocketOptions, "handshakeTimeout"> {
  /** Disable Nagle's algorithm on the upgraded socket. @default true */
  noDelay?: boolean;
}

/** Whether `s` is latin1 without CR, LF or NUL: what Node's parser lets through. */
function isHeadText(s: unknown): boolean {
  if (typeof s !== "string") return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0 || c > 0xff) return false;
  }
  return true;
}

/**
 * The request head Node's parser consumed, rebuilt from `rawHeaders` (latin1,
 * as Node decoded it), so the regular handshake code checks it exactly as it
 * would a request read off the wire. Null when a part could inject lines
 * (Node never hands such a request over; a hand-made object could).
 */
function requestHead(req: NodeUpgradeRequest): Uint8Array | null {
  const parts = [req.method ?? "GET", req.url ?? "/", req.httpVersion, ...req.rawHeaders];
  if (!parts.every(isHeadText)) return null;
  let text = `${parts[0]} ${parts[1]} HTTP/${parts[2]}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  text += "\r\n";
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Answers an HTTP `'upgrade'` event with the WebSocket opening handshake
 * (RFC 6455 §4.2): checks the request, consults `onUpgrade`, writes the 101
 * (or the refusal), and returns the open server-side WebSocket. The socket
 * belongs to sluice from this call on.
 *
 * The request Node already parsed goes through the same checks as one read
 * by `acceptWebSocket`; `maxHeaderBytes`/`maxHeaderCount` apply to it too
 * (Node's own limits apply first).
 *
 * @param req The listener's request.
 * @param socket The listener's socket.
 * @param head The listener's `head`: bytes received after the request head.
 * @param options The `onUpgrade` hook, limits and timeouts of the connection.
 * @returns The open WebSocket.
 * @throws {HandshakeError} When the request was not a valid upgrade or
 *   `onUpgrade` refused it (already answered with the status, socket closed).
 * @throws {TypeError} When `socket` is not a socket, or `req` holds CR/LF in its head.
 *
 * @example A WebSocket route beside HTTP routes
 * ```ts ignore
 * import http from "node:http";
 * import { handleNodeUpgrade } from "@sluice/net/node";
 * const server = http.createServer((_req, res) => res.end("hello over HTTP"));
 * server.on("upgrade", (req, socket, head) => {
 *   handleNodeUpgrade(req, socket, head, {
 *     onUpgrade: ({ request }) => request.path === "/chat" ? { protocol: request.protocols[0] } : { reject: { status: 404 } },
 *   }).then(async (ws) => {
 *     for await (const msg of ws) if (msg.type === "text") await ws.sendText(msg.text);
 *   }).catch(() => {});
 * });
 * server.listen(8080);
 * ```
 */
export function handleNodeUpgrade(
  req: NodeUpgradeRequest,
  socket: UpgradeSocket,
  head: Uint8Array,
  options: NodeUpgradeOptions = {},
): Promise<AcceptedWebSocket> {
  const requestBytes = requestHead(req);
  if (requestBytes === null) {
    socket.destroy();
    return Promise.reject(
      new TypeError("the upgrade request holds CR, LF or non-latin1 characters"),
    );
  }
  const conn = wrapUpgradeSocket(socket, {
    initial: concat(requestBytes, head),
    noDelay: options.noDelay,
  });
  // The head is complete already, so the handshake timeout has nothing left to bound.
  return acceptWebSocket(conn, { ...options, handshakeTimeout: 0 });
}

/** A `node:http`/`node:https` server, as far as {@link attachWebSocket} uses it. */
export interface NodeUpgradeEmitter {
  /** Subscribes to `'upgrade'`. */
  on(
    event: "upgrade",
    listener: (req: NodeUpgradeRequest, socket: UpgradeSocket, head: Uint8Array) => void,
  ): unknown;
  /** Unsubscribes from `'upgrade'`. */
  off(
    event: "upgrade",
    listener: (req: NodeUpgradeRequest, socket: UpgradeSocket, head: Uint8Array) => void,
  ): unknown;
  /** How many `'upgrade'` listeners there are. */
  listenerCount(event: "upgrade"): number;
}

/** Options for {@link attachWebSocket}. */
export interface AttachWebSocketOptions extends NodeUpgradeOptions, TopicsOptions {
  /**
   * Only upgrade requests for this path (without the query), or those the
   * function accepts. Others are left to the server's other `'upgrade'`
   * listeners, or refused with 404 when there are none.
   * @default every path
   */
  path?: string | ((path: string) => boolean);
  /**
   * Runs for each open WebSocket. When its promise settles the connection is
   * closed if still open (1000, or 1011 when it threw).
   */
  handler: (ws: AcceptedWebSocket) => void | Promise<void>;
  /** Most open connections (handshaking ones included); more are refused with 503. @default 10000 */
  maxConnections?: number;
  /** Told about every failed handshake and handler error. @default ignore */
  onError?: (error: unknown) => void;
  /** Detaches (like `close()`) when aborted. */
  signal?: AbortSignal;
}

/** WebSockets attached to an HTTP server. */
export interface AttachedWebSockets {
  /** Connections open or handshaking now. */
  readonly connections: number;
  /**
   * Stops taking upgrades, closes every open WebSocket with `code`, and
   * resolves once all are closed. The HTTP server itself keeps running.
   */
  close(code?: number, reason?: string): Promise<void>;
  /** Sends `data` to every socket subscribed to `topic`, encoded once; see `Topics.publish`. */
  publish(topic: string, data: string | Uint8Array, options?: PublishOptions): PublishResult;
  /** The topics of these sockets (subscriber counts, stats). */
  readonly topics: Topics;
}

function pathOf(url: string | undefined): string {
  const target = url ?? "/";
  const q = target.indexOf("?");
  return q === -1 ? target : target.slice(0, q);
}

async function refuse(conn: Connection, status: number, body: string): Promise<void> {
  const writer = conn.writable.getWriter();
  try {
    const headers = status === 503 ? { "Retry-After": "1" } : undefined;
    await writer.write(buildRejectResponse(status, { body, headers }));
  } catch { /* the client is gone */ }
  conn.close();
}

/**
 * Serves WebSockets on an existing `node:http` or `node:https` server: every
 * upgrade request (for `path`) goes through the opening handshake, with
 * `onUpgrade` deciding, and then to `handler`. HTTP requests are untouched.
 *
 * @param server The HTTP(S) server; it may or may not be listening yet.
 * @param options Path, handler, limits and hooks.
 * @returns A handle to count and close the WebSockets.
 * @throws {TypeError} When `handler` is missing or `path` is neither a string nor a function.
 * @throws {RangeError} When `maxConnections` is not a positive integer.
 *
 * @example Echo on /ws, plain HTTP elsewhere
 * ```ts ignore
 * import http from "node:http";
 * import { attachWebSocket } from "@sluice/net/node";
 * const server = http.createServer((_req, res) => res.end("hello"));
 * const sockets = attachWebSocket(server, {
 *   path: "/ws",
 *   handler: async (ws) => {
 *     for await (const msg of ws) {
 *       if (msg.type === "text") await ws.sendText(msg.text);
 *       else if (msg.type === "binary") await ws.sendBinary(msg.data);
 *     }
 *   },
 * });
 * server.listen(8080);
 * // later: await sockets.close(); server.close();
 * ```
 */
export function attachWebSocket(
  server: NodeUpgradeEmitter,
  options: AttachWebSocketOptions,
): AttachedWebSockets {
  if (typeof options?.handler !== "function") {
    throw new TypeError("attachWebSocket needs a handler function");
  }
  const path = options.path;
  if (path !== undefined && typeof path !== "string" && typeof path !== "function") {
    throw new TypeError(`path must be a string or a function: got ${typeof path}`);
  }
  const max = options.maxConnections ?? 10_000;
  if (!Number.isSafeInteger(max) || max <= 0) {
    throw new RangeError(`maxConnections must be a positive integer: got ${max}`);
  }
  const matches = path === undefined
    ? () => true
    : typeof path === "string"
    ? (p: string) => p === path
    : path;
  const onError = options.onError ?? (() => {});
  const topics = options.topics ?? new Topics(options);
  const upgradeOptions = { ...options, topics };
  const open = new Set<AcceptedWebSocket>();
  const inFlight = new InFlight();
  let stopping = false;
  const isStopping = () => stopping;

  const serveOne = (req: NodeUpgradeRequest, socket: UpgradeSocket, head: Uint8Array) => {
    inFlight.enter();
    handleNodeUpgrade(req, socket, head, upgradeOptions).then(
      (ws) => runHandler(ws, options.handler, open, onError, isStopping, inFlight.leave),
      (e) => {
        onError(e);
        inFlight.leave();
      },
    );
  };

  const listener = (req: NodeUpgradeRequest, socket: UpgradeSocket, head: Uint8Array) => {
    if (!matches(pathOf(req.url))) {
      // Another listener may own this path; answer only when nobody else will.
      if (server.listenerCount("upgrade") > 1) return;
      void refuse(wrapUpgradeSocket(socket), 404, "no WebSocket endpoint at this path");
      return;
    }
    if (stopping || inFlight.count >= max) {
      void refuse(wrapUpgradeSocket(socket), 503, "too many connections");
      return;
    }
    serveOne(req, socket, head);
  };
  server.on("upgrade", listener);

  let closing: Promise<void> | null = null;
  const close = (code = 1001, reason = "server shutting down") => {
    closing ??= (async () => {
      stopping = true;
      server.off("upgrade", listener);
      await Promise.all([...open].map((ws) => ws.close(code, reason).catch(() => {})));
      await inFlight.idle();
    })();
    return closing;
  };
  options.signal?.addEventListener("abort", () => void close(), { once: true });

  return {
    get connections() {
      return inFlight.count;
    },
    close,
    publish: (topic, data, publishOptions) => topics.publish(topic, data, publishOptions),
    topics,
  };
}
