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
