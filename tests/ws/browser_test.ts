import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { AcceptedWebSocket, UpgradeDecision, UpgradeInfo } from "../../src/server/accept.ts";
import { attachWebSocket } from "../../src/server/node_http.ts";
import { serveWebSocket } from "../../src/server/serve.ts";
import { connectWebSocket } from "../../src/ws/client.ts";
import type { CloseInfo, WebSocketConnection } from "../../src/ws/types.ts";
import { closeCommand, idOf, PROTOCOL, Recorder, REFUSAL, refusalOf, within } from "./_interop.ts";

// Debian's chromium, headless, driven over the Chrome DevTools Protocol by
// OUR WebSocket client (Chromium's DevTools server is one more peer nobody
// here wrote), while the page's own WebSocket talks to OUR server. `.ci/run`
// installs chromium when it is missing; this test installs nothing.

const CHROMIUM = "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--remote-debugging-port=0",
];

interface Browser {
  /** The DevTools WebSocket URL of the browser target. */
  readonly devtools: string;
  /** The end of chromium's stderr, for failure messages. */
  stderr(): string;
}

/** Starts chromium with a fresh profile; kills its process group and removes the profile afterwards. */
async function withChromium(fn: (b: Browser) => Promise<void>): Promise<void> {
  const profile = mkdtempSync(join(tmpdir(), "sluice-chromium-"));
  let child: ChildProcess | null = null;
  let err = "";
  try {
    // Its own process group, so the renderer and helper processes go with it.
    child = spawn(CHROMIUM, [...FLAGS, `--user-data-dir=${profile}`, "about:blank"], {
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr?.on("data", (d: Uint8Array) => {
      err = (err + new TextDecoder().decode(d)).slice(-4000);
    });
    const exited = new Promise<never>((_, reject) => {
      child!.on(
        "exit",
        (code, signal) => reject(new Error(`chromium exited (${code ?? signal}): ${err}`)),
      );
      child!.on("error", reject);
    });
    exited.catch(() => {});
    // Chromium writes "<port>\n<path>" to DevToolsActivePort once it listens.
    const portFile = join(profile, "DevToolsActivePort");
    const devtools = await within(
      Promise.race([
        exited,
        (async () => {
          for (let i = 0; i < 300; i++) {
            if (existsSync(portFile)) {
              const [port, path] = readFileSync(portFile, "utf8").split("\n");
              if (port && path) return `ws://127.0.0.1:${port.trim()}${path.trim()}`;
            }
            await new Promise((r) => setTimeout(r, 100));
          }
          throw new Error("no DevToolsActivePort after 30 s");
        })(),
      ]),
      35_000,
      "chromium start",
    );
    await fn({ devtools, stderr: () => err });
  } finally {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child!.once("exit", () => resolve()));
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch { /* already gone */ }
      const timedOut = await within(gone, 5_000, "chromium exit").then(() => false, () => true);
      if (timedOut) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch { /* already gone */ }
        await within(gone, 5_000, "chromium exit after SIGKILL").catch(() => {});
      }
    }
    rmSync(profile, { recursive: true, force: true });
  }
}

/** A minimal CDP session over our WebSocket client. */
class Cdp {
  #ws: WebSocketConnection;
  #seq = 0;
  #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  readonly #loop: Promise<void>;

  constructor(ws: WebSocketConnection) {
    this.#ws = ws;
    this.#loop = (async () => {
      try {
        for await (const m of ws) {
          if (m.type !== "text") continue;
          const msg = JSON.parse(m.text) as {
            id?: number;
            result?: unknown;
            error?: { message: string };
          };
          const p = msg.id === undefined ? undefined : this.#pending.get(msg.id);
          if (!p) continue; // events
          this.#pending.delete(msg.id!);
          if (msg.error) p.reject(new Error(`CDP error: ${msg.error.message}`));
          else p.resolve(msg.result);
        }
      } finally {
        for (const p of this.#pending.values()) p.reject(new Error("DevTools connection closed"));
      }
    })();
    this.#loop.catch(() => {});
  }

  static async connect(url: string): Promise<Cdp> {
    return new Cdp(
      await connectWebSocket(url, { connectTimeout: 10_000, handshakeTimeout: 10_000 }),
    );
  }

  send<T>(method: string, params: object = {}, sessionId?: string, ms = 20_000): Promise<T> {
    const id = ++this.#seq;
    const result = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    void this.#ws.sendText(
      JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }),
    );
    return within(result, ms, `CDP ${method}`);
  }

  /** Evaluates `expression` in the page, awaiting a promise, and returns its JSON value. */
  async evaluate<T>(sessionId: string, expression: string, ms = 30_000): Promise<T> {
    const r = await this.send<
      {
        result: { value?: T };
        exceptionDetails?: { text: string; exception?: { description?: string } };
      }
    >(
      "Runtime.evaluate",
      { expression, awaitPromise: true, returnByValue: true },
      sessionId,
      ms,
    );
    if (r.exceptionDetails) {
      throw new Error(
        `page threw: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`,
      );
    }
    return r.result.value as T;
  }

  async close(): Promise<void> {
    await this.#ws.close().catch(() => {});
    await this.#loop;
  }
}

