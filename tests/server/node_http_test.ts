import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { HandshakeError } from "../../src/core/errors.ts";
import { FrameReader } from "../../src/core/ws/frame_reader.ts";
import { FrameWriter } from "../../src/core/ws/frame_writer.ts";
import type { UpgradeInfo } from "../../src/server/accept.ts";
import {
  type AttachedWebSockets,
  attachWebSocket,
  type AttachWebSocketOptions,
  handleNodeUpgrade,
} from "../../src/server/node_http.ts";
import { connectWebSocket } from "../../src/ws/client.ts";
import type { WebSocketConnection } from "../../src/ws/types.ts";
import { loadWs, within } from "../ws/_interop.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Running {
  server: http.Server;
  port: number;
}

/** A node:http server answering plain requests with "plain", closed (with its sockets) afterwards. */
async function withHttpServer(
  setup: (server: http.Server) => void,
  fn: (s: Running) => Promise<void>,
): Promise<void> {
  const server = http.createServer((_req, res) => res.end("plain"));
  const sockets = new Set<net.Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  setup(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await fn({ server, port: (server.address() as net.AddressInfo).port });
  } finally {
    for (const s of sockets) s.destroy();
    await within(
      new Promise<void>((resolve) => server.close(() => resolve())),
      5_000,
      "server.close",
    );
  }
}

/** `withHttpServer` with `attachWebSocket(server, options)`, closed afterwards. */
function withAttached(
  options: AttachWebSocketOptions,
  fn: (s: Running & { wss: AttachedWebSockets }) => Promise<void>,
  setup?: (server: http.Server) => void,
): Promise<void> {
  let wss!: AttachedWebSockets;
  return withHttpServer((server) => {
    wss = attachWebSocket(server, options);
    setup?.(server);
  }, async (s) => {
    try {
      await fn({ ...s, wss });
    } finally {
      await within(wss.close(), 5_000, "wss.close");
    }
  });
}

async function echoText(ws: WebSocketConnection): Promise<void> {
  for await (const m of ws) if (m.type === "text") await ws.sendText(m.text);
}

/** Writes `bytes` on a raw socket and collects what comes back until `done(received)` or 5 s. */
async function raw(
  port: number,
  bytes: Uint8Array,
  done: (got: Uint8Array) => boolean,
): Promise<Uint8Array> {
  const socket = net.connect(port, "127.0.0.1");
  let got = new Uint8Array(0);
  try {
    return await within(
      new Promise<Uint8Array>((resolve, reject) => {
        socket.on("error", reject);
        socket.on("close", () => resolve(got));
        socket.on("data", (chunk: Uint8Array) => {
          const next = new Uint8Array(got.length + chunk.length);
          next.set(got);
          next.set(chunk, got.length);
          got = next;
          if (done(got)) resolve(got);
        });
        socket.write(bytes);
      }),
      5_000,
      "raw exchange",
    );
  } finally {
    socket.destroy();
  }
}

function headEnd(bytes: Uint8Array): number {
  const i = dec.decode(bytes).indexOf("\r\n\r\n");
  return i === -1 ? -1 : i + 4;
}

const UPGRADE =
  "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

