/**
 * Plain HTTP/1.1 on the WebSocket server's port (`serveWebSocket({ fetch })`):
 * global `fetch` as a real client, and raw `node:net` sockets for exact wire
 * checks, decoded by a small parser of this file's own (not sluice's readers,
 * so a bug there cannot hide itself).
 *
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { serveWebSocket, type ServeWebSocketOptions, type WebSocketServer } from "../../src/server/serve.ts";
import { type FetchHandler, resolveHttpOptions } from "../../src/server/http_serve.ts";
import { connectWebSocket } from "../../src/ws/client.ts";
import { RestClient } from "../../src/rest/client.ts";
import { concat } from "../_helpers/prng.ts";
import { pattern } from "../_helpers/net.ts";
import { encodeFrame, MASK_KEY, OP, RawPeer, SAMPLE_KEY, acceptFor } from "../_helpers/raw_peer.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const crlf = (...lines: string[]): string => lines.join("\r\n");
const latin1 = (b: Uint8Array): string => {
  let s = "";
  for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode(...b.subarray(i, i + 4096));
  return s;
};

/** Rejects when `p` takes longer than `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` every 10 ms, up to `ms`. */
async function eventually(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(10);
  }
}

// -- a tiny independent HTTP/1.x response parser over a raw socket

/** A response as read off the wire. */
interface WireResponse {
  version: string;
  status: number;
  reason: string;
  /** Field lines in order, names lower-cased, values trimmed. */
  headers: [string, string][];
  body: Uint8Array;
  /** The chunk sizes, when the body was chunked. */
  chunks: number[] | null;
  /** The head exactly as sent, up to and including the blank line. */
  head: string;
}

const field = (r: WireResponse, name: string): string | null => {
  const all = r.headers.filter(([n]) => n === name).map(([, v]) => v);
  return all.length === 0 ? null : all.join(", ");
};
const bodyText = (r: WireResponse): string => dec.decode(r.body);

function indexOfCrlf(buf: Uint8Array, from: number, double: boolean): number {
  for (let i = from; i + (double ? 3 : 1) < buf.length; i++) {
    if (buf[i] !== 13 || buf[i + 1] !== 10) continue;
    if (!double || (buf[i + 2] === 13 && buf[i + 3] === 10)) return i;
  }
  return -1;
}

/**
 * Parses one response off the front of `buf`: null when more bytes are
 * needed, else the response and how many bytes it took. Throws on anything
 * that is not well-formed HTTP/1.x.
 */
function parseWire(buf: Uint8Array, ended: boolean, method: string): { res: WireResponse; used: number } | null {
  const end = indexOfCrlf(buf, 0, true);
  if (end < 0) return null;
  const head = latin1(buf.subarray(0, end + 4));
  const [statusLine, ...lines] = head.slice(0, -4).split("\r\n");
  const m = /^HTTP\/(1\.[01]) ([1-9][0-9]{2}) ([\t\x20-\x7e\x80-\xff]*)$/.exec(statusLine!);
  if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
  const headers: [string, string][] = lines.map((l) => {
    const colon = l.indexOf(":");
    if (colon <= 0 || /[\s]/.test(l.slice(0, colon))) throw new Error(`bad field line ${JSON.stringify(l)}`);
    return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()];
  });
  const res: WireResponse = {
    version: m[1]!,
    status: Number(m[2]),
    reason: m[3]!,
    headers,
    body: new Uint8Array(0),
    chunks: null,
    head,
  };
  let at = end + 4;
  const te = field(res, "transfer-encoding");
  const cl = field(res, "content-length");
  if (method === "HEAD" || res.status < 200 || res.status === 204 || res.status === 304) {
    return { res, used: at };
  }
  if (te !== null) {
    assert.equal(te, "chunked", "only chunked is expected");
    assert.equal(cl, null, "Content-Length together with Transfer-Encoding");
    const parts: Uint8Array[] = [];
    res.chunks = [];
    for (;;) {
      const lineEnd = indexOfCrlf(buf, at, false);
      if (lineEnd < 0) return null;
      const sizeText = latin1(buf.subarray(at, lineEnd));
      if (!/^[0-9a-f]+$/i.test(sizeText)) throw new Error(`bad chunk size ${JSON.stringify(sizeText)}`);
      const size = parseInt(sizeText, 16);
      at = lineEnd + 2;
      if (size === 0) {
        if (buf.length < at + 2) return null;
        if (buf[at] !== 13 || buf[at + 1] !== 10) throw new Error("trailers are not expected");
        at += 2;
        break;
      }
      if (buf.length < at + size + 2) return null;
      parts.push(buf.slice(at, at + size));
      res.chunks.push(size);
      if (buf[at + size] !== 13 || buf[at + size + 1] !== 10) throw new Error("chunk not followed by CRLF");
      at += size + 2;
    }
    res.body = concat(parts);
    return { res, used: at };
  }
  if (cl !== null) {
    assert.match(cl, /^[0-9]+$/);
    const n = Number(cl);
    if (buf.length < at + n) return null;
    res.body = buf.slice(at, at + n);
    return { res, used: at + n };
  }
  // Delimited by the close.
  if (!ended) return null;
  res.body = buf.slice(at);
  return { res, used: buf.length };
}

/** Every raw socket a test opened, destroyed when its server is closed. */
const openSockets = new Set<RawHttp>();

