/**
 * sluice's pure codecs (`@sluice/net/core`): RFC 6455 frames and opening
 * handshakes, and HTTP/1.1 heads, bodies and requests, as sans-IO state
 * machines. Bytes go in, messages come out; nothing here opens a socket,
 * starts a timer or names a runtime, so it runs anywhere a `Uint8Array`
 * exists (Deno, Bun, Node, browsers, workers). Bring your own I/O, or use the
 * main entry `@sluice/net`, which wraps these codecs in each runtime's
 * sockets.
 *
 * Every violation a peer can commit is a {@link ProtocolError} (with the close
 * code to send) or an {@link HttpParseError} (with the status to answer);
 * every read has a limit that is on by default.
 *
 * @example Decode a frame
 * ```ts
 * import { FrameReader } from "@sluice/net/core";
 * const reader = new FrameReader({ role: "client" });
 * reader.push(new Uint8Array([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]));
 * const msg = reader.next();
 * if (msg?.type === "text") console.log(msg.text); // "Hello"
 * ```
 *
 * @example Parse a response arriving in pieces
 * ```ts
 * import { ResponseReader } from "@sluice/net/core";
 * const reader = new ResponseReader();
 * reader.push(new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"));
 * for (let ev = reader.next(); ev !== null; ev = reader.next()) console.log(ev.type);
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
} from "./errors.ts";
export type { HandshakeErrorDetails, ProtocolErrorOptions, SluiceErrorOptions } from "./errors.ts";

// -- WebSocket codec (src/core/ws)
export { FrameReader } from "./ws/frame_reader.ts";
export type { FrameReaderOptions } from "./ws/frame_reader.ts";
export { FrameWriter } from "./ws/frame_writer.ts";
export type { DataOpcode, FrameWriterOptions } from "./ws/frame_writer.ts";
export { WriteBuf } from "./ws/write_buf.ts";
export {
  buildAcceptResponse,
  buildClientHandshake,
  buildRejectResponse,
  computeAccept,
  parseUpgradeRequest,
  validateServerHandshake,
} from "./ws/handshake.ts";
export type {
  AcceptOptions,
  ClientHandshake,
  ClientHandshakeOptions,
  HandshakeResult,
  RejectOptions,
  UpgradeRequest,
} from "./ws/handshake.ts";
export { encodeClosePayload, parseClosePayload } from "./ws/close_payload.ts";
export { ConnectionState } from "./ws/connection_state.ts";
export type {
  AnsweredPing,
  CloseInitiator,
  ConnectionCloseInfo,
  ConnectionPhase,
  ConnectionStateOptions,
  PeerClose,
  PendingPing,
  PongResult,
} from "./ws/connection_state.ts";
export { CloseCode, isValidCloseCode, retainMessage } from "./ws/message.ts";
export type {
  BinaryMessage,
  CloseCodeValue,
  CloseMessage,
  Message,
  PingMessage,
  PongMessage,
  TextMessage,
} from "./ws/message.ts";

// -- HTTP/1.1 codec (src/core/http1)
export {
  DEFAULT_HEAD_LIMITS,
  HttpHeaders,
  parseRequestHead,
  parseResponseHead,
} from "./http1/head.ts";
export type { HeadLimits, RequestHead, ResponseHead } from "./http1/head.ts";
export { encodeChunk, LAST_CHUNK } from "./http1/chunked.ts";
export type { BodyKind } from "./http1/framing.ts";
export { ResponseReader } from "./http1/response_reader.ts";
export type {
  DataEvent,
  EndEvent,
  HeadEvent,
  InformationalEvent,
  MessageReaderOptions,
  ResponseEvent,
  ResponseReaderOptions,
  TrailersEvent,
} from "./http1/response_reader.ts";
export { isUpgradeRequest, RequestReader } from "./http1/request_reader.ts";
export type { RequestEvent, RequestReaderOptions } from "./http1/request_reader.ts";
export { buildResponseHead, isBodylessStatus } from "./http1/response_writer.ts";
export type { ResponseBody, ResponseHeadInit } from "./http1/response_writer.ts";
export { RequestWriter } from "./http1/request_writer.ts";
export type {
  BodyInit,
  EncodedRequest,
  HeaderInit,
  QueryInit,
  RequestInit,
  RequestWriterOptions,
} from "./http1/request_writer.ts";

