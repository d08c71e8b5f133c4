/**
 * The server side of the opening handshake over a connection the caller
 * already holds.
 *
 * @module
 */
import { HandshakeError } from "../core/errors.ts";
import { parseRequestHead } from "../core/http1/head.ts";
import type { HeaderInit } from "../core/http1/request_writer.ts";
import {
  buildAcceptResponse,
  buildRejectResponse,
  parseUpgradeRequest,
  type UpgradeRequest,
} from "../core/ws/handshake.ts";
import type { ChunkIO, Connection, NetAddr } from "../transports/types.ts";
import { WebSocketConnectionImpl, type WebSocketOptions } from "../ws/connection.ts";
import { timeoutOption } from "../ws/deferred.ts";
import { readHead } from "../ws/head_io.ts";
import { takeIo } from "../ws/io.ts";
import type { WebSocketConnection } from "../ws/types.ts";

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
}

/** A server-side WebSocket, with the request that opened it. */
export interface AcceptedWebSocket extends WebSocketConnection {
  /** The upgrade request. */
  readonly request: UpgradeRequest;
  /** The client's address. */
  readonly remoteAddr: NetAddr;
  /** The transport connection (TLS facts: `serverName`, `peerCertificateAuthorized`, `alpnProtocol`). */
  readonly transport: Connection;
}

/**
 * Answers with a refusal and closes. When the refusal itself is invalid (an
 * onUpgrade status outside 400–599, a header with CR/LF), answers 500 instead
 * and throws that error, so the caller's bug is reported rather than turned
 * into a silently dropped connection.
 */
async function refuse(
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
  const handshakeTimeout = timeoutOption("handshakeTimeout", options.handshakeTimeout, 10_000);
  const io = takeIo(conn);
  let request: UpgradeRequest;
  let rest: Uint8Array;
  try {
    const read = await readHead(
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
    rest = read.rest;
    request = parseUpgradeRequest(read.head);
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
  const ws = new WebSocketConnectionImpl(
    conn,
    io,
    "server",
    decision?.protocol ?? "",
    rest,
    options,
  ) as
    & WebSocketConnectionImpl
    & {
      request: UpgradeRequest;
      remoteAddr: NetAddr;
    };
  ws.request = request;
  ws.remoteAddr = conn.remoteAddr;
  return ws;
}