/** A client socket written and read by hand. */
class RawHttp {
  readonly socket: net.Socket;
  #buf: Uint8Array = new Uint8Array(0);
  ended = false;
  #wake: (() => void) | null = null;
  readonly #onData = (d: Uint8Array) => {
    this.#buf = concat([this.#buf, new Uint8Array(d.buffer, d.byteOffset, d.byteLength)]);
    this.#notify();
  };

  private constructor(socket: net.Socket) {
    this.socket = socket;
    openSockets.add(this);
    socket.on("data", this.#onData);
    const onEnd = () => {
      this.ended = true;
      this.#notify();
    };
    socket.on("end", onEnd);
    socket.on("close", onEnd);
    socket.on("error", onEnd);
  }

  static connect(port: number): Promise<RawHttp> {
    return within(
      new Promise<RawHttp>((resolve, reject) => {
        const socket = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
        socket.once("connect", () => {
          socket.off("error", reject);
          socket.setNoDelay(true);
          resolve(new RawHttp(socket));
        });
        socket.once("error", reject);
      }),
      3000,
      "connect",
    );
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async #wait(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
  }

  /** Writes, swallowing errors once the server has gone (returns false then). */
  send(data: string | Uint8Array): Promise<boolean> {
    const bytes = typeof data === "string" ? enc.encode(data) : data;
    return new Promise((resolve) => {
      if (this.socket.destroyed || this.socket.writableEnded) return resolve(false);
      this.socket.write(bytes, (err) => resolve(!err));
    });
  }

  /** Bytes received and not taken by a `response()` yet. */
  get pending(): Uint8Array {
    return this.#buf;
  }

  /** The next response (for `method`: HEAD has no body). */
  async response(method = "GET", timeoutMs = 3000): Promise<WireResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = parseWire(this.#buf, this.ended, method);
      if (parsed !== null) {
        this.#buf = this.#buf.slice(parsed.used);
        return parsed.res;
      }
      if (this.ended) {
        throw new Error(`connection ended before a whole response (${this.#buf.length} bytes: ${JSON.stringify(latin1(this.#buf.subarray(0, 200)))})`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no whole response within ${timeoutMs} ms (${this.#buf.length} bytes)`);
      await this.#wait(left);
    }
  }

  /** Waits for the server to end the connection; true when it did within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await this.#wait(left);
    }
    return true;
  }

  /** Hands the socket and the unread bytes to a WebSocket peer. */
  toWebSocket(): RawPeer {
    this.socket.off("data", this.#onData);
    const rest = this.#buf;
    this.#buf = new Uint8Array(0);
    return new RawPeer(this.socket, rest);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

// -- fixtures

const upgradeRequest = (port: number, path = "/ws"): string =>
  crlf(
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${SAMPLE_KEY}`,
    "Sec-WebSocket-Version: 13",
    "",
    "",
  );
const get = (path: string, ...headers: string[]): string => crlf(`GET ${path} HTTP/1.1`, "Host: t", ...headers, "", "");

/** The test app: a handful of routes. */
const app: FetchHandler = async (req, info) => {
  const url = new URL(req.url);
  switch (url.pathname) {
    case "/health":
      return Response.json({ ok: true });
    case "/echo": {
      const body = new Uint8Array(await req.arrayBuffer());
      return new Response(body, {
        headers: {
          "x-method": req.method,
          "x-length": String(body.length),
          "x-url": req.url,
          "x-remote": info.remoteAddr.hostname,
          "x-custom": req.headers.get("x-custom") ?? "",
        },
      });
    }
    case "/path":
      return new Response(url.pathname + url.search);
    case "/slow":
      await sleep(Number(url.searchParams.get("ms") ?? "50"));
      return new Response(`slow ${url.searchParams.get("id") ?? ""}`);
    default:
      return new Response("not found", { status: 404 });
  }
};

/** Runs `fn` with a server (an echoing WebSocket handler, `app` by default), closed afterwards. */
async function withServer(
  options: Partial<ServeWebSocketOptions>,
  fn: (server: WebSocketServer, port: number, errors: unknown[]) => Promise<void>,
): Promise<void> {
  const errors: unknown[] = [];
  const server = await serveWebSocket({
    port: 0,
    handler: async (ws) => {
      for await (const msg of ws) {
        if (msg.type === "text") await ws.sendText(msg.text);
      }
    },
    onError: (e) => errors.push(e),
    ...options,
    // Every test app answers /health (for assertServing); the rest is the test's.
    fetch: "fetch" in options && options.fetch === undefined ? undefined : (req, info) => {
      const own = options.fetch;
      return own === undefined || new URL(req.url).pathname === "/health" ? app(req, info) : own(req, info);
    },
  } as ServeWebSocketOptions);
  try {
    await fn(server, server.addr.port, errors);
  } finally {
    for (const s of openSockets) s.destroy();
    openSockets.clear();
    await within(server.close(), 5000, "server.close()");
  }
}

/** A fresh client gets /health, then a WebSocket echo: the server is still up. */
async function assertServing(port: number): Promise<void> {
  const res = await within(fetch(`http://127.0.0.1:${port}/health`), 3000, "fetch /health");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true });
  const ws = await connectWebSocket(`ws://127.0.0.1:${port}/ws`, { handshakeTimeout: 3000 });
  try {
    await ws.sendText("still up");
    const msg = await within(ws.recv(), 3000, "ws echo");
    assert.equal(msg?.type === "text" ? msg.text : null, "still up");
  } finally {
    await ws.close(1000).catch(() => {});
  }
}

// -- the tests

describe("serveWebSocket fetch: real clients", () => {
  test("/health answers JSON to the global fetch, other routes 404, and WebSockets share the port", async () => {
    await withServer({}, async (server, port) => {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
      assert.deepEqual(await res.json(), { ok: true });
      const missing = await fetch(`http://127.0.0.1:${port}/nope`);
      assert.equal(missing.status, 404);
      assert.equal(await missing.text(), "not found");
      await assertServing(port);
      assert.ok(server.connections >= 0);
    });
  });

  test("the global fetch POSTs a body and sees the method, URL, headers and remote address", async () => {
    await withServer({}, async (_server, port) => {
      const body = new Uint8Array(pattern(10_000));
      const res = await fetch(`http://127.0.0.1:${port}/echo?q=1`, {
        method: "POST",
        body,
        headers: { "x-custom": "hello", "content-type": "application/octet-stream" },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-method"), "POST");
      assert.equal(res.headers.get("x-length"), "10000");
      assert.equal(res.headers.get("x-url"), `http://127.0.0.1:${port}/echo?q=1`);
      assert.equal(res.headers.get("x-remote"), "127.0.0.1");
      assert.equal(res.headers.get("x-custom"), "hello");
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), body);
    });
  });

  test("the global fetch reads a large streamed body and a large fixed one", async () => {
    const big = new Uint8Array(pattern(300_000, 7));
    await withServer({
      fetch: (req) => {
        if (new URL(req.url).pathname === "/fixed") return new Response(big);
        let at = 0;
        return new Response(
          new ReadableStream<Uint8Array>({
            pull(c) {
              if (at >= big.length) return c.close();
              c.enqueue(big.slice(at, at + 10_000));
              at += 10_000;
            },
          }),
        );
      },
    }, async (_server, port) => {
      for (const path of ["/stream", "/fixed"]) {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        assert.equal(res.status, 200);
        const got = new Uint8Array(await res.arrayBuffer());
        assert.equal(got.length, big.length, path);
        assert.deepEqual(got, big, path);
      }
    });
  });
});

describe("serveWebSocket fetch: sluice's own RestClient", () => {
  test("keep-alive reuse over 50 requests, a streamed body, HEAD, 204 and a JSON POST", async () => {
    await withServer({
      fetch: async (req, info) => {
        const url = new URL(req.url);
        if (url.pathname === "/peer") return Response.json({ port: info.remoteAddr.port });
        if (url.pathname === "/stream") {
          let n = 0;
          return new Response(new ReadableStream<Uint8Array>({
            async pull(c) {
              await sleep(0);
              if (n++ === 16) return c.close();
              c.enqueue(new Uint8Array(16 * 1024).fill(n));
            },
          }));
        }
        if (url.pathname === "/empty") return new Response(null, { status: 204 });
        if (url.pathname === "/echo") return new Response(await req.text(), { status: 201 });
        return new Response("hello from " + url.pathname);
      },
    }, async (_server, port) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        const peers = new Set<number>();
        for (let i = 0; i < 50; i++) {
          const res = await client.request({ method: "GET", path: "/peer" });
          peers.add((await res.json<{ port: number }>()).port);
        }
        assert.equal(peers.size, 1, "one keep-alive connection for 50 requests");
        const bytes = await (await client.request({ method: "GET", path: "/stream" })).bytes();
        assert.equal(bytes.length, 16 * 16 * 1024);
        assert.equal(bytes[0], 1);
        assert.equal(bytes[bytes.length - 1], 16);
        const head = await client.request({ method: "HEAD", path: "/x" });
        assert.equal(head.status, 200);
        assert.equal((await head.bytes()).length, 0);
        assert.equal((await client.request({ method: "GET", path: "/empty" })).status, 204);
        const echo = await client.request({ method: "POST", path: "/echo", body: { json: { a: [1, 2] } } });
        assert.equal(echo.status, 201);
        assert.deepEqual(await echo.json(), { a: [1, 2] });
        assert.equal(await (await client.request({ method: "GET", path: "/last" })).text(), "hello from /last");
        assert.equal(client.connectionCount, 1);
      } finally {
        await client.close();
      }
    });
  });
});

describe("serveWebSocket fetch: the wire", () => {
  test("a JSON response has an exact status line, Content-Length, Date and no framing surprises", async () => {
    await withServer({}, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/health"));
      const res = await c.response();
      assert.equal(res.head.split("\r\n")[0], "HTTP/1.1 200 OK");
      assert.equal(bodyText(res), '{"ok":true}');
      assert.equal(field(res, "content-length"), String(res.body.length));
      assert.match(field(res, "content-type") ?? "", /^application\/json/);
      assert.match(field(res, "date") ?? "", /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
      assert.equal(field(res, "transfer-encoding"), null);
      assert.equal(field(res, "connection"), null, "keep-alive is HTTP/1.1's default");
      assert.equal(c.pending.length, 0, "nothing after the body");
    });
  });

  test("a custom status text is kept; framing fields set by the handler are replaced by the real ones", async () => {
    await withServer({
      fetch: () =>
        new Response("hi", {
          status: 299,
          statusText: "Fine Thanks",
          headers: { "content-length": "999", "x-a": "1", "set-cookie": "a=1" },
        }),
    }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/"));
      const res = await c.response();
      assert.equal(res.head.split("\r\n")[0], "HTTP/1.1 299 Fine Thanks");
      assert.equal(field(res, "content-length"), "2");
      assert.equal(bodyText(res), "hi");
      assert.equal(field(res, "x-a"), "1");
      assert.equal(field(res, "set-cookie"), "a=1");
    });
  });

  test("two Set-Cookie fields stay two field lines", async () => {
    await withServer({
      fetch: () => {
        const h = new Headers();
        h.append("set-cookie", "a=1; Path=/");
        h.append("set-cookie", "b=2; Path=/");
        return new Response("ok", { headers: h });
      },
    }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/"));
      const res = await c.response();
      assert.deepEqual(res.headers.filter(([n]) => n === "set-cookie").map(([, v]) => v), ["a=1; Path=/", "b=2; Path=/"]);
    });
  });

  test("204 and 304 carry no body and no Content-Length; the connection stays usable", async () => {
    await withServer({
      fetch: (req) =>
        new Response(null, { status: new URL(req.url).pathname === "/204" ? 204 : 304, headers: { etag: '"x"' } }),
    }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/204") + get("/304"));
      const a = await c.response();
      const b = await c.response();
      assert.equal(a.head, crlf("HTTP/1.1 204 No Content", 'etag: "x"', `date: ${field(a, "date")}`, "", ""));
      assert.equal(b.status, 304);
      assert.equal(field(b, "content-length"), null);
      assert.equal(field(b, "transfer-encoding"), null);
      await c.send(get("/204"));
      assert.equal((await c.response()).status, 204);
      assert.equal(c.pending.length, 0);
    });
  });

  test("a ReadableStream body goes out chunked and decodes to the same bytes; > 64 KiB works", async () => {
    const big = pattern(200_000, 3);
    await withServer({
      fetch: (req) => {
        const path = new URL(req.url).pathname;
        const pieces = path === "/small" ? [enc.encode("hello "), enc.encode("world")] : [];
        if (path !== "/small") for (let at = 0; at < big.length; at += 30_000) pieces.push(big.slice(at, at + 30_000));
        let i = 0;
        return new Response(
          new ReadableStream<Uint8Array>({
            async pull(c) {
              // The big body makes the writer wait for each piece; the small one is there at once.
              if (path !== "/small") await sleep(5);
              if (i < pieces.length) c.enqueue(pieces[i++]!);
              else c.close();
            },
          }),
          { headers: { "content-type": "application/octet-stream" } },
        );
      },
    }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/big"));
      const res = await c.response("GET", 5000);
      assert.equal(field(res, "transfer-encoding"), "chunked");
      assert.equal(field(res, "content-length"), null);
      assert.ok(res.chunks !== null && res.chunks.length > 1, `several chunks: ${res.chunks}`);
      assert.equal(res.body.length, big.length);
      assert.deepEqual(res.body, big);
      // A short stream whose bytes are all there is sent with its length; the same socket goes on.
      await c.send(get("/small"));
      const small = await c.response();
      assert.equal(bodyText(small), "hello world");
      assert.equal(field(small, "content-length"), "11");
      assert.equal(small.chunks, null);
    });
  });

  test("HEAD answers the GET's fields, Content-Length included, and no body (pipelined with a GET)", async () => {
    await withServer({}, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(crlf("HEAD /health HTTP/1.1", "Host: t", "", "") + get("/health"));
      const head = await c.response("HEAD");
      const full = await c.response("GET");
      assert.equal(head.status, 200);
      assert.equal(field(head, "content-length"), String(full.body.length));
      assert.equal(field(head, "content-type"), field(full, "content-type"));
      assert.equal(bodyText(full), '{"ok":true}', "the HEAD response carried no body into the next one");
      assert.equal(c.pending.length, 0);
    });
  });

  test("HEAD of a long streamed body sends the head only (chunked announced, no chunk)", async () => {
    let cancelled = false;
    await withServer({
      fetch: () =>
        new Response(
          new ReadableStream<Uint8Array>({
            pull: (c) => c.enqueue(new Uint8Array(16_384)),
            cancel: () => {
              cancelled = true;
            },
          }),
        ),
    }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(crlf("HEAD / HTTP/1.1", "Host: t", "", ""));
      const res = await c.response("HEAD");
      assert.equal(field(res, "transfer-encoding"), "chunked");
      await sleep(100);
      assert.equal(c.pending.length, 0, "no body bytes after a HEAD response");
      await eventually(() => cancelled, 2000, "the endless body is cancelled");
    });
  });

  test("HEAD keeps the Content-Length the handler declared for a body it did not send", async () => {
    await withServer({
      fetch: (req) => new Response(req.method === "HEAD" ? null : "x".repeat(1234), { headers: { "content-length": "1234" } }),
    }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(crlf("HEAD /file HTTP/1.1", "Host: t", "", "") + get("/file"));
      const head = await c.response("HEAD");
      assert.equal(field(head, "content-length"), "1234");
      const full = await c.response();
      assert.equal(full.body.length, 1234);
      assert.equal(c.pending.length, 0);
    });
  });

  test("a request body the handler ignores is still consumed: the next pipelined request parses", async () => {
    await withServer({}, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(crlf("GET /path?a HTTP/1.1", "Host: t", "Content-Length: 5", "", "") + "GET /" + get("/path?b"));
      assert.equal(bodyText(await c.response()), "/path?a");
      assert.equal(bodyText(await c.response()), "/path?b");
    });
  });

  test("the handler's Connection: close is honoured: the server closes after the response", async () => {
    await withServer({ fetch: () => new Response("bye", { headers: { connection: "close" } }) }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/"));
      const res = await c.response();
      assert.equal(bodyText(res), "bye");
      assert.equal(field(res, "connection"), "close");
      assert.ok(await c.closedWithin(2000), "server closed the connection");
    });
  });
});

