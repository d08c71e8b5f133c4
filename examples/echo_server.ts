/**
 * A WebSocket echo server: every text and binary message goes back as it
 * came. It doubles as the server under test for the Autobahn TestSuite
 * (`wstest -m fuzzingclient` pointed at it). Runs as written on every runtime:
 *
 *   deno run -A examples/echo_server.ts --host 127.0.0.1 --port 9001
 *   bun examples/echo_server.ts --host 127.0.0.1 --port 9001
 *   node --import tsx examples/echo_server.ts --host 127.0.0.1 --port 9001
 *
 * Prints `listening on ws://HOST:PORT` once ready (the real port when
 * `--port 0`), and stops cleanly on SIGINT or SIGTERM: open connections get
 * a 1001 close, then the process exits with status 0.
 *
 * @module
 */
import process from "node:process";
import { serveWebSocket } from "../mod.ts";
import { parseFlags } from "./_args.ts";

const flags = parseFlags({ host: "127.0.0.1", port: "9001" });
const port = Number(flags.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  throw new RangeError(`--port must be 0-65535: got ${flags.port}`);
}

const server = await serveWebSocket({
  hostname: flags.host,
  port,
  // Autobahn's biggest messages are 16 MiB (9.1.6, 9.2.6).
  maxMessageSize: 64 * 1024 * 1024,
  handler: async (ws) => {
    for await (const msg of ws) {
      if (msg.type === "text") await ws.sendText(msg.text);
      else if (msg.type === "binary") await ws.sendBinary(msg.data);
    }
  },
  // A client breaking the protocol is the point of a conformance run: not worth a log line each.
  onError: () => {},
});

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.error(`${signal}: closing ${server.connections} connection(s)`);
  server.close(1001, "server shutting down").then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
};
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));

// Only now: whoever waits for this line may signal us at once.
console.log(`listening on ws://${server.addr.hostname}:${server.addr.port}`);
