/**
 * Echo demo: a sluice WebSocket server and client on loopback, printing what
 * they exchange. Runs as written on every runtime:
 *
 *   node --import tsx examples/echo_demo.ts
 *   deno run -A examples/echo_demo.ts
 *   bun examples/echo_demo.ts
 *
 * @module
 */
import { connectWebSocket, serveWebSocket } from "../mod.ts";

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

const server = await serveWebSocket({
  hostname: "127.0.0.1",
  port: 0,
  handler: async (ws) => {
    console.log(`server: connection from ${ws.remoteAddr.hostname}:${ws.remoteAddr.port} for ${ws.request.path}`);
    for await (const msg of ws) {
      if (msg.type === "text") {
        console.log(`server: got text ${JSON.stringify(msg.text)}, echoing`);
        await ws.sendText(msg.text);
      } else if (msg.type === "binary") {
        console.log(`server: got ${msg.data.length} binary bytes, echoing`);
        await ws.sendBinary(msg.data);
      }
    }
    console.log("server: client closed the connection");
  },
});
console.log(`server: listening on ws://127.0.0.1:${server.addr.port} (${runtime})`);

const ws = await connectWebSocket(`ws://127.0.0.1:${server.addr.port}/echo`);
console.log("client: connected");
for (const text of ["hello", "héllo wörld ☃", JSON.stringify({ op: "ping", n: 1 })]) {
  await ws.sendText(text);
  const reply = await ws.recv();
  console.log(`client: sent ${JSON.stringify(text)}, got back ${reply?.type === "text" ? JSON.stringify(reply.text) : reply?.type}`);
}
const bytes = new Uint8Array(100_000).map((_, i) => i & 0xff);
await ws.sendBinary(bytes);
const back = await ws.recv();
const same = back?.type === "binary" && back.data.length === bytes.length && back.data.every((b, i) => b === bytes[i]);
console.log(`client: sent 100000 binary bytes, got back ${back?.type === "binary" ? back.data.length : 0} (${same ? "identical" : "DIFFERENT"})`);

const rttPromise = ws.ping();
const reading = ws.recv(); // pongs are seen while the connection is read
console.log(`client: ping round trip ${(await rttPromise).toFixed(3)} ms`);
const info = await ws.close(1000, "done");
await reading;
console.log(`client: closed (code ${info.code}, clean ${info.wasClean})`);
await server.close();
console.log("server: stopped");
if (!same) throw new Error("echo mismatch");