describe("serveWebSocket fetch: keep-alive", () => {
  test("three requests in turn on one socket get three responses", async () => {
    await withServer({}, async (server, port) => {
      const c = await RawHttp.connect(port);
      for (const q of ["a", "b", "c"]) {
        await c.send(get(`/path?${q}`));
        const res = await c.response();
        assert.equal(bodyText(res), `/path?${q}`);
        assert.equal(field(res, "connection"), null);
      }
      assert.equal(c.ended, false);
      assert.equal(server.connections, 1);
    });
  });

  test("pipelined requests, in one write, are answered in order even when the first is slow", async () => {
    await withServer({}, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/slow?ms=150&id=1") + get("/slow?ms=1&id=2") + get("/path?3"));
      assert.equal(bodyText(await c.response()), "slow 1");
      assert.equal(bodyText(await c.response()), "slow 2");
      assert.equal(bodyText(await c.response()), "/path?3");
      // And byte by byte across requests.
      const two = enc.encode(get("/path?x") + get("/path?y"));
      for (let i = 0; i < two.length; i += 7) await c.send(two.subarray(i, i + 7));
      assert.equal(bodyText(await c.response()), "/path?x");
      assert.equal(bodyText(await c.response()), "/path?y");
    });
  });

  test("Connection: close from the client is honoured: Connection: close back, then the server closes", async () => {
    await withServer({}, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/path?1", "Connection: close") + get("/path?2"));
      const res = await c.response();
      assert.equal(bodyText(res), "/path?1");
      assert.equal(field(res, "connection"), "close");
      assert.ok(await c.closedWithin(2000), "server closed the connection");
      assert.equal(c.pending.length, 0, "the request after Connection: close is not answered");
    });
  });

  test("HTTP/1.0: closed after the response unless keep-alive is asked; a stream ends at the close", async () => {
    await withServer({
      fetch: (req) => {
        if (new URL(req.url).pathname !== "/stream") return new Response("one-oh");
        const parts = [pattern(70_000, 1), pattern(10, 2)];
        return new Response(new ReadableStream<Uint8Array>({ pull: (c) => parts.length ? c.enqueue(parts.shift()!) : c.close() }));
      },
    }, async (_server, port) => {
      const a = await RawHttp.connect(port);
      await a.send(crlf("GET / HTTP/1.0", "", ""));
      const res = await a.response();
      assert.equal(bodyText(res), "one-oh");
      assert.equal(field(res, "connection"), "close");
      assert.ok(await a.closedWithin(2000), "HTTP/1.0 without keep-alive is closed");

      const b = await RawHttp.connect(port);
      await b.send(crlf("GET /x HTTP/1.0", "Connection: keep-alive", "", ""));
      assert.equal(bodyText(await b.response()), "one-oh");
      await b.send(crlf("GET /y HTTP/1.0", "Connection: keep-alive", "", ""));
      assert.equal(bodyText(await b.response()), "one-oh");
      assert.equal(b.ended, false);

      // No chunked coding for HTTP/1.0: the body runs until the close.
      const s = await RawHttp.connect(port);
      await s.send(crlf("GET /stream HTTP/1.0", "Connection: keep-alive", "", ""));
      const streamed = await s.response();
      assert.equal(field(streamed, "transfer-encoding"), null);
      assert.equal(field(streamed, "content-length"), null);
      assert.equal(field(streamed, "connection"), "close");
      assert.deepEqual(streamed.body, concat([pattern(70_000, 1), pattern(10, 2)]));
    });
  });

  test("an idle keep-alive socket is closed after keepAliveTimeoutMs", async () => {
    await withServer({ keepAliveTimeoutMs: 200 }, async (server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/health"));
      await c.response();
      const t0 = Date.now();
      assert.ok(await c.closedWithin(3000), "closed");
      const took = Date.now() - t0;
      assert.ok(took >= 150, `not before the timeout: ${took} ms`);
      assert.equal(c.pending.length, 0, "closed without an answer");
      await eventually(() => server.connections === 0, 2000, "connection count back to 0");
    });
  });

  test("server.close() with an idle keep-alive connection resolves promptly and closes it", async () => {
    const server = await serveWebSocket({ port: 0, handler: () => {}, fetch: app, keepAliveTimeoutMs: 60_000 });
    const c = await RawHttp.connect(server.addr.port);
    try {
      await c.send(get("/health"));
      await c.response();
      const t0 = Date.now();
      await within(server.close(), 1000, "server.close()");
      assert.ok(Date.now() - t0 < 1000);
      assert.ok(await c.closedWithin(1000), "the idle connection was closed");
    } finally {
      c.destroy();
      await server.close();
    }
  });

  test("server.close() during an endless quiet streamed body resolves promptly and cancels the body", async () => {
    let cancelled = false;
    const server = await serveWebSocket({
      port: 0,
      handler: () => {},
      fetch: () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start: (c) => c.enqueue(enc.encode("event: hello\n\n")),
            pull: () => new Promise<void>(() => {}), // no more data, ever
            cancel: () => {
              cancelled = true;
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        ),
    });
    const c = await RawHttp.connect(server.addr.port);
    try {
      await c.send(get("/events"));
      await eventually(() => latin1(c.pending).includes("event: hello"), 2000, "the first event");
      await within(server.close(), 2000, "server.close()");
      assert.ok(cancelled, "the body was cancelled");
      assert.ok(await c.closedWithin(1000));
    } finally {
      c.destroy();
      await server.close();
    }
  });

  test("request.signal is aborted when the server closes the connection, so a long poll can end", async () => {
    let aborted = false;
    const server = await serveWebSocket({
      port: 0,
      handler: () => {},
      fetch: async (req) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          req.signal.addEventListener("abort", () => resolve(), { once: true });
          timer = setTimeout(resolve, 5000);
        });
        clearTimeout(timer);
        aborted = req.signal.aborted;
        return new Response("late");
      },
    });
    const c = await RawHttp.connect(server.addr.port);
    try {
      await c.send(get("/poll"));
      await sleep(50);
      await within(server.close(), 2000, "server.close()");
      assert.equal(aborted, true);
    } finally {
      c.destroy();
      await server.close();
    }
  });

  test("server.close() during a running handler resolves once it is done, not at the keep-alive timeout", async () => {
    const server = await serveWebSocket({ port: 0, handler: () => {}, fetch: app, keepAliveTimeoutMs: 60_000 });
    const c = await RawHttp.connect(server.addr.port);
    try {
      await c.send(get("/slow?ms=200"));
      await sleep(50);
      await within(server.close(), 2000, "server.close()");
      assert.ok(await c.closedWithin(1000));
    } finally {
      c.destroy();
    }
  });
});

