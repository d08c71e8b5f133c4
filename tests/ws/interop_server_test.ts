import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { HandshakeError } from "../../src/core/errors.ts";
import type { AcceptedWebSocket, UpgradeDecision, UpgradeInfo } from "../../src/server/accept.ts";
import { attachWebSocket } from "../../src/server/node_http.ts";
import { serveWebSocket } from "../../src/server/serve.ts";
import type { CloseInfo } from "../../src/ws/types.ts";
import { pattern } from "../_helpers/net.ts";
import {
  closeCommand,
  Driver,
  idOf,
  loadUndici,
  loadWs,
  nextId,
  openClient,
  PROTOCOL,
  Recorder,
  REFUSAL,
  refusalOf,
  runtime,
  sameBytes,
  type WhatwgSocket,
  within,
  type WsIncoming,
} from "./_interop.ts";

/** Our servers' message limit: above the 1 MiB echo, below the oversized message. */
const MAX_MESSAGE = 2 << 20;

/** One of our servers, speaking the echo protocol of `_interop.ts`. */
interface OurServer {
  /** `ws://127.0.0.1:PORT`. */
  readonly base: string;
  /** How each connection ended, as the server saw it, by id. */
  readonly closes: Recorder<CloseInfo>;
  /** The subprotocols each upgrade request offered, by id. */
  readonly offered: Recorder<readonly string[]>;
  /** Handshake and handler failures (`onError`). */
  readonly errors: unknown[];
  stop(): Promise<void>;
}

interface Hooks {
  closes: Recorder<CloseInfo>;
  offered: Recorder<readonly string[]>;
  errors: unknown[];
}

function hooks(): Hooks {
  return { closes: new Recorder(), offered: new Recorder(), errors: [] };
}

function onUpgrade(h: Hooks) {
  return ({ request }: UpgradeInfo): UpgradeDecision | void => {
    const status = refusalOf(request.path);
    if (status !== null) {
      return { reject: { status, body: REFUSAL[status].body, headers: REFUSAL[status].headers } };
    }
    h.offered.record(idOf(request.path), request.protocols);
    if (request.protocols.includes(PROTOCOL)) return { protocol: PROTOCOL };
  };
}

async function echo(ws: AcceptedWebSocket, h: Hooks): Promise<void> {
  const id = idOf(ws.request.path);
  void ws.closed.then((info) => h.closes.record(id, info));
  for await (const m of ws) {
    if (m.type === "binary") {
      await ws.sendBinary(m.data);
      continue;
    }
    if (m.type !== "text") continue;
    const cmd = closeCommand(m.text);
    if (cmd) {
      await ws.close(cmd.code, cmd.reason);
      return;
    }
    if (m.text === "ping-me") {
      // Not awaited here: the pong is read by this very loop.
      ws.ping(new Uint8Array([7, 7])).then((rtt) => ws.sendText(`rtt:${rtt}`)).catch(() => {});
      continue;
    }
    await ws.sendText(m.text);
  }
}

async function served(): Promise<OurServer> {
  const h = hooks();
  const server = await serveWebSocket({
    port: 0,
    onUpgrade: onUpgrade(h),
    handler: (ws) => echo(ws, h),
    onError: (e) => h.errors.push(e),
    closeTimeout: 2_000,
    maxMessageSize: MAX_MESSAGE,
  });
  return { ...h, base: `ws://127.0.0.1:${server.addr.port}`, stop: () => server.close() };
}