/** Opens `url` in a new tab and returns the CDP session attached to it, once the page has loaded. */
async function openPage(cdp: Cdp, url: string): Promise<string> {
  const { targetId } = await cdp.send<{ targetId: string }>("Target.createTarget", { url });
  const { sessionId } = await cdp.send<{ sessionId: string }>("Target.attachToTarget", {
    targetId,
    flatten: true,
  });
  for (let i = 0; i < 200; i++) {
    const state = await cdp.evaluate<string>(sessionId, "location.href + ' ' + document.readyState")
      .catch(() => "");
    if (state === `${url} complete`) return sessionId;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the page ${url} did not load within 20 s`);
}

interface Scene {
  /** ws://127.0.0.1:PORT of our server. */
  wsBase: string;
  /** http://127.0.0.1:PORT of the page. */
  pageUrl: string;
  closes: Recorder<CloseInfo>;
  upgrades: Recorder<UpgradeInfo>;
}

const PAGE = "<!doctype html><meta charset=utf-8><title>sluice interop</title><p>ready</p>";

/**
 * Our echo server and a page server on 127.0.0.1, both stopped afterwards:
 * `serveWebSocket` beside a node:http page server, or one node:http server
 * serving the page with `attachWebSocket` on its upgrades.
 */
async function withScene(kind: "serve" | "attach", fn: (s: Scene) => Promise<void>): Promise<void> {
  const closes = new Recorder<CloseInfo>();
  const upgrades = new Recorder<UpgradeInfo>();
  const options = {
    closeTimeout: 3_000,
    maxMessageSize: 2 << 20,
    onUpgrade: (info: UpgradeInfo): UpgradeDecision | void => {
      const status = refusalOf(info.request.path);
      if (status !== null) {
        return { reject: { status, body: REFUSAL[status].body, headers: REFUSAL[status].headers } };
      }
      upgrades.record(idOf(info.request.path), info);
      if (info.request.protocols.includes(PROTOCOL)) return { protocol: PROTOCOL };
    },
    handler: async (ws: AcceptedWebSocket) => {
      const id = idOf(ws.request.path);
      void ws.closed.then((info) => closes.record(id, info));
      for await (const m of ws) {
        if (m.type === "binary") await ws.sendBinary(m.data);
        if (m.type !== "text") continue;
        const cmd = closeCommand(m.text);
        if (cmd) return void await ws.close(cmd.code, cmd.reason);
        if (m.text === "ping-me") {
          ws.ping().then((rtt) => ws.sendText(`rtt:${rtt}`)).catch(() => {});
        } else await ws.sendText(m.text);
      }
    },
  };
  const page = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(PAGE);
  });
  const sockets = new Set<Socket>();
  page.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const attached = kind === "attach" ? attachWebSocket(page, options) : null;
  const served = kind === "serve" ? await serveWebSocket({ port: 0, ...options }) : null;
  await new Promise<void>((resolve) => page.listen(0, "127.0.0.1", resolve));
  const pagePort = (page.address() as AddressInfo).port;
  try {
    await fn({
      wsBase: `ws://127.0.0.1:${served?.addr.port ?? pagePort}`,
      pageUrl: `http://127.0.0.1:${pagePort}/`,
      closes,
      upgrades,
    });
  } finally {
    await within(attached?.close() ?? served!.close(), 10_000, "closing our server");
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => page.close(() => resolve()));
  }
}

/** Runs `script` (an async function of the WebSocket base URL) in a chromium page. */
async function inBrowser<T>(s: Scene, script: string): Promise<T> {
  let result: T | undefined;
  await withChromium(async (browser) => {
    const cdp = await Cdp.connect(browser.devtools);
    try {
      const session = await openPage(cdp, s.pageUrl);
      const json = await cdp.evaluate<string>(
        session,
        `(${script})(${JSON.stringify(s.wsBase)}).then(JSON.stringify)`,
      );
      result = JSON.parse(json) as T;
    } catch (e) {
      throw new Error(
        `${e instanceof Error ? e.message : String(e)}\nchromium stderr (tail): ${
          browser.stderr().slice(-1500)
        }`,
      );
    } finally {
      await cdp.close();
    }
  });
  return result as T;
}

// Helpers defined inside the page (a string, evaluated by chromium).
const PAGE_HELPERS = `
  const open = (url, protocols) => new Promise((resolve, reject) => {
    const s = new WebSocket(url, protocols);
    s.binaryType = "arraybuffer";
    s.onopen = () => resolve(s);
    s.onerror = () => reject(new Error("WebSocket error opening " + url));
  });
  const next = (s) => new Promise((resolve) => s.addEventListener("message", (e) => resolve(e.data), { once: true }));
  const closed = (s) => new Promise((resolve) =>
    s.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean }), { once: true }));
`;