describe("serveWebSocket fetch: request bodies and limits", () => {
  test("a Content-Length body reaches the handler whole, sent in pieces", async () => {
    await withServer({}, async (_server, port) => {
      const c = await RawHttp.connect(port);
      const body = "x".repeat(5000) + "end";
      await c.send(crlf("POST /echo HTTP/1.1", "Host: t", `Content-Length: ${body.length}`, "", ""));
      for (let i = 0; i < body.length; i += 1000) {
        await sleep(5);
        await c.send(body.slice(i, i + 1000));
      }
      const res = await c.response();
      assert.equal(field(res, "x-method"), "POST");
      assert.equal(bodyText(res), body);
      assert.equal(field(res, "x-url"), "http://t/echo");
    });
  });

  test("a chunked request body reaches the handler decoded, then the socket serves the next request", async () => {
    await withServer({}, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(crlf("PUT /echo HTTP/1.1", "Host: t", "Transfer-Encoding: chunked", "", ""));
      await c.send("5\r\nhello\r\n");
      await sleep(20);
      await c.send("1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\n\r\n");
      const res = await c.response();
      assert.equal(field(res, "x-method"), "PUT");
      assert.equal(bodyText(res), "hello world!");
      await c.send(get("/path?next"));
      assert.equal(bodyText(await c.response()), "/path?next");
    });
  });

  test("a body of exactly maxRequestBodyBytes is accepted; one byte more is 413", async () => {
    await withServer({ maxRequestBodyBytes: 100 }, async (_server, port) => {
      const ok = await RawHttp.connect(port);
      await ok.send(crlf("POST /echo HTTP/1.1", "Host: t", "Content-Length: 100", "", "") + "a".repeat(100));
      assert.equal(field(await ok.response(), "x-length"), "100");

      const big = await RawHttp.connect(port);
      await big.send(crlf("POST /echo HTTP/1.1", "Host: t", "Content-Length: 101", "", ""));
      const res = await big.response();
      assert.equal(res.status, 413);
      assert.equal(field(res, "connection"), "close");
      assert.ok(await big.closedWithin(2000));

      // A chunked body is counted as it arrives.
      const chunked = await RawHttp.connect(port);
      await chunked.send(crlf("POST /echo HTTP/1.1", "Host: t", "Transfer-Encoding: chunked", "", "") + "40\r\n" + "b".repeat(64) + "\r\n");
      await sleep(20);
      await chunked.send("40\r\n" + "b".repeat(64) + "\r\n0\r\n\r\n");
      assert.equal((await chunked.response()).status, 413);
      assert.ok(await chunked.closedWithin(2000));
      await assertServing(port);
    });
  });

  test("a client that sends a too-large body whole, without waiting, still reads its 413", async () => {
    await withServer({ maxRequestBodyBytes: 100 }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      void c.send(crlf("POST /echo HTTP/1.1", "Host: t", "Content-Length: 1000000", "", ""));
      void c.send(new Uint8Array(1_000_000));
      assert.equal((await c.response("GET", 5000)).status, 413);
      await assertServing(port);
    });
  });

  test("a huge declared body on a keep-alive connection is 413 and the server stays up", async () => {
    await withServer({ maxRequestBodyBytes: 1000 }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/health"));
      assert.equal((await c.response()).status, 200);
      await c.send(crlf("POST /echo HTTP/1.1", "Host: t", "Content-Length: 99999999999", "", ""));
      assert.equal((await c.response()).status, 413);
      assert.ok(await c.closedWithin(2000));
      await assertServing(port);
    });
  });

  test("maxRequestBodyBytes 0 refuses any body with 413 but serves bodyless requests", async () => {
    await withServer({ maxRequestBodyBytes: 0 }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(crlf("POST /echo HTTP/1.1", "Host: t", "Content-Length: 0", "", ""));
      assert.equal(field(await c.response(), "x-length"), "0");
      await c.send(crlf("POST /echo HTTP/1.1", "Host: t", "Content-Length: 1", "", "") + "x");
      assert.equal((await c.response()).status, 413);
    });
  });

  test("Expect: 100-continue gets 100 Continue before the body, and over the limit a 413 instead", async () => {
    await withServer({ maxRequestBodyBytes: 10 }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(crlf("POST /echo HTTP/1.1", "Host: t", "Expect: 100-continue", "Content-Length: 4", "", ""));
      const interim = await c.response();
      assert.equal(interim.head, crlf("HTTP/1.1 100 Continue", "", ""));
      await c.send("data");
      assert.equal(bodyText(await c.response()), "data");

      const no = await RawHttp.connect(port);
      await no.send(crlf("POST /echo HTTP/1.1", "Host: t", "Expect: 100-continue", "Content-Length: 11", "", ""));
      assert.equal((await no.response()).status, 413);
    });
  });

  test("a head over maxHeaderBytes is 431, on a fresh connection and on a keep-alive one", async () => {
    await withServer({ maxHeaderBytes: 1024 }, async (_server, port) => {
      const fresh = await RawHttp.connect(port);
      await fresh.send(get("/health", `X-Big: ${"a".repeat(2000)}`));
      assert.equal((await fresh.response()).status, 431);
      assert.ok(await fresh.closedWithin(2000));

      const kept = await RawHttp.connect(port);
      await kept.send(get("/health"));
      assert.equal((await kept.response()).status, 200);
      // Sent without its end: the limit applies before the head is complete.
      await kept.send(crlf("GET /health HTTP/1.1", `X-Big: ${"a".repeat(2000)}`));
      assert.equal((await kept.response()).status, 431);
      assert.ok(await kept.closedWithin(2000));
      await assertServing(port);
    });
  });

  test("more fields than maxHeaderCount is 431", async () => {
    await withServer({ maxHeaderCount: 5 }, async (_server, port) => {
      const fields = Array.from({ length: 10 }, (_, i) => `X-${i}: ${i}`);
      const kept = await RawHttp.connect(port);
      await kept.send(get("/health"));
      assert.equal((await kept.response()).status, 200);
      await kept.send(get("/health", ...fields));
      assert.equal((await kept.response()).status, 431);
    });
  });

  test("the URL comes from Host and the target; a Host that would move the path, or target *, is 400", async () => {
    await withServer({}, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(crlf("POST /echo?x=1 HTTP/1.1", "Host: example.com:8080", "Content-Length: 0", "", ""));
      assert.equal(field(await c.response(), "x-url"), "http://example.com:8080/echo?x=1");
      await c.send(crlf("POST http://other.example/echo HTTP/1.1", "Host: ignored", "Content-Length: 0", "", ""));
      assert.equal(field(await c.response(), "x-url"), "http://other.example/echo");
      await c.send(crlf("POST /echo HTTP/1.1", "Host: [::1]:80", "Content-Length: 0", "", ""));
      assert.equal(field(await c.response(), "x-url"), "http://[::1]/echo");
      await c.send(crlf("POST /echo HTTP/1.1", "Host:", "Content-Length: 0", "", ""));
      assert.equal(field(await c.response(), "x-url"), `http://127.0.0.1:${port}/echo`);

      // "Host: a/public?" glued before "/admin" would make the path /public.
      for (const bad of ["a/public?", "a#", "a?b", "a b", "a@b/c", "a\r\nHost: b"]) {
        const d = await RawHttp.connect(port);
        await d.send(get("/admin").replace("Host: t", `Host: ${bad}`));
        assert.equal((await d.response()).status, 400, bad);
      }
      const star = await RawHttp.connect(port);
      await star.send(crlf("OPTIONS * HTTP/1.1", "Host: t", "", ""));
      assert.equal((await star.response()).status, 400);
      await assertServing(port);
    });
  });

  test("a malformed request line is 400, first or later on a connection, and the server stays up", async () => {
    await withServer({}, async (_server, port) => {
      for (const garbage of ["GARBAGE\r\n\r\n", "GET /x HTTP/9.9\r\nHost: t\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n"]) {
        const c = await RawHttp.connect(port);
        await c.send(garbage);
        const res = await c.response();
        assert.ok(res.status === 400 || res.status === 505, `${JSON.stringify(garbage)}: ${res.status}`);
        assert.ok(await c.closedWithin(2000));
      }
      const kept = await RawHttp.connect(port);
      await kept.send(get("/health"));
      assert.equal((await kept.response()).status, 200);
      await kept.send("NOT HTTP AT ALL\r\n\r\n");
      assert.equal((await kept.response()).status, 400);
      assert.ok(await kept.closedWithin(2000));

      const smuggle = await RawHttp.connect(port);
      await smuggle.send(get("/health"));
      assert.equal((await smuggle.response()).status, 200);
      await smuggle.send(crlf("POST /echo HTTP/1.1", "Host: t", "Content-Length: 3", "Transfer-Encoding: chunked", "", "0", "", ""));
      assert.equal((await smuggle.response()).status, 400);
      await assertServing(port);
    });
  });
});

