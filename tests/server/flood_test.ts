/**
 * serveWebSocket under hostile load: 2,000 slowloris handshakes, 500 garbage
 * floods and 500 abrupt drops at once, over raw `node:net` sockets (the same
 * on Deno, Bun and Node). A real client must still open and echo meanwhile;
 * afterwards every flood socket is gone, the failures went to onError, and
 * close() is prompt.
 */
import { spawn } from "node:child_process";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { pooledBytes } from "../../src/core/buf_pool.ts";
import { SluiceError } from "../../src/core/errors.ts";
import { serveWebSocket } from "../../src/server/serve.ts";
import { connectWebSocket } from "../../src/ws/client.ts";
import type { WebSocketConnection } from "../../src/ws/types.ts";
import { pattern } from "../_helpers/net.ts";
import {
  connectRaw,
  keepFirstBytes,
  mib,
  POOL_CAP_BYTES,
  type RawSocket,
  rawUpgrade,
  runPool,
  runtime,
  sleep,
  SocketTracker,
  waitFor,
  within,
  writeRaw,
} from "./_load.ts";

const STALLED = 2000;
const GARBAGE = 500;
const ABRUPT = 500;
const HANDSHAKE_TIMEOUT = 1000;
/** Connects in flight at once: below the listen backlogs, so no SYN is dropped and retried. */
const CONNECT_CONCURRENCY = 100;
/** A generous bound on anything the real client does under the flood (machines are noisy). */
const CLIENT_BOUND_MS = 5000;

/** Half an upgrade request head: the rest never comes. */
const HALF_HEAD = "GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnec";

/** 20 KB of garbage: random bytes (even j), or a request line with headers that never end (odd j). */
function garbage(j: number): Uint8Array {
  const size = 20 * 1024;
  if (j % 2 === 0) return pattern(size, j + 1);
  const out = new Uint8Array(size);
  const start = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (let i = 0; i < size; i++) out[i] = 0x61;
  for (let i = 0; i < start.length; i++) out[i] = start.charCodeAt(i);
  // "X-Filler: aaaa…\r\n" lines, no blank line: past maxHeaderBytes (16 KiB) by design.
  for (let at = start.length; at + 64 < size; at += 64) {
    const name = "X-Filler: ";
    for (let i = 0; i < name.length; i++) out[at + i] = name.charCodeAt(i);
    out[at + 62] = 13;
    out[at + 63] = 10;
  }
  return out;
}

/** An error's kind for the tally: class name and stable code. */
function kindOf(e: unknown): string {
  if (e instanceof SluiceError) return `${e.name}:${e.code}`;
  if (e instanceof Error) {
    return `${e.name}:${(e as { code?: unknown }).code ?? e.message.slice(0, 40)}`;
  }
  return typeof e;
}

const sum = (m: Map<string, number>, pred: (k: string) => boolean): number =>
  [...m].reduce((n, [k, v]) => n + (pred(k) ? v : 0), 0);

/** A child process of the running runtime that connects `n` sockets to `port` and resets each at once. */
interface Resetter {
  /** Resolves once the child runs (it starts connecting 200 ms later). */
  readonly ready: Promise<void>;
  /** Whether it printed "done" (all connected and reset). */
  readonly done: boolean;
  /** Resolves with its exit code. */
  readonly exited: Promise<number | null>;
  output(): string;
  kill(): void;
}