async function attached(): Promise<OurServer> {
  const h = hooks();
  const server = http.createServer((_req, res) => res.end("plain HTTP still works"));
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const wss = attachWebSocket(server, {
    onUpgrade: onUpgrade(h),
    handler: (ws) => echo(ws, h),
    onError: (e) => h.errors.push(e),
    closeTimeout: 2_000,
    maxMessageSize: MAX_MESSAGE,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    ...h,
    base: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: async () => {
      await wss.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function withServer(
  make: () => Promise<OurServer>,
  fn: (s: OurServer) => Promise<void>,
): Promise<void> {
  const s = await make();
  try {
    await fn(s);
  } finally {
    await within(s.stop(), 10_000, "stopping our server");
  }
}

type MakeClient = (url: string, protocols?: string[]) => WhatwgSocket;

async function withDriver(
  make: MakeClient,
  url: string,
  fn: (d: Driver) => Promise<void>,
  protocols?: string[],
): Promise<void> {
  const d = await openClient(make, url, protocols);
  try {
    await fn(d);
  } finally {
    if (d.socket.readyState < 2) d.socket.close();
    await within(d.closed, 5_000, "client close").catch(() => {});
  }
}

function serverCases(
  label: string,
  makeServer: () => Promise<OurServer>,
  kind: ClientKind,
): void {
  const client = kind.make;
  test(`${label}: text (UTF-8, empty, 70 kB) and binary (empty to 1 MiB) come back byte-exact`, async () => {
    await withServer(
      makeServer,
      (s) =>
        withDriver(client, `${s.base}/echo?id=${nextId()}`, async (d) => {
          for (const t of ["", "hello", "héllo wörld ✓ 🚀 日本語", "y".repeat(70_000)]) {
            d.socket.send(t);
            assert.equal(await d.next(), t);
          }
          for (const [i, n] of [0, 1, 125, 126, 65_536, 1 << 20].entries()) {
            const b = pattern(n, i + 11);
            d.socket.send(b);
            assert.ok(sameBytes(await d.next(), b), `binary echo of ${n} bytes differs`);
          }
        }),
    );
  });

  test(`${label}: the subprotocol our server picks is the client's protocol; the offer arrives in order`, async () => {
    await withServer(makeServer, async (s) => {
      const id = nextId();
      await withDriver(client, `${s.base}/echo?id=${id}`, async (d) => {
        assert.equal(d.socket.protocol, PROTOCOL);
        assert.deepEqual([...await s.offered.get(id)], ["chat.v1", PROTOCOL]);
      }, ["chat.v1", PROTOCOL]);
      await withDriver(
        client,
        `${s.base}/echo?id=${nextId()}`,
        (d) => Promise.resolve(assert.equal(d.socket.protocol, "")),
      );
    });
  });

  test(`${label}: our server's ping() gets its round-trip time from the client's automatic pong`, async () => {
    await withServer(
      makeServer,
      (s) =>
        withDriver(client, `${s.base}/echo?id=${nextId()}`, async (d) => {
          d.socket.send("ping-me");
          const reply = await d.next();
          assert.match(String(reply), /^rtt:\d+(\.\d+)?(e-?\d+)?$/);
        }),
    );
  });

  test(`${label}: the client's close(4000, UTF-8 reason) reaches our server, which echoes the code`, async () => {
    await withServer(makeServer, async (s) => {
      const id = nextId();
      const d = await openClient(client, `${s.base}/echo?id=${id}`);
      d.socket.close(4000, "client bye ✓");
      const seen = await s.closes.get(id);
      assert.deepEqual(
        { code: seen.code, reason: seen.reason, wasClean: seen.wasClean, by: seen.initiatedBy },
        { code: 4000, reason: "client bye ✓", wasClean: true, by: "remote" },
      );
      const closed = await within(d.closed, 5_000, "client close event");
      assert.equal(closed.code, 4000);
      assert.equal(closed.wasClean, true);
    });
  });

  test(`${label}: our server's close(4001, UTF-8 reason) reaches the client with code and reason`, async () => {
    await withServer(makeServer, async (s) => {
      const id = nextId();
      const d = await openClient(client, `${s.base}/echo?id=${id}`);
      d.socket.send("close:4001:server bye — ✓");
      assert.deepEqual(await within(d.closed, 5_000, "client close event"), {
        code: 4001,
        reason: "server bye — ✓",
        wasClean: true,
      });
      const seen = await s.closes.get(id);
      assert.equal(seen.initiatedBy, "local");
      assert.equal(seen.wasClean, true);
      assert.equal(seen.code, 4001, "the client echoes the code");
    });
  });

  test(`${label}: a message over maxMessageSize closes the connection with 1009 (RFC 6455 §7.4.1)`, async () => {
    await withServer(makeServer, async (s) => {
      const id = nextId();
      const d = await openClient(client, `${s.base}/echo?id=${id}`);
      d.socket.send(new Uint8Array(MAX_MESSAGE + 1));
      const closed = await within(d.closed, 10_000, "client close event");
      // The client's view is only checked for consistency: our server closes
      // TCP right after its close frame while the client may still be
      // sending, and a reset can then swallow the frame (Deno's client always
      // loses it, chromium sometimes): see the interop report.
      assert.ok(closed.code === 1009 || !closed.wasClean, `client saw ${JSON.stringify(closed)}`);
      const seen = await s.closes.get(id);
      assert.deepEqual([seen.code, seen.initiatedBy], [1009, "local"]);
    });
  });

  test(`${label}: an upgrade refused with 401 fails the client (1006) and reaches onError`, async () => {
    await withServer(makeServer, async (s) => {
      const d = new Driver(client(`${s.base}/refuse/401`));
      await assert.rejects(within(d.opened, 5_000, "open"), /closed before opening/);
      const closed = await within(d.closed, 5_000, "close event");
      assert.equal(
        closed.code,
        kind.failedCode,
        "a failed connection closes with 1006 (RFC 6455 §7.1.5)",
      );
      assert.equal(closed.wasClean, false);
      const err = s.errors.find((e) => e instanceof HandshakeError);
      assert.ok(err instanceof HandshakeError, `onError saw ${s.errors.map(String).join("; ")}`);
      assert.equal(err.status, 401);
    });
  });
}

/** The refusal as `ws` reports it: status, headers and body of the HTTP response. */
async function wsRefusal(url: string): Promise<{ status?: number; header?: string; body: string }> {
  const ws = loadWs();
  const c = new ws(url);
  c.on("error", () => {});
  const res = await within(
    new Promise<WsIncoming>((resolve) => c.on("unexpected-response", (_req, r) => resolve(r))),
    5_000,
    "unexpected-response",
  );
  const chunks: Uint8Array[] = [];
  await within(
    new Promise<void>((resolve) => {
      res.on("data", (b) => chunks.push(b));
      res.on("end", resolve);
    }),
    5_000,
    "refusal body",
  );
  const header = res.headers["www-authenticate"];
  return {
    status: res.statusCode,
    header: Array.isArray(header) ? header[0] : header,
    body: Buffer.concat(chunks).toString(),
  };
}

function wsOnlyCases(label: string, makeServer: () => Promise<OurServer>): void {
  const ws = loadWs();
  test(`${label}: ws's ping gets a pong with the same payload (RFC 6455 §5.5.3)`, async () => {
    await withServer(makeServer, async (s) => {
      const c = new ws(`${s.base}/echo?id=${nextId()}`);
      try {
        await within(
          new Promise<void>((resolve, reject) => {
            c.addEventListener("open", () => resolve());
            c.on("error", reject);
          }),
          5_000,
          "open",
        );
        const pong = new Promise<Uint8Array>((resolve) => c.on("pong", resolve));
        c.ping(new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
        assert.deepEqual([...await within(pong, 5_000, "pong")], [0xde, 0xad, 0xbe, 0xef]);
      } finally {
        c.close();
      }
    });
  });

  test(`${label}: a fragmented text message with a ping between fragments is reassembled; permessage-deflate is declined`, async () => {
    await withServer(makeServer, async (s) => {
      const c = new ws(`${s.base}/echo?id=${nextId()}`);
      try {
        await within(
          new Promise<void>((resolve, reject) => {
            c.addEventListener("open", () => resolve());
            c.on("error", reject);
          }),
          5_000,
          "open",
        );
        // ws offers permessage-deflate by default; sluice negotiates no extension.
        assert.equal(c.extensions, "");
        const echoed = new Promise<string>((resolve) =>
          c.on("message", (data) => resolve(new TextDecoder().decode(data)))
        );
        const pong = new Promise<Uint8Array>((resolve) => c.on("pong", resolve));
        c.send("frag-1 ", { fin: false });
        c.ping(new Uint8Array([1]));
        c.send("frag-2 ", { fin: false });
        c.send("frag-3 ✓", { fin: true });
        assert.equal(await within(echoed, 5_000, "echo"), "frag-1 frag-2 frag-3 ✓");
        assert.deepEqual([...await within(pong, 5_000, "pong")], [1]);
      } finally {
        c.close();
      }
    });
  });

  test(`${label}: ws sees a refusal's status, headers and body`, async () => {
    await withServer(makeServer, async (s) => {
      assert.deepEqual(await wsRefusal(`${s.base}/refuse/401`), {
        status: 401,
        header: REFUSAL[401].headers["WWW-Authenticate"],
        body: REFUSAL[401].body,
      });
    });
  });
}

/** A client under test, and the close code it reports for a refused handshake. */
interface ClientKind {
  name: string;
  make: MakeClient;
  /** WHATWG says 1006; Deno's WebSocket reports 0. */
  failedCode: number;
}

function clientKinds(): ClientKind[] {
  const ws = loadWs();
  const undici = loadUndici();
  const kinds: ClientKind[] = [
    { name: "ws client", make: (url, p) => new ws(url, p), failedCode: 1006 },
    { name: "undici WebSocket", make: (url, p) => new undici.WebSocket(url, p), failedCode: 1006 },
  ];
  const g = globalThis as { WebSocket?: new (url: string, p?: string[]) => WhatwgSocket };
  const Native = g.WebSocket;
  const rt = runtime();
  if (rt === "deno" && Native) {
    kinds.push({
      name: "Deno native WebSocket",
      make: (url, p) => new Native(url, p),
      failedCode: 0,
    });
  } else if (rt === "bun" && Native) {
    kinds.push({
      name: "Bun native WebSocket",
      make: (url, p) => new Native(url, p),
      failedCode: 1006,
    });
  } else {
    console.log(
      `interop_server: no native WebSocket client on ${rt} (Node 20); ws and undici cover it`,
    );
  }
  return kinds;
}

describe("ws interop: sluice's server against WebSocket clients nobody here wrote", () => {
  const servers = [["serveWebSocket", served], ["node:http attachWebSocket", attached]] as const;
  const kinds = clientKinds();
  for (const [server, make] of servers) {
    for (const kind of kinds) serverCases(`${server} × ${kind.name}`, make, kind);
    wsOnlyCases(`${server} × ws client`, make);
  }
});
