import { describe, test } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { ConnectionClosed, HandshakeError, TlsError } from "../../src/core/errors.ts";
import { buildRejectResponse } from "../../src/core/ws/handshake.ts";
import { acceptWebSocket } from "../../src/server/accept.ts";
import { attachWebSocket } from "../../src/server/node_http.ts";
import { serveWebSocket } from "../../src/server/serve.ts";
import { listen } from "../../src/transports/detect.ts";
import { nodeTransport } from "../../src/transports/node.ts";
import { wrapUpgradeSocket } from "../../src/transports/node_upgrade.ts";
import type { ClientTlsOptions, Connection, ServerTlsOptions } from "../../src/transports/types.ts";
import { connectWebSocket } from "../../src/ws/client.ts";
import type { WebSocketConnection } from "../../src/ws/types.ts";
import { getTestCerts } from "../_helpers/certs.ts";
import { pattern } from "../_helpers/net.ts";
import {
  idOf,
  loadUndici,
  loadWs,
  nextId,
  openClient,
  PROTOCOL,
  Recorder,
  runtime,
  sameBytes,
  type SeenClose,
  type WhatwgSocket,
  within,
  wsEcho,
} from "./_interop.ts";

async function echo(ws: WebSocketConnection): Promise<void> {
  for await (const m of ws) {
    if (m.type === "text") await ws.sendText(m.text);
    else if (m.type === "binary") await ws.sendBinary(m.data);
  }
}

/** Runs `fn` against a sluice wss:// echo server, then stops it. */
async function withWss(tls: ServerTlsOptions, fn: (port: number) => Promise<void>): Promise<void> {
  const server = await serveWebSocket({ port: 0, tls, handler: echo, closeTimeout: 2_000 });
  try {
    await fn(server.addr.port);
  } finally {
    await within(server.close(), 10_000, "server.close");
  }
}

/** A round trip of a text and a 256 KiB binary message over our client. */
async function roundTrip(
  url: string,
  tls: ClientTlsOptions,
  protocols?: string[],
): Promise<string> {
  const ws = await connectWebSocket(url, {
    tls,
    protocols,
    connectTimeout: 5_000,
    handshakeTimeout: 5_000,
  });
  try {
    await ws.sendText("over TLS");
    const t = await within(ws.recv(), 5_000, "text echo");
    assert.equal(t?.type === "text" ? t.text : t?.type, "over TLS");
    const b = pattern(256 * 1024, 5);
    await ws.sendBinary(b);
    const r = await within(ws.recv(), 5_000, "binary echo");
    assert.ok(sameBytes(r?.type === "binary" ? r.data : null, b), "binary echo over TLS differs");
    return ws.protocol;
  } finally {
    const info = await ws.close(1000, "done");
    assert.equal(info.wasClean, true);
  }
}

/** The error `connectWebSocket` fails with (the test fails if it connects). */
async function failure(url: string, tls: ClientTlsOptions): Promise<unknown> {
  return await connectWebSocket(url, { tls, connectTimeout: 5_000, handshakeTimeout: 5_000 }).then(
    async (ws) => {
      await ws.close();
      assert.fail(`connecting to ${url} should have failed`);
    },
    (e: unknown) => e,
  );
}

/**
 * Accepts one connection on a TLS listener, hands its SNI name to `seen`,
 * and runs the WebSocket handshake and echo on it. Deno's native listener
 * does not report SNI (see transports/mod.ts), so Deno uses the node:tls one.
 */
async function withSniServer(
  tls: ServerTlsOptions,
  fn: (port: number, seen: Promise<Connection>) => Promise<void>,
): Promise<void> {
  const listener = await listen({
    port: 0,
    tls,
    transport: runtime() === "deno" ? nodeTransport : undefined,
  });
  const seen = listener.accept().then((conn) => {
    if (!conn) throw new Error("listener closed before a connection arrived");
    acceptWebSocket(conn).then(echo).catch(() => {});
    return conn;
  });
  seen.catch(() => {});
  try {
    await fn(listener.addr.port, seen);
  } finally {
    await listener.close();
    (await seen.catch(() => null))?.close();
  }
}

