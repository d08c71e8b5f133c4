/**
 * sluice — low-latency WebSocket (RFC 6455), HTTP/1.1 and TLS for Deno, Bun
 * and Node: the application entry point.
 *
 * It holds what an application uses: a WebSocket client and server, the
 * resilient {@link WebSocketClient} (reconnects, handshakes, a bounded send
 * queue), a keep-alive {@link RestClient}, raw TCP/TLS streams
 * ({@link connect}, {@link listen}) and the error classes. Each runtime loads
 * only its own socket adapter, on first use.
 *
 * Other doors: `@sluice/net/core` has the pure codecs (frames, handshakes,
 * HTTP/1.1 heads and bodies) for bringing your own I/O, and `@sluice/net/node`
 * attaches WebSockets to a `node:http` server.
 *
 * @example Echo server and client
 * ```ts
 * import { connectWebSocket, serveWebSocket } from "@sluice/net";
 *
 * const server = await serveWebSocket({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: async (ws) => {
 *     for await (const msg of ws) if (msg.type === "text") await ws.sendText(msg.text);
 *   },
 * });
 * const ws = await connectWebSocket(`ws://127.0.0.1:${server.addr.port}/`);
 * await ws.sendText("hello");
 * const reply = await ws.recv();
 * if (reply?.type === "text") console.log(reply.text); // "hello"
 * await ws.close();
 * await server.close();
 * ```
 *
 * @module
 */

// -- errors
export {
  ConnectionClosed,
  ConnectionPoisoned,
  ConnectionStale,
  HandshakeError,
  HttpParseError,
  ProtocolError,
  SluiceError,
  TimeoutError,
  TlsError,
} from "./src/core/errors.ts";
export type {
  HandshakeErrorDetails,
  ProtocolErrorOptions,
  SluiceErrorOptions,
} from "./src/core/errors.ts";

// -- messages and close codes (shared with @sluice/net/core)
export { CloseCode, isValidCloseCode, retainMessage } from "./src/core/ws/message.ts";
export type {
  BinaryMessage,
  CloseCodeValue,
  CloseMessage,
  Message,
  PingMessage,
  PongMessage,
  TextMessage,
} from "./src/core/ws/message.ts";

// -- HTTP types the clients and the server take and give (codecs: @sluice/net/core)
export { HttpHeaders } from "./src/core/http1/head.ts";
export type { HeadLimits } from "./src/core/http1/head.ts";
export type { BodyInit, HeaderInit, QueryInit } from "./src/core/http1/request_writer.ts";
export type { UpgradeRequest } from "./src/core/ws/handshake.ts";

// -- transports (src/transports)
export {
  bunTransport,
  connect,
  defaultTransport,
  denoTransport,
  detectRuntime,
  listen,
  nodeTransport,
} from "./src/transports/mod.ts";
export type {
  ChunkIO,
  ChunkSink,
  ClientTlsOptions,
  Connection,
  ConnectOptions,
  Listener,
  ListenOptions,
  NetAddr,
  RuntimeName,
  ServerTlsOptions,
  Transport,
} from "./src/transports/mod.ts";

// -- WebSocket client and server (src/ws, src/server)
export { connectWebSocket, parseWebSocketUrl } from "./src/ws/client.ts";
export type { ConnectWebSocketOptions, WebSocketTarget } from "./src/ws/client.ts";
export type { WebSocketOptions } from "./src/ws/connection.ts";
export type { CloseInfo, WebSocketConnection } from "./src/ws/types.ts";
export { acceptWebSocket } from "./src/server/accept.ts";
export type { AcceptedWebSocket, AcceptWebSocketOptions, UpgradeDecision, UpgradeInfo } from "./src/server/accept.ts";
export { serveWebSocket } from "./src/server/serve.ts";
export type { ServeWebSocketOptions, WebSocketServer } from "./src/server/serve.ts";
export { Topics } from "./src/server/topics.ts";
export type {
  PublishOptions,
  PublishResult,
  SlowSubscriberEvent,
  SlowSubscriberPolicy,
  TopicsOptions,
  TopicStats,
} from "./src/server/topics.ts";
export type { FetchHandler, FetchInfo, HttpOptions } from "./src/server/http_serve.ts";
export type { WebSocketCallbacks } from "./src/server/run_handler.ts";