describe("server attachWebSocket / handleNodeUpgrade on a node:http server", () => {
  test("a frame sent in the same packet as the upgrade request (Node's 'head') is the first message", async () => {
    let headLength = -1;
    await withHttpServer((server) => {
      server.on("upgrade", (req, socket, head) => {
        headLength = head.length;
        handleNodeUpgrade(req, socket, head).then(echoText).catch(() => {});
      });
    }, async ({ port }) => {
      const frame = new FrameWriter({ role: "client" }).text("early bird");
      const request = enc.encode(UPGRADE);
      const both = new Uint8Array(request.length + frame.length);
      both.set(request);
      both.set(frame, request.length);
      const got = await raw(port, both, (g) => headEnd(g) !== -1 && g.length >= headEnd(g) + 12);
      const end = headEnd(got);
      assert.match(dec.decode(got.subarray(0, end)), /^HTTP\/1\.1 101 /);
      assert.match(
        dec.decode(got.subarray(0, end)),
        /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/,
      );
      const reader = new FrameReader({ role: "client" });
      reader.push(got.subarray(end));
      const msg = reader.next();
      assert.equal(msg?.type === "text" ? msg.text : msg?.type, "early bird");
    });
    assert.equal(
      headLength,
      new FrameWriter({ role: "client" }).text("early bird").length,
      "Node passed the frame as 'head'",
    );
  });

  test("a request that is not a WebSocket upgrade (Upgrade: h2c) is answered 400 and reported", async () => {
    const errors: unknown[] = [];
    await withAttached({ handler: () => {}, onError: (e) => errors.push(e) }, async ({ port }) => {
      const got = await raw(
        port,
        enc.encode("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"),
        (g) => headEnd(g) !== -1,
      );
      assert.match(dec.decode(got), /^HTTP\/1\.1 400 /);
    });
    assert.ok(errors[0] instanceof HandshakeError, String(errors[0]));
    assert.equal((errors[0] as HandshakeError).code, "WS_UPGRADE_UPGRADE");
  });

  test("plain HTTP requests still reach the server; another path is refused with 404", async () => {
    await withAttached({ path: "/ws", handler: echoText }, async ({ port }) => {
      const body = await new Promise<string>((resolve, reject) => {
        http.get({ host: "127.0.0.1", port, path: "/" }, (res) => {
          let text = "";
          res.on("data", (c) => (text += c));
          res.on("end", () => resolve(text));
        }).on("error", reject);
      });
      assert.equal(body, "plain");
      const ws = await connectWebSocket(`ws://127.0.0.1:${port}/ws?x=1`);
      await ws.sendText("on /ws");
      const m = await ws.recv();
      assert.equal(m?.type === "text" ? m.text : null, "on /ws");
      await ws.close();
      const err = await connectWebSocket(`ws://127.0.0.1:${port}/elsewhere`).catch((e) => e);
      assert.ok(err instanceof HandshakeError, String(err));
      assert.equal(err.status, 404);
    });
  });

  test("a path that does not match is left to the server's other 'upgrade' listener", async () => {
    const ws = loadWs();
    const other = new ws.WebSocketServer({ noServer: true });
    await withAttached(
      { path: (p) => p.startsWith("/sluice/"), handler: echoText },
      async ({ port }) => {
        try {
          const c = await connectWebSocket(`ws://127.0.0.1:${port}/other`);
          const m = await c.recv();
          assert.equal(m?.type === "text" ? m.text : null, "hello from ws");
          await c.close();
          const ours = await connectWebSocket(`ws://127.0.0.1:${port}/sluice/a`);
          await ours.sendText("ours");
          const echoed = await ours.recv();
          assert.equal(echoed?.type === "text" ? echoed.text : null, "ours");
          await ours.close();
        } finally {
          await new Promise<void>((resolve) => other.close(() => resolve()));
        }
      },
      (server) => {
        server.on("upgrade", (req, socket, head) => {
          if (req.url === "/other") {
            other.handleUpgrade(req, socket, head, (s) => s.send("hello from ws"));
          }
        });
      },
    );
  });

  test("onUpgrade sees the path, Origin and the client's address", async () => {
    let seen: UpgradeInfo | undefined;
    await withAttached({
      onUpgrade: (info) => {
        seen = info;
      },
      handler: echoText,
    }, async ({ port }) => {
      const c = await connectWebSocket(`ws://127.0.0.1:${port}/room/7?k=v`, {
        origin: "https://app.example",
      });
      await c.close();
    });
    assert.equal(seen?.request.path, "/room/7?k=v");
    assert.equal(seen?.request.origin, "https://app.example");
    assert.equal(seen?.remoteAddr.hostname.replace(/^::ffff:/, ""), "127.0.0.1");
    assert.ok((seen?.remoteAddr.port ?? 0) > 0);
  });

  test("upgrades past maxConnections are refused with 503 and Retry-After", async () => {
    await withAttached({ maxConnections: 1, handler: echoText }, async ({ port, wss }) => {
      const first = await connectWebSocket(`ws://127.0.0.1:${port}/`);
      try {
        assert.equal(wss.connections, 1);
        const err = await connectWebSocket(`ws://127.0.0.1:${port}/`).catch((e) => e);
        assert.ok(err instanceof HandshakeError, String(err));
        assert.equal(err.status, 503);
        assert.equal(err.headers?.get("retry-after"), "1");
      } finally {
        await first.close();
      }
    });
  });

  test("a handler that throws closes its connection with 1011 and reaches onError", async () => {
    const errors: unknown[] = [];
    await withAttached({
      handler: () => {
        throw new Error("handler bug");
      },
      onError: (e) => errors.push(e),
    }, async ({ port }) => {
      const c = await connectWebSocket(`ws://127.0.0.1:${port}/`);
      assert.equal(await within(c.recv(), 5_000, "recv"), null);
      assert.equal((await c.closed).code, 1011);
    });
    assert.match(String(errors[0]), /handler bug/);
  });

  test("close() closes open WebSockets with 1001 and stops taking upgrades", async () => {
    await withAttached({ handler: echoText }, async ({ port, wss }) => {
      const c = await connectWebSocket(`ws://127.0.0.1:${port}/`);
      const recv = c.recv();
      await within(wss.close(), 5_000, "wss.close");
      assert.equal(await within(recv, 5_000, "recv"), null);
      const info = await c.closed;
      assert.equal(info.code, 1001);
      assert.equal(info.initiatedBy, "remote");
      assert.equal(wss.connections, 0);
      // With no 'upgrade' listener left the request is plain HTTP to the server.
      await assert.rejects(
        connectWebSocket(`ws://127.0.0.1:${port}/`, { handshakeTimeout: 3_000 }),
      );
    });
  });

  test("bad options and hand-made requests are refused up front", async () => {
    const server = http.createServer();
    assert.throws(() => attachWebSocket(server, {} as AttachWebSocketOptions), TypeError);
    assert.throws(
      () => attachWebSocket(server, { handler: () => {}, maxConnections: 0 }),
      /maxConnections must be a positive integer: got 0/,
    );
    assert.throws(
      () => attachWebSocket(server, { handler: () => {}, path: 5 as unknown as string }),
      /path must be a string or a function: got number/,
    );
    assert.equal(server.listenerCount("upgrade"), 0);
    const socket = new net.Socket();
    const req = {
      method: "GET",
      url: "/",
      httpVersion: "1.1",
      rawHeaders: ["Host", "x\r\nX-Injected: 1"],
    };
    await assert.rejects(handleNodeUpgrade(req, socket, new Uint8Array(0)), /CR, LF/);
    assert.equal(socket.destroyed, true);
  });
});