describe("wss: TLS end to end with certificates made at test time", () => {
  test("wss:// to a plain ws:// server says \"did not answer TLS: is it ws://?\" first, the TLS library's text kept as the cause", async () => {
    const server = await serveWebSocket({ port: 0, handler: () => {} });
    try {
      const err = await connectWebSocket(`wss://127.0.0.1:${server.addr.port}/`)
        .then((ws) => (ws.abort(), new Error("connected")), (e: unknown) => e);
      assert.ok(err instanceof TlsError, `${err}`);
      assert.equal(err.code, "TLS_NOT_TLS");
      assert.match(err.message, /did not answer TLS: is it ws:\/\//);
      assert.ok(err.cause instanceof Error);
    } finally {
      await server.close();
    }
  });

  test("wss://localhost with the test CA in tls.caCerts: text and binary round trip", async () => {
    const pki = await getTestCerts();
    await withWss({ cert: pki.serverCert, key: pki.serverKey }, async (port) => {
      await roundTrip(`wss://localhost:${port}/`, { caCerts: [pki.caCert] });
    });
  });

  test("a server certificate from an unknown CA is rejected with TlsError TLS_CERT_UNTRUSTED", async () => {
    const pki = await getTestCerts();
    await withWss({ cert: pki.otherServerCert, key: pki.otherServerKey }, async (port) => {
      for (const tls of [{ caCerts: [pki.caCert] }, {}]) {
        const err = await failure(`wss://localhost:${port}/`, tls);
        assert.ok(err instanceof TlsError, `expected a TlsError, got ${String(err)}`);
        assert.equal(err.code, "TLS_CERT_UNTRUSTED");
        assert.ok(err.cause !== undefined, "the runtime's own error is kept as the cause");
      }
    });
  });

  test("a name the certificate does not list is rejected with TlsError TLS_HOSTNAME_MISMATCH", async () => {
    const pki = await getTestCerts();
    await withWss({ cert: pki.serverCert, key: pki.serverKey }, async (port) => {
      const err = await failure(`wss://localhost:${port}/`, {
        caCerts: [pki.caCert],
        serverName: "not-localhost.test",
      });
      assert.ok(err instanceof TlsError, `expected a TlsError, got ${String(err)}`);
      assert.equal(err.code, "TLS_HOSTNAME_MISMATCH");
    });
  });

  test("mutual TLS: a client certificate from the required CA is accepted", async () => {
    const pki = await getTestCerts();
    const tls = {
      cert: pki.serverCert,
      key: pki.serverKey,
      caCerts: [pki.caCert],
      requireClientCert: true,
    };
    await withWss(tls, async (port) => {
      await roundTrip(`wss://localhost:${port}/`, {
        caCerts: [pki.caCert],
        cert: pki.clientCert,
        key: pki.clientKey,
      });
    });
  });

  test("mutual TLS: no client certificate fails with TLS_CLIENT_CERT_REQUIRED; one from another CA fails too", async () => {
    const pki = await getTestCerts();
    const tls = {
      cert: pki.serverCert,
      key: pki.serverKey,
      caCerts: [pki.caCert],
      requireClientCert: true,
    };
    await withWss(tls, async (port) => {
      const missing = await failure(`wss://localhost:${port}/`, { caCerts: [pki.caCert] });
      assert.ok(missing instanceof TlsError, `expected a TlsError, got ${String(missing)}`);
      assert.equal(missing.code, "TLS_CLIENT_CERT_REQUIRED");
      // TLS 1.3 finishes the client's handshake before the server checks the
      // certificate; a server that then just drops the connection (node:tls
      // does, without an alert) is seen as a closed connection.
      const other = await failure(`wss://localhost:${port}/`, {
        caCerts: [pki.caCert],
        cert: pki.otherClientCert,
        key: pki.otherClientKey,
      });
      assert.ok(
        other instanceof TlsError || other instanceof ConnectionClosed,
        `expected a TlsError or ConnectionClosed, got ${String(other)}`,
      );
    });
  });

  test("SNI: wss://localhost sends server name localhost; wss://127.0.0.1 sends none (RFC 6066 §3)", async () => {
    const pki = await getTestCerts();
    const tls = { cert: pki.serverCert, key: pki.serverKey };
    await withSniServer(tls, async (port, seen) => {
      await roundTrip(`wss://localhost:${port}/`, { caCerts: [pki.caCert] });
      assert.equal((await seen).serverName, "localhost");
    });
    await withSniServer(tls, async (port, seen) => {
      // The certificate lists IP 127.0.0.1, so verification passes without a name.
      await roundTrip(`wss://127.0.0.1:${port}/`, { caCerts: [pki.caCert] });
      assert.equal((await seen).serverName, undefined);
    });
  });

  test("our wss client against the real ws server on node:https: echo, subprotocol, close codes", async () => {
    const pki = await getTestCerts();
    const ws = loadWs();
    const closes = new Recorder<SeenClose>();
    const server = https.createServer({ cert: pki.serverCert, key: pki.serverKey });
    const wss = new ws.WebSocketServer({
      server,
      handleProtocols: (offered) => (offered.has(PROTOCOL) ? PROTOCOL : false),
    });
    wss.on("connection", (s, req) => wsEcho(s, idOf(req.url ?? "/"), closes));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const protocol = await roundTrip(`wss://localhost:${port}/?id=${nextId()}`, {
        caCerts: [pki.caCert],
      }, [
        "chat.v1",
        PROTOCOL,
      ]);
      assert.equal(protocol, PROTOCOL);
      const id = nextId();
      const c = await connectWebSocket(`wss://localhost:${port}/?id=${id}`, {
        tls: { caCerts: [pki.caCert] },
      });
      const info = await c.close(4000, "client bye");
      assert.equal(info.code, 4000);
      assert.deepEqual(await closes.get(id), { code: 4000, reason: "client bye" });
      const s = await connectWebSocket(`wss://localhost:${port}/?id=${nextId()}`, {
        tls: { caCerts: [pki.caCert] },
      });
      await s.sendText("close:4001:server bye");
      assert.equal(await within(s.recv(), 5_000, "recv"), null);
      const closed = await s.closed;
      assert.deepEqual([closed.code, closed.reason, closed.wasClean], [4001, "server bye", true]);
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("wrapUpgradeSocket on node:https reports the SNI name and the verified client certificate", async () => {
    const pki = await getTestCerts();
    const server = https.createServer({
      cert: pki.serverCert,
      key: pki.serverKey,
      ca: [pki.caCert],
      requestCert: true,
      rejectUnauthorized: false,
    });
    const sockets = new Set<Socket>();
    server.on("secureConnection", (s: TLSSocket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    const conns: Connection[] = [];
    server.on("upgrade", (req, socket, head) => {
      const conn = wrapUpgradeSocket(socket, { initial: head });
      conns.push(conn);
      // Answer with a refusal, so the client's handshake ends at once.
      const writer = conn.writable.getWriter();
      void writer.write(buildRejectResponse(403, { body: `${req.url}` })).then(() => conn.close());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      for (const client of [{ cert: pki.clientCert, key: pki.clientKey }, {}]) {
        const err = await failure(`wss://localhost:${port}/x`, {
          caCerts: [pki.caCert],
          ...client,
        });
        assert.ok(err instanceof HandshakeError && err.status === 403, String(err));
      }
      assert.deepEqual(conns.map((c) => c.serverName), ["localhost", "localhost"]);
      assert.equal(conns[0].peerCertificateAuthorized, true);
      // Asked for, none presented: false where the socket tells that the
      // server asked (Node, Deno), unknown (undefined) on Bun's node:https.
      assert.notEqual(conns[1].peerCertificateAuthorized, true);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("attachWebSocket on node:https: our wss client round trips; the upgraded socket saw SNI localhost", async () => {
    const pki = await getTestCerts();
    const server = https.createServer({ cert: pki.serverCert, key: pki.serverKey });
    const sockets = new Set<Socket>();
    server.on("secureConnection", (s: TLSSocket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    const names: (string | false | null | undefined)[] = [];
    server.on("upgrade", (req) => names.push((req.socket as TLSSocket).servername));
    const attached = attachWebSocket(server, { handler: echo });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      await roundTrip(`wss://localhost:${port}/`, { caCerts: [pki.caCert] });
      assert.deepEqual(names, ["localhost"]);
    } finally {
      await attached.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("the ws client and undici's WebSocket trust our wss server through their own CA options", async () => {
    const pki = await getTestCerts();
    const ws = loadWs();
    const undici = loadUndici();
    const agent = new undici.Agent({ connect: { ca: pki.caCert } });
    const Undici = undici.WebSocket as unknown as new (url: string, init: object) => WhatwgSocket;
    try {
      await withWss({ cert: pki.serverCert, key: pki.serverKey }, async (port) => {
        const url = `wss://localhost:${port}/`;
        const makers: [string, (u: string) => WhatwgSocket][] = [
          ["ws", (u) => new ws(u, [], { ca: pki.caCert })],
          ["undici", (u) => new Undici(u, { dispatcher: agent })],
        ];
        for (const [name, make] of makers) {
          const d = await openClient(make, url);
          d.socket.send(`hello from ${name}`);
          assert.equal(await d.next(), `hello from ${name}`);
          d.socket.close(4000, "bye");
          assert.equal((await within(d.closed, 5_000, "close")).code, 4000);
        }
      });
    } finally {
      await agent.close();
    }
  });

  const Native =
    (globalThis as { WebSocket?: new (url: string, o?: object) => WhatwgSocket }).WebSocket;
  if (runtime() !== "bun" || !Native) {
    // Deno's WebSocket takes no TLS options (Deno.createHttpClient is for
    // fetch only; custom roots need --cert/DENO_CERT at process start), and
    // Node 20 has no global WebSocket: the ws and undici cases cover those.
    console.log(
      `wss: SKIPPED native WebSocket with a custom CA on ${runtime()}: no in-process way to pass one`,
    );
    return;
  }
  test("Bun's native WebSocket trusts our wss server through its tls.ca option, and refuses it without", async () => {
    const pki = await getTestCerts();
    await withWss({ cert: pki.serverCert, key: pki.serverKey }, async (port) => {
      // Bun's WebSocket takes a `tls` object like Bun.connect's.
      const trusted = await openClient(
        (u) => new Native(u, { tls: { ca: pki.caCert } }),
        `wss://localhost:${port}/`,
      );
      trusted.socket.send("hello from Bun");
      assert.equal(await trusted.next(), "hello from Bun");
      trusted.socket.close(1000);
      await within(trusted.closed, 5_000, "close");
      await assert.rejects(
        openClient((u) => new Native(u), `wss://localhost:${port}/`),
        /closed before opening/,
        "without the CA the handshake must fail",
      );
    });
  });
});