// -- REST client (src/rest)
export { isIdempotentMethod, RestClient } from "./src/rest/client.ts";
export type { RestClientOptions, RestRequest } from "./src/rest/options.ts";
export { RestResponse } from "./src/rest/response.ts";
export { parseRetryAfter, retryDelay, withRetry } from "./src/rest/retry.ts";
export type { AttemptOutcome, RetryPolicy } from "./src/rest/retry.ts";

// -- resilient client (src/client)
export { systemClock } from "./src/common/clock.ts";
export type { Clock, TimerHandle } from "./src/common/clock.ts";
export {
  ClientClosed,
  ClientErrorCode,
  HandshakerError,
  NotConnected,
  QueueFull,
  SubscriberOverflow,
} from "./src/client/errors.ts";
export type { QueueFullDetails } from "./src/client/errors.ts";
export {
  BackoffPresets,
  exponentialBackoff,
  fixedDelay,
  isRetryable,
  noRetry,
  toRetryStrategy,
} from "./src/common/retry.ts";
export type {
  ExponentialBackoffOptions,
  FixedDelayOptions,
  Jitter,
  RetryFunction,
  RetryStrategy,
} from "./src/common/retry.ts";
export { RetryTracker, shouldResetAttempts } from "./src/client/retry_tracker.ts";
export type { RetryDecision, RetryTrackerOptions } from "./src/client/retry_tracker.ts";
export { payloadBytes, utf8Length, WriteLedger } from "./src/client/ledger.ts";
export type { MessageCount, Outgoing } from "./src/client/ledger.ts";
export { SendQueue } from "./src/client/send_queue.ts";
export type { QueueEntry, SendOptions, SendQueueOptions } from "./src/client/send_queue.ts";
export { Broadcaster } from "./src/client/events.ts";
export type {
  ClientErrorEvent,
  ClosedEvent,
  ConnectedEvent,
  ConnectingEvent,
  ConnectionEvent,
  DisconnectedEvent,
  HandshakeFailedEvent,
  ReconnectScheduledEvent,
  SubscribeOptions,
} from "./src/client/events.ts";
export { StateTracker } from "./src/client/state.ts";
export type { ClientState, ConnectionStatus } from "./src/client/state.ts";
export {
  chainHandshakes,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  runHandshake,
} from "./src/client/handshake.ts";
export type {
  HandshakeConnection,
  HandshakeContext,
  Handshaker,
} from "./src/client/handshake.ts";
export {
  authHandshake,
  awaitReplies,
  jsonSubscribeReply,
  sendOutgoing,
  subscribeHandshake,
} from "./src/client/handshakers.ts";
export type {
  AuthHandshakeOptions,
  HandshakerOptions,
  ReplyClassifier,
  SubscribeHandshakeOptions,
  TokenSource,
} from "./src/client/handshakers.ts";
export { WebSocketClient } from "./src/client/websocket_client.ts";
export type { IterableStream, WebSocketClientState } from "./src/client/websocket_client.ts";
export { fastReconnect, stableConnection } from "./src/client/client_options.ts";
export type { ClientConnectOptions, WebSocketClientOptions } from "./src/client/client_options.ts";
export { loggingExtension, statusExtension } from "./src/client/extensions.ts";
export type {
  ConnectionInfo,
  DisconnectInfo,
  ErrorInfo,
  Extension,
  LoggingOptions,
  LogLevel,
  StatusExtension,
  StatusView,
} from "./src/client/extensions.ts";
