/**
 * The server side of the opening handshake over a connection the caller
 * already holds.
 *
 * @module
 */
import { HandshakeError } from "../core/errors.ts";
import { parseRequestHead, type RequestHead } from "../core/http1/head.ts";
import { decodeLatin1 } from "../core/http1/latin1.ts";
import type { HeaderInit } from "../core/http1/request_writer.ts";
import {
  buildAcceptResponse,
  buildRejectResponse,
  parseUpgradeRequest,
  type UpgradeRequest,
} from "../core/ws/handshake.ts";
import type { ChunkIO, Connection, NetAddr } from "../transports/types.ts";
import type { WebSocketOptions } from "../ws/connection.ts";
import { timeoutOption } from "../ws/deferred.ts";
import { type HeadRead, readHead } from "../ws/head_io.ts";
import { takeIo } from "../ws/io.ts";
import type { WebSocketConnection } from "../ws/types.ts";
import { ServerWebSocket } from "./server_socket.ts";
import type { PublishResult, Topics } from "./topics.ts";

/** What `onUpgrade` decides: refuse with an HTTP status, or accept (optionally picking a subprotocol). */
export type UpgradeDecision =
  | { reject: { status: number; body?: string; headers?: HeaderInit } }
  | { protocol?: string; headers?: HeaderInit };

/** The upgrade request and where it came from, as `onUpgrade` sees it. */
export interface UpgradeInfo {
  /** The checked upgrade request: path, headers, origin, offered subprotocols. */
  request: UpgradeRequest;
  /** The client's address. */
  remoteAddr: NetAddr;
}

/** Options for {@link acceptWebSocket}. */
export interface AcceptWebSocketOptions extends WebSocketOptions {
  /** Limit on receiving the upgrade request, ms; slow clients are dropped. @default 10000 */
  handshakeTimeout?: number;
  /** Largest upgrade request head in bytes (431 past it). @default 16384 */
  maxHeaderBytes?: number;
  /** Most header fields in the upgrade request (431 past it). @default 100 */
  maxHeaderCount?: number;
  /**
   * Sees each valid upgrade request before it is accepted: return
   * `{ reject: { status } }` to refuse it, or `{ protocol }` to select a
   * subprotocol. Returning nothing accepts with no subprotocol. Throwing refuses with 500.
   * @default accept everything
   */
  onUpgrade?: (info: UpgradeInfo) => UpgradeDecision | void | Promise<UpgradeDecision | void>;
  /** The topics `subscribe()` and `publish()` of the accepted socket use. @default none (they throw) */
  topics?: Topics | undefined;
}

/**
 * A server-side WebSocket, with the request that opened it and its topics.
 *
 * @example Join a topic and broadcast to it
 * ```ts
 * import { serveWebSocket } from "@sluice/net";
 * const server = await serveWebSocket({
 *   port: 0,
 *   handler: async (ws) => {
 *     ws.subscribe("lobby");
 *     for await (const msg of ws) if (msg.type === "text") ws.publish("lobby", msg.text);
 *   },
 * });
 * await server.close();
 * ```
 */
export interface AcceptedWebSocket extends WebSocketConnection {
  /** The upgrade request. */
  readonly request: UpgradeRequest;
  /** The client's address. */
  readonly remoteAddr: NetAddr;
  /** The transport connection (TLS facts: `serverName`, `peerCertificateAuthorized`, `alpnProtocol`). */
  readonly transport: Connection;
  /**
   * Joins `topic` (exact match): the server's `publish(topic, …)` reaches
   * this socket from now on, until `unsubscribe` or the close.
   *
   * @returns False when already subscribed (or closed).
   * @throws {TypeError} When the socket has no topics (`acceptWebSocket` without `topics`).
   */
  subscribe(topic: string): boolean;
  /** Leaves `topic`; false when not subscribed. */
  unsubscribe(topic: string): boolean;
  /** Whether this socket is subscribed to `topic`. */
  isSubscribed(topic: string): boolean;
  /** The topics this socket is subscribed to (a copy). */
  readonly topics: readonly string[];
  /**
   * Publishes to every subscriber of `topic` except this socket (Bun's
   * `ws.publish`); see `Topics.publish`.
   */
  publish(topic: string, data: string | Uint8Array): PublishResult;
  /** Published messages this socket did not take because its outgoing buffer was full. */
  readonly droppedMessages: number;
}

/**
 * Answers with a refusal and closes. When the refusal itself is invalid (an
 * onUpgrade status outside 400–599, a header with CR/LF), answers 500 instead
 * and throws that error, so the caller's bug is reported rather than turned
 * into a silently dropped connection.
 */
export async function refuse(
  conn: Connection,
  io: ChunkIO,
  status: number,
  body: string,
  headers?: HeaderInit,
): Promise<void> {
  let response: Uint8Array;
  let invalid: unknown = null;
  try {
    response = buildRejectResponse(status, { body, headers });
  } catch (e) {
    invalid = e;
    response = buildRejectResponse(500, { body: "invalid upgrade refusal" });
  }
  try {
    await io.write(response);
  } catch { /* the client may be gone already */ }
  conn.close();
  if (invalid !== null) throw invalid;
}

