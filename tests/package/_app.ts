/**
 * The files of the temporary app that npm_package_test.ts installs the packed
 * tarball into: programs that import the package by its name, as a user's
 * app does, and the tsconfigs a user's editor and CI would use.
 *
 * @module
 */

/** A WebSocket echo round trip through the installed package, on any runtime. */
export const ECHO_PROGRAM = `
import { connectWebSocket, serveWebSocket, SluiceError } from "@sluice/net";
import { FrameReader } from "@sluice/net/core";

const runtime = typeof Deno === "object" ? "deno" : typeof Bun === "object" ? "bun" : "node";
const server = await serveWebSocket({
  hostname: "127.0.0.1",
  port: 0,
  handler: async (ws) => {
    for await (const msg of ws) if (msg.type === "text") await ws.sendText("echo:" + msg.text);
  },
});
const ws = await connectWebSocket("ws://127.0.0.1:" + server.addr.port + "/");
await ws.sendText(runtime);
const reply = await ws.recv();
const info = await ws.close(1000, "done");
await server.close();
const reader = new FrameReader({ role: "client" });
reader.push(new Uint8Array([0x81, 0x02, 0x68, 0x69]));
const frame = reader.next();
console.log(JSON.stringify({
  runtime,
  reply: reply && reply.type === "text" ? reply.text : null,
  closeCode: info.code,
  codec: frame && frame.type === "text" ? frame.text : null,
  errorClass: typeof SluiceError,
  resolved: import.meta.resolve("@sluice/net"),
}));
`;

/** The Node adapter entry point on a real node:http server. */
export const NODE_ADAPTER_PROGRAM = `
import http from "node:http";
import { connectWebSocket } from "@sluice/net";
import { attachWebSocket } from "@sluice/net/node";

const server = http.createServer((_req, res) => res.end("plain"));
attachWebSocket(server, {
  handler: async (ws) => {
    for await (const msg of ws) if (msg.type === "text") await ws.sendText(msg.text.toUpperCase());
  },
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const ws = await connectWebSocket("ws://127.0.0.1:" + server.address().port + "/");
await ws.sendText("node adapter");
const reply = await ws.recv();
await ws.close();
server.close();
console.log(JSON.stringify({ reply: reply && reply.type === "text" ? reply.text : null }));
`;

/**
 * Imports one entry point with the other runtimes' globals replaced by
 * getters that throw, so any code touching them at import time fails.
 * On Node it also records every module loaded (through a module hook) so the
 * test can say which files an import evaluated.
 */
export const ISOLATION_PROGRAM = `
import process from "node:process";
const entry = process.argv.at(-1);
const mine = typeof Deno === "object" ? "Deno" : typeof Bun === "object" ? "Bun" : "node";
for (const name of ["Deno", "Bun"]) {
  if (name === mine) continue;
  Object.defineProperty(globalThis, name, {
    configurable: true,
    get() { throw new Error(name + " was touched while importing " + entry + " on " + mine); },
  });
}
let loaded = null;
if (mine === "node") {
  const { register } = await import("node:module");
  const { MessageChannel } = await import("node:worker_threads");
  const { port1, port2 } = new MessageChannel();
  loaded = [];
  port1.on("message", (url) => loaded.push(url));
  port1.unref();
  register("./record_loads.mjs", import.meta.url, { data: { port: port2 }, transferList: [port2] });
}
const mod = await import(entry);
await new Promise((resolve) => setTimeout(resolve, 50));
console.log(JSON.stringify({ exports: Object.keys(mod).length, loaded }));
`;

/** The Node module hook behind ISOLATION_PROGRAM: reports each loaded URL. */
export const RECORD_LOADS_HOOK = `
let port;
export function initialize(data) { port = data.port; }
export async function load(url, context, next) {
  port.postMessage(url);
  return next(url, context);
}
`;

/**
 * A user's TypeScript against every entry point, written to compile under the
 * strictest flags users turn on (noUnusedLocals included, so every import is used).
 */
export const TYPED_PROGRAM = `
import { createServer } from "node:http";
import {
  type CloseInfo,
  connectWebSocket,
  type Message,
  RestClient,
  serveWebSocket,
  SluiceError,
  WebSocketClient,
  type WebSocketClientOptions,
} from "@sluice/net";
import { FrameReader, type ResponseEvent, ResponseReader } from "@sluice/net/core";
import { attachWebSocket, type AttachedWebSockets } from "@sluice/net/node";

export async function roundTrip(): Promise<CloseInfo> {
  const server = await serveWebSocket({
    hostname: "127.0.0.1",
    port: 0,
    handler: async (ws) => {
      for await (const msg of ws) if (msg.type === "text") await ws.sendText(msg.text);
    },
  });
  const ws = await connectWebSocket(\`ws://127.0.0.1:\${server.addr.port}/\`);
  await ws.sendText("typed");
  const reply: Message | null = await ws.recv();
  if (reply?.type !== "text") throw new SluiceError("APP_NO_REPLY", "no text reply");
  const info = await ws.close();
  await server.close();
  return info;
}

export function codecs(bytes: Uint8Array): string[] {
  const frames = new FrameReader({ role: "client" });
  frames.push(bytes);
  const responses = new ResponseReader();
  responses.push(bytes);
  const ev: ResponseEvent | null = responses.next();
  const first = frames.next();
  return [first?.type ?? "none", ev?.type ?? "none"];
}

export function nodeServer(): AttachedWebSockets {
  return attachWebSocket(createServer(), { handler: () => {} });
}

export function resilient(): WebSocketClient {
  const options: WebSocketClientOptions = { pingIntervalMs: 5_000 };
  return new WebSocketClient("ws://127.0.0.1:1/", options);
}

export const restClientClass: typeof RestClient = RestClient;
`;

/** Compiler options every user tsconfig here shares: strict plus the extras. */
const STRICT = {
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noUnusedLocals: true,
  noUnusedParameters: true,
  noImplicitOverride: true,
  skipLibCheck: false,
  noEmit: true,
  types: ["node"],
};

/**
 * The tsconfigs: a plain Node app (`nodenext`, no DOM lib), a bundler app,
 * and an app that loads sluice's `.ts` sources (what Bun runs through the
 * `bun` condition), so they are type-checked with the user's flags.
 */
export const TSCONFIGS: Record<string, { compilerOptions: Record<string, unknown>; files: string[] }> = {
  nodenext: {
    compilerOptions: { ...STRICT, target: "ES2022", module: "nodenext", moduleResolution: "nodenext", lib: ["ES2022"] },
    files: ["typed.ts"],
  },
  bundler: {
    compilerOptions: {
      ...STRICT,
      target: "ES2022",
      module: "esnext",
      moduleResolution: "bundler",
      lib: ["ES2022", "DOM"],
    },
    files: ["typed.ts"],
  },
  "sources": {
    compilerOptions: {
      ...STRICT,
      target: "ESNext",
      module: "preserve",
      moduleResolution: "bundler",
      // What Bun runs (the "bun" condition) and what tsx users of the sources load.
      paths: {
        "@sluice/net": ["./node_modules/@sluice/net/mod.ts"],
        "@sluice/net/core": ["./node_modules/@sluice/net/src/core/mod.ts"],
        "@sluice/net/node": ["./node_modules/@sluice/net/src/node.ts"],
      },
      allowImportingTsExtensions: true,
      verbatimModuleSyntax: true,
      lib: ["ESNext", "DOM"],
    },
    files: ["typed.ts"],
  },
};