function spawnResetter(port: number, n: number): Resetter {
  const code = `
import net from "node:net";
const port = ${port}, n = ${n};
const bail = setTimeout(() => process.exit(3), 10000);
console.log("ready");
setTimeout(() => {
  let left = n;
  for (let i = 0; i < n; i++) {
    const s = net.connect({ host: "127.0.0.1", port });
    s.on("error", () => {});
    s.once("connect", () => s.write("GET / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n", () => {
      s.resetAndDestroy();
      if (--left === 0) {
        console.log("done");
        clearTimeout(bail);
        setTimeout(() => process.exit(0), 50);
      }
    }));
  }
}, 200);
`;
  const rt = runtime();
  const args = rt === "deno" ? ["eval", code] : rt === "bun" ? ["-e", code] : [
    "--input-type=module",
    "-e",
    code,
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let markReady!: () => void;
  const ready = new Promise<void>((r) => markReady = r);
  const onData = (d: Uint8Array) => {
    out += new TextDecoder().decode(d);
    if (out.includes("ready")) markReady();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  return {
    ready,
    get done() {
      return out.includes("done");
    },
    exited,
    output: () => out,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
}

describe("serveWebSocket reliability: floods", () => {
  test("slowloris, garbage floods and abrupt drops are handled: a real client opens and echoes meanwhile, every flood socket is cut, errors go to onError, close() is prompt", async () => {
    const errors = new Map<string, number>();
    const tracker = new SocketTracker();
    const clients: WebSocketConnection[] = [];
    const server = await serveWebSocket({
      port: 0,
      hostname: "127.0.0.1",
      handshakeTimeout: HANDSHAKE_TIMEOUT,
      maxConnections: 5000,
      onError: (e) => errors.set(kindOf(e), (errors.get(kindOf(e)) ?? 0) + 1),
      handler: async (ws) => {
        for await (const msg of ws) {
          if (msg.type === "text") await ws.sendText(msg.text);
        }
      },
    });
    const port = server.addr.port;
    const url = `ws://127.0.0.1:${port}/real`;
    const stalled: RawSocket[] = [];
    const garbageSockets: RawSocket[] = [];
    const abrupt = {
      closedAtOnce: 0,
      halfThenReset: 0,
      upgradedThenDestroyed: 0,
      upgradedThenReset: 0,
    };
    try {
      /** One flood socket: of every 6, 4 stall, 1 sends garbage, 1 drops abruptly. */
      const floodOne = async (i: number) => {
        const slot = i % 6;
        if (slot === 2) {
          const j = garbageSockets.length;
          const raw = await connectRaw(port, tracker);
          keepFirstBytes(raw);
          garbageSockets.push(raw);
          await writeRaw(raw, garbage(j)); // false once the server cut it: expected
        } else if (slot === 4) {
          const j = (i - 4) / 6;
          switch (j % 4) {
            case 0: {
              const raw = await connectRaw(port, tracker);
              raw.destroy();
              abrupt.closedAtOnce++;
              break;
            }
            case 1: {
              const raw = await connectRaw(port, tracker);
              await writeRaw(raw, HALF_HEAD);
              raw.reset();
              abrupt.halfThenReset++;
              break;
            }
            default: {
              const raw = await rawUpgrade(port, tracker, i, () => {}, CLIENT_BOUND_MS);
              if (j % 4 === 2) {
                raw.destroy();
                abrupt.upgradedThenDestroyed++;
              } else {
                raw.reset();
                abrupt.upgradedThenReset++;
              }
            }
          }
        } else {
          const raw = await connectRaw(port, tracker);
          keepFirstBytes(raw);
          stalled.push(raw);
          await writeRaw(raw, HALF_HEAD);
        }
      };
      const total = STALLED + GARBAGE + ABRUPT;
      const floodStarted = performance.now();
      let floodMs = 0;
      const flood = runPool(total, CONNECT_CONCURRENCY, 60_000, floodOne).finally(() => {
        floodMs = performance.now() - floodStarted;
      });

      // The real client, once the flood is well under way.
      await waitFor(
        () => stalled.length >= STALLED / 2,
        30_000,
        "flood under way",
        () => `${stalled.length} stalled sockets`,
      );
      const inFlightAtOpen = server.connections;
      const t0 = performance.now();
      const ws = await within(
        connectWebSocket(url, {
          connectTimeout: CLIENT_BOUND_MS,
          handshakeTimeout: CLIENT_BOUND_MS,
        }),
        CLIENT_BOUND_MS,
        "real client open under flood",
      );
      clients.push(ws);
      const openMs = performance.now() - t0;
      // Echoes while the flood goes on (bounded in count, each bounded in time).
      const echoMs: number[] = [];
      let floodDone = false;
      void flood.then(() => floodDone = true, () => floodDone = true);
      for (let n = 0; n < 400 && (n === 0 || !floodDone); n++) {
        const e0 = performance.now();
        await within(ws.sendText(`echo ${n}`), CLIENT_BOUND_MS, `send ${n}`);
        const msg = await within(ws.recv(), CLIENT_BOUND_MS, `echo ${n} under flood`);
        assert.equal(msg?.type === "text" ? msg.text : msg?.type, `echo ${n}`);
        echoMs.push(performance.now() - e0);
        await sleep(25);
      }
      const pool = await within(flood, 60_000, "flood");
      assert.equal(pool.started, total, "the flood did not get to open every socket");
      assert.equal(
        pool.failed,
        0,
        `flood sockets failed to connect or upgrade: ${pool.firstError}`,
      );
      assert.equal(stalled.length, STALLED);
      assert.equal(garbageSockets.length, GARBAGE);
      assert.equal(
        abrupt.closedAtOnce + abrupt.halfThenReset + abrupt.upgradedThenDestroyed +
          abrupt.upgradedThenReset,
        ABRUPT,
      );

      // Every stalled socket is cut by the server (handshakeTimeout), none by us.
      await waitFor(
        () => stalled.every((s) => s.closedAt !== null),
        HANDSHAKE_TIMEOUT + 15_000,
        "stalled sockets cut by handshakeTimeout",
        () => `${stalled.filter((s) => s.closedAt === null).length} still open`,
      );
      assert.equal(stalled.filter((s) => s.destroyedByUs).length, 0);
      const cut = stalled.map((s) => s.closedAt! - s.connectedAt).sort((a, b) => a - b);
      // Every garbage socket is answered (or reset) and closed by the server.
      await waitFor(
        () => garbageSockets.every((s) => s.closedAt !== null),
        15_000,
        "garbage sockets closed by the server",
        () => `${garbageSockets.filter((s) => s.closedAt === null).length} still open`,
      );
      assert.equal(garbageSockets.filter((s) => s.destroyedByUs).length, 0);
      const answered4xx = garbageSockets.filter((s) =>
        /^HTTP\/1\.1 4\d\d /.test(s.firstBytes)
      ).length;
      const answeredOther = garbageSockets.filter((s) =>
        s.firstBytes !== "" && !/^HTTP\/1\.1 4\d\d /.test(s.firstBytes)
      );
      assert.deepEqual(
        answeredOther.map((s) => s.firstBytes),
        [],
        "garbage answered with a non-4xx",
      );
      // Stalled sockets got no answer at all: they were just dropped.
      assert.deepEqual(stalled.filter((s) => s.firstBytes !== "").map((s) => s.firstBytes), []);

      // Only the real client is left.
      const drainMs = await waitFor(
        () => server.connections === 1,
        15_000,
        "connections back to 1",
        () => `server.connections = ${server.connections}`,
      );
      await waitFor(() => tracker.size === 0, 5000, "client-side flood sockets closed", () =>
        `${tracker.size} open`);

      // onError saw the failed handshakes: every stalled one as a timeout,
      // every garbage one as a refusal; the server kept running.
      const timeouts = errors.get("TimeoutError:HANDSHAKE_TIMEOUT") ?? 0;
      const refusals = sum(errors, (k) =>
        k.startsWith("HandshakeError:"));
      assert.equal(timeouts, STALLED, `timeouts reported: ${JSON.stringify([...errors])}`);
      assert.ok(refusals >= GARBAGE, `refusals reported: ${JSON.stringify([...errors])}`);

      // The real client still works, and a new one opens at once.
      await ws.sendText("after the flood");
      const after = await within(ws.recv(), CLIENT_BOUND_MS, "echo after flood");
      assert.equal(after?.type === "text" ? after.text : after?.type, "after the flood");
      const t1 = performance.now();
      const fresh = await within(connectWebSocket(url), CLIENT_BOUND_MS, "fresh client open");
      clients.push(fresh);
      const freshOpenMs = performance.now() - t1;
      await fresh.sendText("fresh");
      const got = await within(fresh.recv(), CLIENT_BOUND_MS, "fresh echo");
      assert.equal(got?.type === "text" ? got.text : got?.type, "fresh");
      assert.equal(server.connections, 2);
      await within(Promise.all([ws.close(), fresh.close()]), CLIENT_BOUND_MS, "clients close");
      await waitFor(
        () =>
          server.connections === 0,
        5000,
        "connections back to 0",
        () =>
          `server.connections = ${server.connections}`,
      );
      assert.ok(pooledBytes() <= POOL_CAP_BYTES, `pool holds ${pooledBytes()} bytes`);

      const c0 = performance.now();
      await within(server.close(), 5000, "server.close()");
      const closeMs = performance.now() - c0;

      const sorted = [...echoMs].sort((a, b) => a - b);
      console.log(
        `[flood ${runtime()}] flood of ${total} sockets opened in ${floodMs.toFixed(0)} ms; ` +
          `${inFlightAtOpen} in flight when the real client connected; ` +
          `real client open ${openMs.toFixed(1)} ms; ${echoMs.length} echoes under flood: ` +
          `median ${sorted[sorted.length >> 1].toFixed(1)} ms, max ${
            sorted[sorted.length - 1].toFixed(1)
          } ms; ` +
          `fresh client after flood open ${freshOpenMs.toFixed(1)} ms`,
      );
      console.log(
        `[flood ${runtime()}] stalled cut after ${cut[0].toFixed(0)}–${
          cut[cut.length - 1].toFixed(0)
        } ms ` +
          `(median ${cut[cut.length >> 1].toFixed(0)}, handshakeTimeout ${HANDSHAKE_TIMEOUT}); ` +
          `garbage answered 4xx: ${answered4xx}/${GARBAGE}; abrupt ${JSON.stringify(abrupt)}; ` +
          `connections back to 1 ${drainMs.toFixed(0)} ms after the flood; close() ${
            closeMs.toFixed(1)
          } ms; ` +
          `pool ${mib(pooledBytes())}`,
      );
      console.log(`[flood ${runtime()}] onError: ${JSON.stringify(Object.fromEntries(errors))}`);
    } finally {
      tracker.destroyAll();
      for (const c of clients) c.abort();
      await within(server.close(), 10_000, "server.close() in finally");
    }
  });

  test("connections reset (RST) while still waiting in the accept queue do not stall accepting: a real client opens and echoes within 5 s afterwards", async () => {
    // A child process (the same runtime) connects RESETS sockets and resets
    // each one while this process is kept busy, so every RST lands before the
    // server accepted the connection; accepting such a connection fails on
    // some runtimes (Deno: NotConnected, ENOTCONN), and that failure must cost
    // the accept loop nothing.
    const RESETS = 300;
    const errors = new Map<string, number>();
    const clients: WebSocketConnection[] = [];
    const server = await serveWebSocket({
      port: 0,
      hostname: "127.0.0.1",
      handshakeTimeout: HANDSHAKE_TIMEOUT,
      onError: (e) => errors.set(kindOf(e), (errors.get(kindOf(e)) ?? 0) + 1),
      handler: async (ws) => {
        for await (const msg of ws) {
          if (msg.type === "text") await ws.sendText(msg.text);
        }
      },
    });
    const port = server.addr.port;
    const attacker = spawnResetter(port, RESETS);
    try {
      await within(attacker.ready, 15_000, "the resetting child process started");
      // Busy for 1.5 s: nothing is accepted while the child connects and resets.
      const until = performance.now() + 1500;
      while (performance.now() < until) { /* block the event loop */ }
      const childExit = await within(attacker.exited, 10_000, "the resetting child process exited");
      assert.equal(childExit, 0, `the child failed: ${attacker.output()}`);
      assert.ok(attacker.done, `the child did not reset all its sockets: ${attacker.output()}`);
      const t0 = performance.now();
      const ws = await within(
        connectWebSocket(`ws://127.0.0.1:${port}/after-resets`, {
          connectTimeout: CLIENT_BOUND_MS,
          handshakeTimeout: CLIENT_BOUND_MS,
        }),
        CLIENT_BOUND_MS,
        `real client open after ${RESETS} connections reset in the accept queue`,
      ).catch((e: unknown) => {
        throw new Error(
          `${
            e instanceof Error ? e.message : e
          }; server.connections = ${server.connections}, onError: ${
            JSON.stringify(Object.fromEntries(errors))
          }`,
        );
      });
      clients.push(ws);
      const openMs = performance.now() - t0;
      await ws.sendText("still there");
      const msg = await within(ws.recv(), CLIENT_BOUND_MS, "echo after resets");
      assert.equal(msg?.type === "text" ? msg.text : msg?.type, "still there");
      await within(ws.close(), CLIENT_BOUND_MS, "client close");
      await waitFor(
        () => server.connections === 0,
        10_000,
        "connections back to 0",
        () => `server.connections = ${server.connections}`,
      );
      const c0 = performance.now();
      await within(server.close(), 5000, "server.close()");
      console.log(
        `[flood ${runtime()}] ${RESETS} connections reset in the accept queue; real client open ` +
          `${openMs.toFixed(1)} ms after; close() ${(performance.now() - c0).toFixed(1)} ms; ` +
          `onError: ${JSON.stringify(Object.fromEntries(errors))}`,
      );
    } finally {
      attacker.kill();
      for (const c of clients) c.abort();
      await within(server.close(), 10_000, "server.close() in finally");
    }
  });
});