describe("serveWebSocket fetch: handler failures", () => {
  test("a handler that throws, rejects or returns a non-Response gets 500, onError, and the socket goes on", async () => {
    const boom = new Error("boom");
    const nope = new Error("nope");
    await withServer({
      fetch: async (req) => {
        const path = new URL(req.url).pathname;
        if (path === "/throw") throw boom;
        if (path === "/reject") return await Promise.reject(nope);
        if (path === "/object") return { status: 200 } as unknown as Response;
        return new Response("fine");
      },
    }, async (_server, port, errors) => {
      const c = await RawHttp.connect(port);
      for (const path of ["/throw", "/reject", "/object"]) {
        await c.send(get(path));
        const res = await c.response();
        assert.equal(res.status, 500, path);
        assert.equal(res.head.split("\r\n")[0], "HTTP/1.1 500 Internal Server Error");
        assert.doesNotMatch(bodyText(res), /boom|nope/, "no error details leak to the client");
        await c.send(get("/ok"));
        assert.equal(bodyText(await c.response()), "fine", `the connection goes on after ${path}`);
      }
      assert.equal(errors.length, 3);
      assert.equal(errors[0], boom);
      assert.equal(errors[1], nope);
      assert.ok(errors[2] instanceof TypeError && /Response/.test(errors[2].message), String(errors[2]));
      await assertServing(port);
    });
  });

  test("a synchronous throw from a non-async handler is a 500 too", async () => {
    await withServer({
      fetch: () => {
        throw new RangeError("sync");
      },
    }, async (_server, port, errors) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/"));
      assert.equal((await c.response()).status, 500);
      assert.ok(errors[0] instanceof RangeError);
    });
  });

  test("a Response the wire cannot carry (Response.error(), a non-latin1 field) is a 500 and reported", async () => {
    let headerError: unknown = null;
    await withServer({
      fetch: (req) => {
        if (new URL(req.url).pathname === "/error") return Response.error();
        try {
          // Web Headers refuse CR/LF/NUL; some runtimes let a character past U+00FF through.
          return new Response("x", { headers: { "x-name": "\u0100\u2603" } });
        } catch (e) {
          headerError = e;
          throw e;
        }
      },
    }, async (_server, port, errors) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/error"));
      assert.equal((await c.response()).status, 500);
      await c.send(get("/header"));
      const res = await c.response();
      assert.equal(res.status, 500);
      assert.equal(field(res, "x-name"), null);
      assert.equal(errors.length, 2);
      if (headerError !== null) assert.equal(errors[1], headerError);
      await assertServing(port);
    });
  });

  test("a body stream that fails at once is a 500; one that fails after the head went out cuts the connection", async () => {
    await withServer({
      fetch: (req) => {
        const early = new URL(req.url).pathname === "/early";
        let n = 0;
        return new Response(
          new ReadableStream<Uint8Array>({
            async pull(c) {
              // An error already there fails the response before its head; a
              // later one finds the head (chunked) sent.
              if (early) throw new Error("early");
              await sleep(1);
              if (n === 20) throw new Error("late");
              n++;
              c.enqueue(new Uint8Array(10_000).fill(0x61));
            },
          }),
        );
      },
    }, async (_server, port, errors) => {
      const a = await RawHttp.connect(port);
      await a.send(get("/early"));
      assert.equal((await a.response()).status, 500);
      await eventually(() => errors.length === 1, 2000, "early error reported");

      const b = await RawHttp.connect(port);
      await b.send(get("/late"));
      // The head went out as chunked; the body must not end with a last chunk.
      await assert.rejects(b.response("GET", 3000), /ended before a whole response/);
      await eventually(() => errors.length === 2, 2000, "late error reported");
      assert.match(String(errors[1]), /late/);
      await assertServing(port);
    });
  });

  test("a body stream of strings instead of bytes is a 500 (early) or a cut connection (late), reported", async () => {
    await withServer({
      fetch: (req) => {
        const late = new URL(req.url).pathname === "/late";
        let n = 0;
        const stream = new ReadableStream<Uint8Array | string>({
          pull(c) {
            if (late && n++ < 10) c.enqueue(new Uint8Array(10_000));
            else {
              c.enqueue("not bytes");
              c.close();
            }
          },
        });
        // Runtimes pass a body stream's chunks through as they are, strings too.
        return new Response(stream as unknown as ReadableStream<Uint8Array>);
      },
    }, async (_server, port, errors) => {
      const a = await RawHttp.connect(port);
      await a.send(get("/early"));
      assert.equal((await a.response()).status, 500);
      assert.ok(errors[0] instanceof TypeError, String(errors[0]));

      const b = await RawHttp.connect(port);
      await b.send(get("/late"));
      await assert.rejects(b.response("GET", 3000), /ended before a whole response/);
      await eventually(() => errors.length === 2, 2000, "late error reported");
      assert.ok(errors[1] instanceof TypeError, String(errors[1]));
    });
  });

  test("a client that goes away mid-body gets its endless body stream cancelled", async () => {
    let cancelled = false;
    await withServer({
      fetch: () =>
        new Response(
          new ReadableStream<Uint8Array>({
            async pull(c) {
              await sleep(1);
              c.enqueue(new Uint8Array(32_768));
            },
            cancel: () => {
              cancelled = true;
            },
          }),
        ),
    }, async (server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/"));
      await eventually(() => c.pending.length > 100_000, 3000, "the body is flowing");
      c.destroy();
      await eventually(() => cancelled, 3000, "the body stream is cancelled");
      await eventually(() => server.connections === 0, 3000, "the connection is released");
    });
  });
});

