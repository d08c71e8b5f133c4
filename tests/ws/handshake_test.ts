/**
 * The opening handshake in both roles (RFC 6455 §4) and the server's defences:
 * refusals with a status (HandshakeError with status, headers, body start),
 * onUpgrade, malformed requests, slowloris handshakes, maxConnections, and
 * server shutdown.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HandshakeError, TimeoutError } from "../../src/core/errors.ts";
import type { UpgradeDecision, UpgradeInfo } from "../../src/server/accept.ts";
import { serveWebSocket } from "../../src/server/serve.ts";
import { connectWebSocket } from "../../src/ws/client.ts";
import {
  acceptFor,
  encodeFrame,
  MASK_KEY,
  OP,
  rawClient,
  rawTcp,
  withRawServer,
} from "../_helpers/raw_peer.ts";
import { echoClient, within, withEchoServer } from "./_conformance.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Reads a raw peer's bytes until the server ends TCP, as text. */
async function rawAnswer(port: number, request: string | Uint8Array): Promise<string> {
  const peer = await rawTcp(port);
  const chunks: Uint8Array[] = [];
  peer.socket.on("data", (d: Uint8Array) => chunks.push(new Uint8Array(d)));
  try {
    await peer.send(typeof request === "string" ? enc.encode(request) : request);
    assert.notEqual(await peer.waitPeerEnd(3000), "timeout", "the server did not close the connection");
    return chunks.map((c) => dec.decode(c)).join("");
  } finally {
    peer.destroy();
  }
}

const UPGRADE = (extra: string[] = [], first = "GET / HTTP/1.1") =>
  [
    first,
    "Host: 127.0.0.1",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    ...extra,
    "",
    "",
  ].join("\r\n");

/** Expects connectWebSocket to fail with a HandshakeError. */
async function refusal(url: string, options = {}): Promise<HandshakeError> {
  const e = await connectWebSocket(url, options).then(
    async (ws) => {
      await ws.close();
      return null;
    },
    (err: unknown) => err,
  );
  assert.ok(e instanceof HandshakeError, `expected a HandshakeError, got ${e}`);
  return e;
}

