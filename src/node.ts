/**
 * sluice's Node-only entry point (`@sluice/net/node`): WebSockets on an
 * existing `node:http` or `node:https` server, through its `'upgrade'` event.
 * It is separate from the root module so Deno and Bun programs that never use
 * `node:http` never load this code (it also runs on their Node compatibility
 * layers when they do).
 *
 * @example Serve HTTP and WebSockets on one port
 * ```ts ignore
 * import http from "node:http";
 * import { attachWebSocket } from "@sluice/net/node";
 * const server = http.createServer((_req, res) => res.end("hello"));
 * attachWebSocket(server, {
 *   path: "/ws",
 *   handler: async (ws) => {
 *     for await (const msg of ws) if (msg.type === "text") await ws.sendText(msg.text);
 *   },
 * });
 * server.listen(8080);
 * ```
 *
 * @module
 */
export { attachWebSocket, handleNodeUpgrade } from "./server/node_http.ts";
export type {
  AttachedWebSockets,
  AttachWebSocketOptions,
  NodeUpgradeEmitter,
  NodeUpgradeOptions,
  NodeUpgradeRequest,
  UpgradeSocket,
} from "./server/node_http.ts";
export { wrapUpgradeSocket } from "./transports/node_upgrade.ts";
export type { UpgradeSocketOptions } from "./transports/node_upgrade.ts";

// Types the adapter takes and gives, so this entry point documents on its own;
// they are the same types the main entry point exports.
export type { HeaderInit } from "./core/http1/request_writer.ts";
export type { HttpHeaders } from "./core/http1/headers.ts";
export type { UpgradeRequest } from "./core/ws/handshake.ts";
export type {
  BinaryMessage,
  CloseMessage,
  Message,
  PingMessage,
  PongMessage,
  TextMessage,
} from "./core/ws/message.ts";
export type {
  AcceptedWebSocket,
  AcceptWebSocketOptions,
  UpgradeDecision,
  UpgradeInfo,
} from "./server/accept.ts";
export type { ChunkIO, ChunkSink, Connection, NetAddr } from "./transports/types.ts";
export { Topics } from "./server/topics.ts";
export type {
  PublishOptions,
  PublishResult,
  SlowSubscriberEvent,
  SlowSubscriberPolicy,
  TopicsOptions,
  TopicStats,
} from "./server/topics.ts";
export type { WebSocketOptions } from "./ws/connection.ts";
export type { CloseInfo, WebSocketConnection } from "./ws/types.ts";