describe("serveWebSocket fetch: timeouts", () => {
  test("a request body that stops arriving gets 408 within requestTimeoutMs", async () => {
    await withServer({ requestTimeoutMs: 300 }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(crlf("POST /echo HTTP/1.1", "Host: t", "Content-Length: 10", "", "") + "abc");
      const t0 = Date.now();
      const res = await c.response("GET", 3000);
      assert.equal(res.status, 408);
      assert.ok(Date.now() - t0 < 2000);
      assert.ok(await c.closedWithin(2000));
    });
  });

  test("a body trickled a byte at a time cannot stretch a request past requestTimeoutMs", async () => {
    await withServer({ requestTimeoutMs: 400 }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(crlf("POST /echo HTTP/1.1", "Host: t", "Content-Length: 1000", "", ""));
      const t0 = Date.now();
      const trickle = (async () => {
        while (!c.ended && Date.now() - t0 < 4000) {
          await c.send("x");
          await sleep(50);
        }
      })();
      assert.ok(await c.closedWithin(3000), "the slow request was cut off");
      const took = Date.now() - t0;
      await trickle;
      assert.ok(took < 2000, `cut off after ${took} ms`);
      assert.equal((await c.response()).status, 408);
    });
  });

  test("requestTimeoutMs bounds the arrival of each request, not the handler, and restarts per request", async () => {
    await withServer({ requestTimeoutMs: 300 }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/slow?ms=450&id=a"));
      assert.equal(bodyText(await c.response()), "slow a");
      const req = get("/path?b");
      await c.send(req.slice(0, 10));
      await sleep(150);
      await c.send(req.slice(10));
      assert.equal(bodyText(await c.response()), "/path?b");
      assert.equal(c.ended, false);
    });
  });

  test("a first request head that stops arriving is cut off after handshakeTimeout", async () => {
    await withServer({ handshakeTimeout: 300 }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send("GET /health HTTP/1.1\r\nHost: t\r\n");
      const t0 = Date.now();
      assert.ok(await c.closedWithin(3000), "closed");
      assert.ok(Date.now() - t0 < 2000);
    });
  });

  test("a second request's head that stops arriving gets 408 within requestTimeoutMs", async () => {
    await withServer({ requestTimeoutMs: 300, keepAliveTimeoutMs: 10_000 }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/health"));
      await c.response();
      await c.send("GET /health HT");
      const t0 = Date.now();
      assert.equal((await c.response("GET", 3000)).status, 408);
      assert.ok(Date.now() - t0 < 2000);
    });
  });
});