const ECHO_SCRIPT = `async (base) => {
  ${PAGE_HELPERS}
  const s = await open(base + "/echo?id=b1", ["chat.v1", "${PROTOCOL}"]);
  const out = { protocol: s.protocol };
  s.send("héllo from chromium 🚀");
  out.text = await next(s);
  s.send("");
  out.empty = await next(s);
  const big = new Uint8Array(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 255;
  s.send(big);
  const back = new Uint8Array(await next(s));
  out.binaryLength = back.length;
  out.binarySame = back.length === big.length && back.every((v, i) => v === big[i]);
  s.send("ping-me");
  out.rtt = await next(s);
  s.close(1000);
  out.close = await closed(s);
  return out;
}`;

const CLOSE_SCRIPT = `async (base) => {
  ${PAGE_HELPERS}
  const out = {};
  const a = await open(base + "/echo?id=c1");
  a.close(4000, "browser bye");
  out.clientClose = await closed(a);
  const b = await open(base + "/echo?id=c2");
  b.send("close:4001:server bye");
  out.serverClose = await closed(b);
  const big = await open(base + "/echo?id=c3");
  big.send(new Uint8Array((2 << 20) + 1));
  out.tooBig = await closed(big);
  const refused = new WebSocket(base + "/refuse/401");
  let errored = false;
  refused.onerror = () => { errored = true; };
  out.refused = await closed(refused);
  out.refusedErrored = errored;
  return out;
}`;

describe("ws interop: headless chromium's WebSocket against sluice's server", () => {
  if (!existsSync(CHROMIUM)) {
    test("chromium is installed for the browser interop tests (required in CI)", () => {
      console.log(`SKIPPED: chromium not installed (${CHROMIUM} missing)`);
      if (process.env.CI) assert.fail(`${CHROMIUM} is missing in CI, where .ci/run installs it`);
    });
    return;
  }

  const servers = [["serve", "serveWebSocket"], ["attach", "node:http attachWebSocket"]] as const;
  for (const [kind, label] of servers) {
    test(`chromium × ${label}: text, empty text and 1 MiB binary echo byte-exact; subprotocol; Origin; ping RTT`, async () => {
      await withScene(kind, async (s) => {
        const out = await inBrowser<Record<string, unknown>>(s, ECHO_SCRIPT);
        assert.equal(out.protocol, PROTOCOL);
        assert.equal(out.text, "héllo from chromium 🚀");
        assert.equal(out.empty, "");
        assert.equal(out.binaryLength, 1 << 20);
        assert.equal(out.binarySame, true, "1 MiB binary echo differs");
        assert.match(String(out.rtt), /^rtt:\d/);
        assert.deepEqual(out.close, { code: 1000, reason: "", wasClean: true });
        const up = await s.upgrades.get("b1");
        assert.equal(
          up.request.origin,
          s.pageUrl.slice(0, -1),
          "the browser sends its page's Origin",
        );
        assert.deepEqual([...up.request.protocols], ["chat.v1", PROTOCOL]);
        const seen = await s.closes.get("b1");
        assert.deepEqual([seen.code, seen.initiatedBy, seen.wasClean], [1000, "remote", true]);
      });
    });

    test(`chromium × ${label}: close codes and reasons both ways; a 401 refusal fails the browser's socket with 1006`, async () => {
      await withScene(kind, async (s) => {
        const out = await inBrowser<Record<string, unknown>>(s, CLOSE_SCRIPT);
        const byClient = await s.closes.get("c1");
        assert.deepEqual(
          [byClient.code, byClient.reason, byClient.initiatedBy, byClient.wasClean],
          [4000, "browser bye", "remote", true],
        );
        assert.deepEqual(
          out.clientClose,
          { code: 4000, reason: "", wasClean: true },
          "our server echoes the code",
        );
        assert.deepEqual(out.serverClose, { code: 4001, reason: "server bye", wasClean: true });
        const byServer = await s.closes.get("c2");
        assert.deepEqual([byServer.code, byServer.initiatedBy, byServer.wasClean], [
          4001,
          "local",
          true,
        ]);
        // Over maxMessageSize (RFC 6455 §7.4.1): our server's side is exact;
        // the browser sometimes loses the 1009 to a reset (see the report).
        const tooBig = out.tooBig as { code: number; wasClean: boolean };
        assert.ok(
          tooBig.code === 1009 || !tooBig.wasClean,
          `browser saw ${JSON.stringify(tooBig)}`,
        );
        assert.equal((await s.closes.get("c3")).code, 1009);
        assert.deepEqual(out.refused, { code: 1006, reason: "", wasClean: false });
        assert.equal(out.refusedErrored, true);
      });
    });
  }
});