describe("ws opening handshake and server defences", () => {
  test("onUpgrade refusing with 401 gives the client a HandshakeError with the status, the headers and the body start", async () => {
    const seen: UpgradeInfo[] = [];
    const errors: unknown[] = [];
    await withEchoServer({
      onUpgrade: (info) => {
        seen.push(info);
        return { reject: { status: 401, body: "token expired", headers: { "WWW-Authenticate": "Bearer" } } };
      },
      onError: (e) => errors.push(e),
    }, async (server) => {
      const e = await refusal(`ws://127.0.0.1:${server.port}/feed?x=1`, {
        origin: "https://app.example",
        headers: { Authorization: "Bearer old" },
      });
      assert.equal(e.status, 401);
      assert.equal(e.headers?.get("www-authenticate"), "Bearer");
      assert.equal(dec.decode(e.bodyStart), "token expired");
      assert.match(e.message, /the response body starts: "token expired"/);
      assert.equal(e.retryable, false, "a 401 will not change by retrying");
      assert.equal(seen.length, 1);
      assert.equal(seen[0].request.path, "/feed?x=1");
      assert.equal(seen[0].request.origin, "https://app.example");
      assert.equal(seen[0].request.headers.get("authorization"), "Bearer old");
      assert.equal(seen[0].remoteAddr.hostname, "127.0.0.1");
      await sleep(20);
      assert.ok(
        errors.some((x) => x instanceof HandshakeError && x.code === "WS_UPGRADE_REJECTED"),
        `onError: ${errors}`,
      );
    });
  });

  test("onUpgrade throwing refuses with 500 and reports WS_UPGRADE_HANDLER to onError; the server keeps serving", async () => {
    const errors: unknown[] = [];
    let calls = 0;
    await withEchoServer({
      onUpgrade: () => {
        if (calls++ === 0) throw new Error("database down");
      },
      onError: (e) => errors.push(e),
    }, async (server) => {
      const e = await refusal(`ws://127.0.0.1:${server.port}/`);
      assert.equal(e.status, 500);
      assert.ok(errors.some((x) => x instanceof HandshakeError && x.code === "WS_UPGRADE_HANDLER"));
      const { ws, done } = await echoClient(`ws://127.0.0.1:${server.port}/`);
      await ws.close();
      await done;
    });
  });

  test("an invalid refusal from onUpgrade (status 302, a header with CRLF) answers 500 and reports the RangeError/TypeError to onError", async () => {
    const errors: unknown[] = [];
    const decisions: UpgradeDecision[] = [
      { reject: { status: 302, headers: { Location: "/elsewhere" } } },
      { reject: { status: 403, headers: { "X-Bad": "a\r\nSet-Cookie: x=1" } } },
    ];
    await withEchoServer({
      onUpgrade: () => decisions.shift(),
      onError: (e) => errors.push(e),
    }, async (server) => {
      for (const kind of [RangeError, TypeError]) {
        const e = await refusal(`ws://127.0.0.1:${server.port}/`);
        assert.equal(e.status, 500);
        assert.equal(e.headers?.get("set-cookie"), null);
        await sleep(20);
        assert.ok(errors.shift() instanceof kind, `onError got ${errors}`);
      }
    });
  });

  test("onUpgrade selecting a subprotocol: both sides report it and the 101 carries it", async () => {
    await withEchoServer({
      onUpgrade: ({ request }) => ({ protocol: request.protocols.includes("v2") ? "v2" : undefined }),
    }, async (server) => {
      const ws = await connectWebSocket(`ws://127.0.0.1:${server.port}/`, { protocols: ["v1", "v2"] });
      const accepted = await server.next();
      assert.equal(ws.protocol, "v2");
      assert.equal(accepted.protocol, "v2");
      await ws.close();
      const peer = await rawClient(server.port, { headers: ["Sec-WebSocket-Protocol: v3, v2"] });
      assert.equal(peer.response.headers.get("sec-websocket-protocol"), "v2");
      peer.destroy();
    });
  });

  test("malformed upgrade requests are answered with their status and closed: 405, 400, 426 with Sec-WebSocket-Version, 431", async () => {
    await withEchoServer({ maxHeaderBytes: 4096 }, async (server) => {
      const cases: [string, string, RegExp?][] = [
        ["POST", UPGRADE([], "POST / HTTP/1.1"), /^allow: GET$/im],
        ["missing key", UPGRADE().replace(/Sec-WebSocket-Key: .*\r\n/, ""), undefined],
        ["bad key", UPGRADE().replace(/Sec-WebSocket-Key: .*\r\n/, "Sec-WebSocket-Key: abc\r\n"), undefined],
        ["version 8", UPGRADE().replace("Version: 13", "Version: 8"), /^sec-websocket-version: 13$/im],
        ["plain GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", /^upgrade: websocket$/im],
        ["HTTP/1.0", UPGRADE([], "GET / HTTP/1.0"), undefined],
        ["garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", undefined],
        ["huge head", UPGRADE([`X-Filler: ${"a".repeat(5000)}`]), undefined],
      ];
      const statuses: Record<string, number> = {
        "POST": 405,
        "missing key": 400,
        "bad key": 400,
        "version 8": 426,
        "plain GET": 426,
        "HTTP/1.0": 400,
        "garbage": 400,
        "huge head": 431,
      };
      for (const [name, request, header] of cases) {
        const answer = await rawAnswer(server.port, request);
        const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1]);
        assert.equal(status, statuses[name], `${name}: ${JSON.stringify(answer.slice(0, 80))}`);
        if (header) assert.match(answer, header, name);
      }
      // Still serving.
      const peer = await rawClient(server.port);
      peer.destroy();
    });
  });

  test("frames pipelined in the same write as the upgrade request are read as the first frames", async () => {
    await withEchoServer({}, async (server) => {
      const early = encodeFrame({ opcode: OP.text, payload: "early bird" }, MASK_KEY);
      const peer = await rawClient(server.port, { early });
      try {
        const f = await peer.nextFrame();
        assert.equal(f && dec.decode(f.payload), "early bird");
      } finally {
        peer.destroy();
      }
    });
  });

  test("a slowloris client trickling its request is cut off after handshakeTimeout with a TimeoutError to onError", async () => {
    const errors: unknown[] = [];
    await withEchoServer({ handshakeTimeout: 300, onError: (e) => errors.push(e) }, async (server) => {
      const peer = await rawTcp(server.port);
      try {
        const started = performance.now();
        const request = enc.encode(UPGRADE([`X-Slow: ${"s".repeat(200)}`]));
        let sent = 0;
        // One byte every 20 ms: it would take seconds; the server must not wait that long.
        while (!peer.peerEnded && sent < request.length && performance.now() - started < 3000) {
          await peer.send(request.subarray(sent, sent + 1));
          sent++;
          await sleep(20);
        }
        assert.ok(peer.peerEnded, "the server kept the slow connection open");
        const elapsed = performance.now() - started;
        assert.ok(elapsed >= 250 && elapsed < 2500, `cut off after ${elapsed} ms`);
        await sleep(20);
        assert.ok(
          errors.some((e) => e instanceof TimeoutError && e.code === "HANDSHAKE_TIMEOUT"),
          `onError: ${errors}`,
        );
      } finally {
        peer.destroy();
      }
    });
  });

  test("past maxConnections the server refuses with 503 and Retry-After, counting handshaking connections; a freed slot is reused", async () => {
    await withEchoServer({ maxConnections: 2 }, async (server) => {
      const url = `ws://127.0.0.1:${server.port}/`;
      const a = await echoClient(url);
      const idle = await rawTcp(server.port); // handshaking, not finished: counts too
      await sleep(50);
      for (let i = 0; i < 3; i++) {
        const e = await refusal(url);
        assert.equal(e.status, 503, `attempt ${i}`);
        assert.equal(e.headers?.get("retry-after"), "1");
        assert.equal(dec.decode(e.bodyStart), "too many connections");
        assert.match(e.message, /"too many connections"/);
        assert.equal(e.retryable, true, "a 503 may go away");
      }
      idle.destroy();
      await sleep(100);
      const b = await echoClient(url);
      await Promise.all([a.ws.close(), b.ws.close()]);
      await Promise.all([a.done, b.done]);
    });
  });

  test("server.close() closes open connections with 1001, resolves, and refuses new connections", async () => {
    const server = await serveWebSocket({
      port: 0,
      handler: async (ws) => {
        for await (const _ of ws) { /* hold */ }
      },
    });
    const url = `ws://127.0.0.1:${server.addr.port}/`;
    const { ws, done } = await echoClient(url);
    assert.equal(server.connections, 1);
    await within(server.close(), 5000, "server.close()");
    const info = await within(ws.closed, 3000, "client closed");
    assert.deepEqual(
      { code: info.code, reason: info.reason, wasClean: info.wasClean, initiatedBy: info.initiatedBy },
      { code: 1001, reason: "server shutting down", wasClean: true, initiatedBy: "remote" },
    );
    await done;
    await within(server.finished, 1000, "finished");
    await assert.rejects(connectWebSocket(url, { connectTimeout: 2000 }));
  });

  test("server.close() drops connections still in the opening handshake at once instead of waiting out handshakeTimeout", async () => {
    const errors: unknown[] = [];
    const server = await serveWebSocket({
      port: 0,
      handshakeTimeout: 20_000,
      onError: (e) => errors.push(e),
      handler: async (ws) => {
        for await (const _ of ws) { /* hold */ }
      },
    });
    const silent = await rawTcp(server.addr.port);
    const halfway = await rawTcp(server.addr.port);
    try {
      await halfway.send(enc.encode(UPGRADE().slice(0, 40)));
      await sleep(50);
      assert.equal(server.connections, 2);
      const started = performance.now();
      await within(server.close(), 3000, "server.close()");
      assert.ok(performance.now() - started < 3000);
      assert.notEqual(await silent.waitPeerEnd(), "timeout");
      assert.notEqual(await halfway.waitPeerEnd(), "timeout");
      assert.equal(server.connections, 0);
      assert.deepEqual(errors, [], "handshakes cut by close() are not reported");
    } finally {
      silent.destroy();
      halfway.destroy();
    }
  });

  test("a handler that throws closes its connection with 1011 and reports the error to onError", async () => {
    const errors: unknown[] = [];
    const server = await serveWebSocket({
      port: 0,
      onError: (e) => errors.push(e),
      handler: async (ws) => {
        await ws.recv();
        throw new Error("handler bug");
      },
    });
    try {
      const ws = await connectWebSocket(`ws://127.0.0.1:${server.addr.port}/`);
      await ws.sendText("trigger");
      assert.equal(await within(ws.recv(), 3000, "recv"), null);
      const info = await ws.closed;
      assert.equal(info.code, 1011);
      assert.ok(errors.some((e) => e instanceof Error && e.message === "handler bug"));
    } finally {
      await server.close();
    }
  });

  // ------------------------------------------------------------ client side

  test("client: a refusal with a body gives HandshakeError with status, headers and the first body bytes", async () => {
    await withRawServer(async (server) => {
      const body = "x".repeat(3000);
      const pending = refusal(server.url);
      const peer = await server.accept({
        respond: enc.encode(
          `HTTP/1.1 403 Forbidden\r\nX-Reason: origin\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        ),
      });
      peer.end();
      const e = await pending;
      assert.equal(e.status, 403);
      assert.equal(e.headers?.get("x-reason"), "origin");
      assert.equal(e.bodyStart?.length, 1024, "the body start is capped at 1 KiB");
    });
  });

  test("client: a 101 with a wrong Sec-WebSocket-Accept, or a subprotocol never offered, is a HandshakeError", async () => {
    await withRawServer(async (server) => {
      const pending = refusal(server.url);
      await server.accept({
        respond: enc.encode(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        ),
      });
      const e = await pending;
      assert.equal(e.status, 101);
    });
    await withRawServer(async (server) => {
      const pending = connectWebSocket(server.url, { protocols: ["a"] }).then(() => null, (e) => e);
      const peer = await server.accept({ respond: "none" });
      const key = peer.request.headers.get("sec-websocket-key")!;
      await peer.send(enc.encode(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${acceptFor(key)}\r\nSec-WebSocket-Protocol: b\r\n\r\n`,
      ));
      assert.ok((await pending) instanceof HandshakeError);
    });
  });

  test("client: the request is a valid RFC 6455 §4.1 upgrade and frames sent right behind the 101 are received", async () => {
    await withRawServer(async (server) => {
      const connecting = connectWebSocket(server.url.replace(/\/$/, "/chat?room=1"), {
        protocols: ["p1", "p2"],
        origin: "https://o.example",
      });
      const peer = await server.accept({ early: encodeFrame({ opcode: OP.text, payload: "welcome" }, null) });
      const ws = await connecting;
      try {
        const { startLine, headers } = peer.request;
        assert.equal(startLine, "GET /chat?room=1 HTTP/1.1");
        assert.equal(headers.get("upgrade")?.toLowerCase(), "websocket");
        assert.match(headers.get("connection") ?? "", /upgrade/i);
        assert.equal(headers.get("sec-websocket-version"), "13");
        assert.equal(headers.get("host"), `127.0.0.1:${server.port}`);
        assert.equal(headers.get("origin"), "https://o.example");
        assert.equal(headers.get("sec-websocket-protocol"), "p1, p2");
        assert.equal(atob(headers.get("sec-websocket-key")!).length, 16);
        const msg = await within(ws.recv(), 3000, "recv");
        assert.equal(msg?.type === "text" && msg.text, "welcome");
      } finally {
        peer.destroy();
        await ws.close().catch(() => {});
      }
    });
  });

  test("client: handshakeTimeout against a server that never answers rejects with TimeoutError HANDSHAKE_TIMEOUT", async () => {
    await withRawServer(async (server) => {
      const started = performance.now();
      const pending = connectWebSocket(server.url, { handshakeTimeout: 200 }).then(() => null, (e) => e);
      const peer = await server.accept({ respond: "none" });
      const e = await within(pending, 3000, "connectWebSocket");
      assert.ok(e instanceof TimeoutError, String(e));
      assert.equal(e.code, "HANDSHAKE_TIMEOUT");
      assert.ok(performance.now() - started >= 150);
      assert.notEqual(await peer.waitPeerEnd(), "timeout", "the client closed the socket");
    });
  });

  test("client: aborting the signal during the handshake rejects with the signal's reason and closes the socket", async () => {
    await withRawServer(async (server) => {
      const controller = new AbortController();
      const pending = connectWebSocket(server.url, { signal: controller.signal }).then(() => null, (e) => e);
      const peer = await server.accept({ respond: "none" });
      const reason = new Error("user gave up");
      controller.abort(reason);
      assert.equal(await within(pending, 3000, "connectWebSocket"), reason);
      assert.notEqual(await peer.waitPeerEnd(), "timeout");
    });
  });

  test("client: a server closing before answering gives ConnectionClosed WS_HANDSHAKE_EOF", async () => {
    await withRawServer(async (server) => {
      const pending = connectWebSocket(server.url).then(() => null, (e) => e);
      const peer = await server.accept({ respond: "none" });
      peer.end();
      const e = await within(pending, 3000, "connectWebSocket") as { code?: string };
      assert.equal(e?.code, "WS_HANDSHAKE_EOF");
    });
  });
});