describe("serveWebSocket fetch: upgrades and the old default", () => {
  test("a WebSocket upgrade after a keep-alive request on the same socket gets 101 and echoes", async () => {
    await withServer({}, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/health"));
      assert.equal((await c.response()).status, 200);
      await c.send(upgradeRequest(port));
      const res = await c.response();
      assert.equal(res.status, 101);
      assert.equal(field(res, "sec-websocket-accept"), acceptFor(SAMPLE_KEY));
      const peer = c.toWebSocket();
      await peer.send(encodeFrame({ opcode: OP.text, payload: "after http" }, MASK_KEY));
      const frame = await peer.nextFrame(3000);
      assert.equal(frame?.opcode, OP.text);
      assert.equal(dec.decode(frame!.payload), "after http");
    });
  });

  test("a request, the upgrade and a frame pipelined in one write all arrive", async () => {
    await withServer({}, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(concat([
        enc.encode(get("/path?first") + upgradeRequest(port)),
        encodeFrame({ opcode: OP.text, payload: "early" }, MASK_KEY),
      ]));
      assert.equal(bodyText(await c.response()), "/path?first");
      assert.equal((await c.response()).status, 101);
      const peer = c.toWebSocket();
      const frame = await peer.nextFrame(3000);
      assert.equal(dec.decode(frame!.payload), "early");
    });
  });

  test("without fetch a plain request is still answered 426 Upgrade Required", async () => {
    await withServer({ fetch: undefined }, async (_server, port) => {
      const c = await RawHttp.connect(port);
      await c.send(get("/health"));
      const res = await c.response();
      assert.equal(res.status, 426);
      assert.ok(await c.closedWithin(2000));
      const viaFetch = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(viaFetch.status, 426);
      await viaFetch.body?.cancel();
      const ws = await connectWebSocket(`ws://127.0.0.1:${port}/`, { handshakeTimeout: 3000 });
      await ws.close(1000);
    });
  });

  test("connections are counted while open and released after", async () => {
    await withServer({}, async (server, port) => {
      const a = await RawHttp.connect(port);
      const b = await RawHttp.connect(port);
      await a.send(get("/health"));
      await b.send(get("/health"));
      await a.response();
      await b.response();
      assert.equal(server.connections, 2);
      a.destroy();
      b.destroy();
      await eventually(() => server.connections === 0, 2000, "both released");
    });
  });
});

