/**
 * sluice — low-latency WebSocket (RFC 6455), HTTP/1.1 and TLS primitives for
 * Deno, Bun and Node.
 *
 * The core is a sans-IO codec (bytes in, messages out, no sockets) that runs
 * anywhere a `Uint8Array` exists. Runtime transports wrap `Deno.connect`, Bun
 * sockets and `node:net`/`node:tls` as Web Streams, and the clients and
 * servers are built on those streams, so the same code runs on every runtime.
 *
 * @example Decode a frame
 * ```ts
 * import { FrameReader } from "@sluice/net";
 * const reader = new FrameReader({ role: "client" });
 * reader.push(new Uint8Array([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]));
 * const msg = reader.next();
 * if (msg?.type === "text") console.log(msg.text); // "Hello"
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

// -- WebSocket codec (src/core/ws)
export { FrameReader } from "./src/core/ws/frame_reader.ts";
export type { FrameReaderOptions } from "./src/core/ws/frame_reader.ts";
export { FrameWriter } from "./src/core/ws/frame_writer.ts";
export type { DataOpcode, FrameWriterOptions } from "./src/core/ws/frame_writer.ts";
export { WriteBuf } from "./src/core/ws/write_buf.ts";
export {
  buildAcceptResponse,
  buildClientHandshake,
  buildRejectResponse,
  computeAccept,
  parseUpgradeRequest,
  validateServerHandshake,
} from "./src/core/ws/handshake.ts";
export type {
  AcceptOptions,
  ClientHandshake,
  ClientHandshakeOptions,
  HandshakeResult,
  RejectOptions,
  UpgradeRequest,
} from "./src/core/ws/handshake.ts";
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

// -- HTTP/1.1 codec (src/core/http1)
export {
  DEFAULT_HEAD_LIMITS,
  HttpHeaders,
  parseRequestHead,
  parseResponseHead,
} from "./src/core/http1/head.ts";
export type { HeadLimits, RequestHead, ResponseHead } from "./src/core/http1/head.ts";
export { encodeChunk, LAST_CHUNK } from "./src/core/http1/chunked.ts";
export type { BodyKind } from "./src/core/http1/framing.ts";
export { ResponseReader } from "./src/core/http1/response_reader.ts";
export type {
  DataEvent,
  EndEvent,
  HeadEvent,
  InformationalEvent,
  MessageReaderOptions,
  ResponseEvent,
  ResponseReaderOptions,
  TrailersEvent,
} from "./src/core/http1/response_reader.ts";
export { isUpgradeRequest, RequestReader } from "./src/core/http1/request_reader.ts";
export type { RequestEvent, RequestReaderOptions } from "./src/core/http1/request_reader.ts";
export { RequestWriter } from "./src/core/http1/request_writer.ts";
export type {
  BodyInit,
  EncodedRequest,
  HeaderInit,
  QueryInit,
  RequestInit,
  RequestWriterOptions,
} from "./src/core/http1/request_writer.ts";

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

// -- REST client (src/rest)
export { isIdempotentMethod, RestClient } from "./src/rest/client.ts";
export type { RestClientOptions, RestRequest } from "./src/rest/client.ts";
export { RestResponse } from "./src/rest/response.ts";
export { parseRetryAfter, retryDelay, withRetry } from "./src/rest/retry.ts";
export type { AttemptOutcome, RetryPolicy } from "./src/rest/retry.ts";

// -- resilient client (src/client)
export { systemClock } from "./src/client/clock.ts";
export type { Clock, TimerHandle } from "./src/client/clock.ts";
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
  noRetry,
  toRetryStrategy,
} from "./src/client/retry.ts";
export type {
  ExponentialBackoffOptions,
  FixedDelayOptions,
  Jitter,
  RetryFunction,
  RetryStrategy,
} from "./src/client/retry.ts";
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
