/**
 * A chat room: every text a client sends goes to everyone else in the room
 * (one encoded frame for all), and `GET /health` answers on the same port.
 *
 *   deno run -A examples/chat_server.ts --port 8080
 *   bun examples/chat_server.ts --port 8080
 *   node --import tsx examples/chat_server.ts --port 8080
 *
 * @module
 */
import { type AcceptedWebSocket, serveWebSocket } from "../mod.ts";
import { parseFlags } from "./_args.ts";

const flags = parseFlags({ host: "127.0.0.1", port: "8080" });
const names = new WeakMap<AcceptedWebSocket, string>();
let guests = 0;

const server = await serveWebSocket({
  hostname: flags.host,
  port: Number(flags.port),
  open: (ws) => {
    names.set(ws, `guest${++guests}`);
    ws.subscribe("room");
    ws.publish("room", `${names.get(ws)} joined`);
  },
  message: (ws, msg) => {
    if (msg.type === "text") ws.publish("room", `${names.get(ws)}: ${msg.text}`);
  },
  close: (ws) => server.publish("room", `${names.get(ws)} left`),
  fetch: (req) =>
    new URL(req.url).pathname === "/health"
      ? Response.json({ ok: true, connections: server.connections, ...server.stats })
      : new Response("not found\n", { status: 404 }),
});

console.log(`listening on ws://${server.addr.hostname}:${server.addr.port}`);