describe("resolveHttpOptions", () => {
  test("fills in the defaults", () => {
    assert.deepEqual({ ...resolveHttpOptions({}) }, {
      maxRequestBodyBytes: 1 << 20,
      keepAliveTimeoutMs: 5000,
      requestTimeoutMs: 30_000,
      maxHeaderBytes: 16384,
      maxHeaderCount: 100,
    });
    assert.equal(resolveHttpOptions({ maxRequestBodyBytes: 0, keepAliveTimeoutMs: 0 }).maxRequestBodyBytes, 0);
  });

  test("refuses bad values with a RangeError naming the option and the value", () => {
    const bad: [Record<string, number>, RegExp][] = [
      [{ maxRequestBodyBytes: -1 }, /maxRequestBodyBytes .* got -1/],
      [{ maxRequestBodyBytes: 1.5 }, /maxRequestBodyBytes .* got 1\.5/],
      [{ keepAliveTimeoutMs: -5 }, /keepAliveTimeoutMs .* got -5/],
      [{ requestTimeoutMs: NaN }, /requestTimeoutMs .* got NaN/],
      [{ maxHeaderBytes: 0 }, /maxHeaderBytes .* got 0/],
      [{ maxHeaderCount: -1 }, /maxHeaderCount .* got -1/],
    ];
    for (const [options, message] of bad) {
      assert.throws(() => resolveHttpOptions(options), (e: unknown) => e instanceof RangeError && message.test(e.message));
    }
  });

  test("a bad HTTP limit is refused by serveWebSocket itself, before it listens", async () => {
    await assert.rejects(
      serveWebSocket({ port: 0, handler: () => {}, fetch: () => new Response("x"), maxRequestBodyBytes: -1 }),
      (e: unknown) => e instanceof RangeError && /maxRequestBodyBytes must be/.test(e.message),
    );
    await assert.rejects(
      serveWebSocket({ port: 0, handler: () => {}, fetch: () => new Response("x"), keepAliveTimeoutMs: -5 }),
      RangeError,
    );
  });
});
