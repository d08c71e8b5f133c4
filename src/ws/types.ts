/**
 * The shape of an open WebSocket connection, shared by the client, the server
 * and the resilient client built on them.
 *
 * @module
 */
import type { Message } from "../core/ws/message.ts";

/** How a connection ended. */
export interface CloseInfo {
  /**
   * The close code: the peer's after a close handshake (1005 when its frame
   * had none); the code we sent when we failed the connection (1002, 1007,
   * 1009…); 1006 when the connection dropped without a close frame.
   */
  readonly code: number;
  /** The close reason received, possibly empty. */
  readonly reason: string;
  /** True when both sides exchanged close frames (RFC 6455 §7.1.4 "cleanly"). */
  readonly wasClean: boolean;
  /** Which side sent the first close frame, or "none" when the socket just dropped. */
  readonly initiatedBy: "local" | "remote" | "none";
  /** The failure behind an abnormal close (socket error, protocol error, timeout), if any. */
  readonly error?: Error;
}

/**
 * An open WebSocket connection (either role).
 *
 * Received messages are **borrowed** from the codec: a message's `data` is
 * valid until the next `recv()` (or the next iteration step). Use
 * `retainMessage()` to keep one.
 *
 * After a write failure or a protocol error the connection is poisoned: every
 * later call rejects at once with a `ConnectionPoisoned` whose `cause` is the
 * original failure.
 *
 * @example Echo until the peer closes
 * ```ts
 * import type { WebSocketConnection } from "@sluice/net";
 * async function echo(ws: WebSocketConnection) {
 *   for await (const msg of ws) {
 *     if (msg.type === "text") await ws.sendText(msg.text);
 *     else if (msg.type === "binary") await ws.sendBinary(msg.data);
 *   }
 * }
 * ```
 */
export interface WebSocketConnection extends AsyncIterable<Message> {
  /** The subprotocol the server selected, or "" when none. */
  readonly protocol: string;
  /** The extensions the server accepted (always "" today: none are negotiated). */
  readonly extensions: string;
  /** Settles once the connection is fully closed; never rejects. */
  readonly closed: Promise<CloseInfo>;
  /** "open"; "closing" once a close frame was sent or the connection failed; "closed" when the socket is gone. */
  readonly readyState: "open" | "closing" | "closed";
  /**
   * Number of bytes handed to `send*` that are not yet written to the socket.
   */
  readonly bufferedAmount: number;
  /**
   * Bytes read from the peer so far (frames and their headers). It grows
   * while a large message is still arriving, so heartbeats can tell a slow
   * peer from a dead one.
   */
  readonly bytesReceived: number;
  /**
   * Resolves with the next data message (text or binary; and ping/pong/close
   * when the corresponding options expose them), or `null` once the connection
   * closed cleanly. Rejects with the failure on an abnormal close.
   */
  recv(): Promise<Message | null>;
  /** Sends a text message; resolves when its frame is handed to the socket. */
  sendText(text: string): Promise<void>;
  /** Sends a binary message; resolves when its frame is handed to the socket. */
  sendBinary(data: Uint8Array): Promise<void>;
  /**
   * Sends a ping and resolves with the round-trip time in milliseconds when
   * its pong arrives. The pong is only seen while the connection is being read
   * (`recv()`, iteration, `messages`): without a reader, or without a pong,
   * the ping rejects with a `TimeoutError` (code `WS_PING_TIMEOUT`) after
   * `pingTimeoutMs` (30 s by default), saying which; it never waits forever.
   */
  ping(data?: Uint8Array): Promise<number>;
  /** Sends an unsolicited pong (a unidirectional heartbeat, RFC 6455 §5.5.3). */
  pong(data?: Uint8Array): Promise<void>;
  /**
   * Starts the close handshake: sends a close frame, waits (bounded) for the
   * peer's, then ends the socket.
   */
  close(code?: number, reason?: string): Promise<CloseInfo>;
  /**
   * Drops the connection at once, with no close handshake (the peer sees
   * 1006): for a peer presumed dead. Pending and later calls fail;
   * `closed` resolves with code 1006.
   */
  abort(reason?: unknown): void;
  /** Messages as a stream; reading pulls from the socket only on demand. */
  readonly readable: ReadableStream<Message>;
  /** Send side as a stream: strings go as text, bytes as binary. */
  readonly writable: WritableStream<string | Uint8Array>;
}