/**
 * Runs the server side of the opening handshake on `conn` (RFC 6455 §4.2):
 * reads and checks the upgrade request, consults `onUpgrade`, and answers
 * 101 — or refuses with the right status and closes the connection.
 *
 * @param conn A transport connection that has sent nothing yet.
 * @param options Limits, timeouts and the `onUpgrade` hook.
 * @returns The open server-side WebSocket.
 * @throws {HandshakeError} When the request was malformed or refused (already answered and closed).
 * @throws {TimeoutError} When the request did not arrive within `handshakeTimeout` (closed).
 *
 * @example Accept connections from a listener
 * ```ts
 * import { acceptWebSocket, listen } from "@sluice/net";
 * const listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * for await (const conn of listener) {
 *   acceptWebSocket(conn).then(async (ws) => {
 *     for await (const msg of ws) if (msg.type === "text") await ws.sendText(msg.text);
 *   }).catch(() => {});
 * }
 * ```
 */
export async function acceptWebSocket(
  conn: Connection,
  options: AcceptWebSocketOptions = {},
): Promise<AcceptedWebSocket> {
  const io = takeIo(conn);
  let read: HeadRead<RequestHead>;
  try {
    read = await readRequestHead(conn, io, options);
  } catch (e) {
    if (e instanceof HandshakeError) {
      await refuse(conn, io, e.status || 400, e.message, e.headers);
    } else conn.close();
    throw e;
  }
  return upgrade(conn, io, read.head, read.rest, options, read.bytes);
}

/**
 * Reads a request head off a fresh connection, bounded by `handshakeTimeout`
 * and the head limits.
 *
 * @throws {HandshakeError} Malformed or over the limits (400/431; not answered yet).
 * @throws {TimeoutError} When it did not arrive in time (closed).
 * @throws {ConnectionClosed} When the client went away first.
 */
export function readRequestHead(
  conn: Connection,
  io: ChunkIO,
  options: AcceptWebSocketOptions,
): Promise<HeadRead<RequestHead>> {
  const handshakeTimeout = timeoutOption("handshakeTimeout", options.handshakeTimeout, 10_000);
  return readHead(
    io,
    () => conn.close(),
    parseRequestHead,
    handshakeTimeout,
    "WebSocket upgrade request",
    {
      maxHeaderBytes: options.maxHeaderBytes ?? 16384,
      maxHeaderCount: options.maxHeaderCount ?? 100,
    },
  );
}

/**
 * The opening handshake once the request head is read: checks it, consults
 * `onUpgrade`, answers 101 or refuses (answered and closed).
 *
 * @param raw The bytes `head` was parsed from, when at hand: kept instead of the parsed request.
 * @throws {HandshakeError} When the request is not a valid upgrade, or refused.
 */
export async function upgrade(
  conn: Connection,
  io: ChunkIO,
  head: RequestHead,
  rest: Uint8Array,
  options: AcceptWebSocketOptions,
  raw?: Uint8Array,
): Promise<ServerWebSocket> {
  let request: UpgradeRequest;
  try {
    request = parseUpgradeRequest(head);
  } catch (e) {
    if (e instanceof HandshakeError) {
      await refuse(conn, io, e.status || 400, e.message, e.headers);
    } else conn.close();
    throw e;
  }
  let decision: UpgradeDecision | void;
  try {
    decision = await options.onUpgrade?.({ request, remoteAddr: conn.remoteAddr });
  } catch (e) {
    await refuse(conn, io, 500, "upgrade handler failed");
    throw new HandshakeError(
      "WS_UPGRADE_HANDLER",
      `onUpgrade threw: ${e instanceof Error ? e.message : String(e)}`,
      { status: 500, cause: e },
    );
  }
  if (decision && "reject" in decision) {
    const { status, body, headers } = decision.reject;
    await refuse(conn, io, status, body ?? "", headers);
    throw new HandshakeError(
      "WS_UPGRADE_REJECTED",
      `upgrade refused by onUpgrade with status ${status}`,
      { status },
    );
  }
  let answer: Uint8Array;
  try {
    answer = buildAcceptResponse(request, {
      protocol: decision?.protocol,
      headers: decision?.headers,
    });
  } catch (e) {
    await refuse(conn, io, 500, "invalid upgrade decision");
    throw e;
  }
  try {
    await io.write(answer);
  } catch (e) {
    conn.close();
    throw e;
  }
  return new ServerWebSocket(
    conn,
    io,
    decision?.protocol ?? "",
    rest,
    options,
    // The raw head, as a one-byte string, is lighter to keep than the parsed request.
    raw !== undefined ? decodeLatin1(raw, 0, head.headLength) : request,
    options.topics ?? null,
  );
}
