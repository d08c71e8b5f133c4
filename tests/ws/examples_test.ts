/**
 * The example programs run as written on the current runtime: the echo
 * server is spawned, talked to and stopped by PID with SIGTERM and SIGINT;
 * the Autobahn client runs against a small fake fuzzing server.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { serveWebSocket } from "../../src/server/serve.ts";
import {
  closeCodeOf,
  encodeFrame,
  encodeFrames,
  OP,
  rawClient,
  withRawServer,
} from "../_helpers/raw_peer.ts";
import { connectWebSocket } from "../../src/ws/client.ts";
import { assertBytes, within } from "./_conformance.ts";
import { noise } from "./_cases_limits.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** How to run a TypeScript file with the runtime running this test. */
function runtimeCommand(script: string): { cmd: string; args: string[] } {
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (deno) return { cmd: deno.execPath(), args: ["run", "-A", script] };
  if ("Bun" in globalThis) return { cmd: process.execPath, args: [script] };
  return { cmd: process.execPath, args: ["--import", "tsx", script] };
}

/** A spawned example with its output collected. */
interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

function start(script: string, args: string[]): Running {
  const { cmd, args: pre } = runtimeCommand(script);
  const child = spawn(cmd, [...pre, ...args], {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => out += String(d));
  child.stderr!.on("data", (d) => err += String(d));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Kills a still-running child by its PID (cleanup only). */
async function stopForSure(r: Running): Promise<void> {
  if (r.child.exitCode === null && r.child.signalCode === null && r.child.pid !== undefined) {
    try {
      process.kill(r.child.pid, "SIGKILL");
    } catch { /* already gone */ }
  }
  await within(r.exited, 10_000, "child exit");
}

/** Waits for the echo server's ready line and returns its port. */
async function waitListening(r: Running, timeoutMs = 30_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const m = /^listening on ws:\/\/127\.0\.0\.1:(\d+)$/m.exec(r.stdout());
    if (m) return Number(m[1]);
    if (r.child.exitCode !== null) {
      assert.fail(`echo_server exited with ${r.child.exitCode}: ${r.stderr()}`);
    }
    assert.ok(performance.now() < deadline, `no "listening on" line: ${r.stdout()} ${r.stderr()}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

describe("examples run as written on this runtime", () => {
  test("echo_server.ts prints exactly 'listening on ws://HOST:PORT', echoes text and 1 MiB binary byte-exact, fails a bad client with 1002, and stops on SIGTERM with 1001 and exit status 0", async () => {
    const r = start("examples/echo_server.ts", ["--host", "127.0.0.1", "--port", "0"]);
    try {
      const port = await waitListening(r);
      assert.equal(r.stdout(), `listening on ws://127.0.0.1:${port}\n`);
      const ws = await connectWebSocket(`ws://127.0.0.1:${port}/`);
      const text = "héllo wörld ☃ 🚀";
      await ws.sendText(text);
      const t = await within(ws.recv(), 5000, "text echo");
      assert.equal(t?.type === "text" && t.text, text);
      const big = noise(1 << 20, 9);
      await ws.sendBinary(big);
      const b = await within(ws.recv(), 5000, "binary echo");
      assert.ok(b?.type === "binary");
      assertBytes(b.data, big, "1 MiB binary echo");
      // A client breaking the protocol is failed alone; the server keeps serving.
      const bad = await rawClient(port);
      await bad.send(encodeFrame({ opcode: OP.text, payload: "unmasked" }, null));
      const f = await bad.nextFrame();
      assert.ok(f && closeCodeOf(f) === 1002);
      bad.destroy();
      // The echo loop keeps reading while the server shuts down.
      const loop = (async () => {
        for await (const _ of ws) { /* nothing more is sent */ }
      })();
      process.kill(r.child.pid!, "SIGTERM");
      const info = await within(ws.closed, 10_000, "close on SIGTERM");
      assert.equal(info.code, 1001);
      await loop;
      assert.deepEqual(await within(r.exited, 10_000, "exit"), { code: 0, signal: null });
    } finally {
      await stopForSure(r);
    }
  });

  test("echo_server.ts stops cleanly on SIGINT (exit status 0)", async () => {
    const r = start("examples/echo_server.ts", ["--port=0"]);
    try {
      await waitListening(r);
      process.kill(r.child.pid!, "SIGINT");
      assert.deepEqual(await within(r.exited, 10_000, "exit"), { code: 0, signal: null });
    } finally {
      await stopForSure(r);
    }
  });

  test("chat_server.ts: a text goes to everyone else in the room, joins and leaves are announced, /health answers JSON on the same port", async () => {
    const r = start("examples/chat_server.ts", ["--host", "127.0.0.1", "--port", "0"]);
    try {
      const port = await waitListening(r);
      const url = `ws://127.0.0.1:${port}/`;
      const text = async (ws: Awaited<ReturnType<typeof connectWebSocket>>) => {
        const m = await within(ws.recv(), 5000, "a chat line");
        return m?.type === "text" ? m.text : `unexpected ${m?.type}`;
      };
      const a = await connectWebSocket(url);
      const b = await connectWebSocket(url);
      assert.equal(await text(a), "guest2 joined");
      await b.sendText("hi all");
      assert.equal(await text(a), "guest2: hi all");
      const c = await connectWebSocket(url);
      assert.equal(await text(a), "guest3 joined");
      assert.equal(await text(b), "guest3 joined");
      await a.sendText("welcome");
      assert.equal(await text(b), "guest1: welcome");
      assert.equal(await text(c), "guest1: welcome");
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(health.status, 200);
      const body = await health.json() as { ok: boolean; connections: number; subscriptions: number };
      assert.deepEqual([body.ok, body.subscriptions], [true, 3]);
      // Three WebSockets and the connection this request came on.
      assert.ok(body.connections >= 4, `connections: ${body.connections}`);
      assert.equal((await fetch(`http://127.0.0.1:${port}/nope`).then((res) => res.status)), 404);
      await c.close();
      assert.equal(await text(a), "guest3 left");
      await a.close();
      await b.close();
    } finally {
      await stopForSure(r);
    }
  });

  test("autobahn_client.ts runs getCaseCount, every runCase echoing, and updateReports against a fake fuzzing server", async () => {
    const visits: string[] = [];
    const checks: string[] = [];
    const check = (ok: boolean, what: string) => checks.push(`${ok ? "ok" : "BAD"} ${what}`);
    const server = await serveWebSocket({
      port: 0,
      handler: async (ws) => {
        const url = new URL(ws.request.path, "ws://x");
        visits.push(`${url.pathname}${url.search}`);
        if (url.pathname === "/getCaseCount") {
          await ws.sendText("3");
          await ws.close(1000);
        } else if (url.pathname === "/runCase") {
          const n = Number(url.searchParams.get("case"));
          const payloads: (string | Uint8Array)[] = n === 1
            ? ["Hello, world!", "κόσμε"]
            : n === 2
            ? [noise(256, 2), noise(70_000, 3)]
            : ["", noise(0), "x".repeat(200_000)];
          for (const [i, p] of payloads.entries()) {
            if (typeof p === "string") await ws.sendText(p);
            else await ws.sendBinary(p);
            const back = await ws.recv();
            const same = typeof p === "string"
              ? back?.type === "text" && back.text === p
              : back?.type === "binary" && back.data.length === p.length &&
                back.data.every((x, j) => x === p[j]);
            check(same, `case ${n} message ${i}`);
          }
          if (n === 2) {
            // Pongs are answered while the client reads.
            const rtt = ws.ping();
            const reading = ws.recv();
            check(typeof (await rtt) === "number", `case ${n} ping`);
            await ws.close(1000);
            await reading;
          } else await ws.close(1000);
        } else if (url.pathname === "/updateReports") {
          await ws.close(1000);
        } else {
          await ws.close(1008, "unknown path");
        }
      },
    });
    const r = start("examples/autobahn_client.ts", [
      "--url",
      `ws://127.0.0.1:${server.addr.port}`,
      "--agent",
      "sluice test",
    ]);
    try {
      const exit = await within(r.exited, 60_000, "autobahn_client exit");
      assert.deepEqual(exit, { code: 0, signal: null }, r.stderr());
      assert.deepEqual(visits, [
        "/getCaseCount",
        "/runCase?case=1&agent=sluice%20test",
        "/runCase?case=2&agent=sluice%20test",
        "/runCase?case=3&agent=sluice%20test",
        "/updateReports?agent=sluice%20test",
      ]);
      assert.deepEqual(checks.filter((c) => !c.startsWith("ok")), [], checks.join("\n"));
      assert.equal(checks.length, 8);
      assert.match(r.stdout(), /^3 cases$/m);
      assert.match(r.stdout(), /^case 3\/3: closed 1000 in \d+ ms$/m);
      assert.match(r.stdout(), /^reports updated$/m);
    } finally {
      await stopForSure(r);
      await server.close();
    }
  });

  test("autobahn_client.ts fails a case whose frames break the protocol with 1002 and goes on (raw fuzzing server)", async () => {
    await withRawServer(async (server) => {
      const r = start("examples/autobahn_client.ts", ["--url", `ws://127.0.0.1:${server.port}/`]);
      try {
        const paths: string[] = [];
        const closeFrame = (code: number) =>
          encodeFrame({ opcode: OP.close, payload: Uint8Array.of(code >> 8, code & 0xff) }, null);
        const next = async () => {
          const peer = await server.accept({ timeoutMs: 30_000 });
          paths.push(peer.request.startLine.split(" ")[1]);
          return peer;
        };
        // getCaseCount: one text message, then the close handshake.
        let peer = await next();
        await peer.send(encodeFrames([{ opcode: OP.text, payload: "2" }], null));
        assert.equal(closeCodeOf((await peer.nextFrame())!), 1000);
        await peer.send(closeFrame(1000));
        peer.end();
        // Case 1: a text frame with RSV1 set: the client fails it with 1002.
        peer = await next();
        await peer.send(encodeFrames([{ opcode: OP.text, payload: "bad", rsv: 4 }], null));
        assert.equal(closeCodeOf((await peer.nextFrame())!), 1002);
        peer.end();
        // Case 2: echoed (masked), then closed by the server.
        peer = await next();
        await peer.send(encodeFrames([{ opcode: OP.text, payload: "still here" }], null));
        const echoed = await peer.nextFrame();
        assert.ok(echoed && echoed.masked && new TextDecoder().decode(echoed.payload) === "still here");
        await peer.send(closeFrame(1000));
        assert.equal(closeCodeOf((await peer.nextFrame())!), 1000);
        peer.end();
        // updateReports: closed by the server.
        peer = await next();
        await peer.send(closeFrame(1000));
        assert.equal(closeCodeOf((await peer.nextFrame())!), 1000);
        peer.end();
        const exit = await within(r.exited, 30_000, "autobahn_client exit");
        assert.deepEqual(exit, { code: 0, signal: null }, r.stderr());
        assert.deepEqual(paths, [
          "/getCaseCount",
          "/runCase?case=1&agent=sluice",
          "/runCase?case=2&agent=sluice",
          "/updateReports?agent=sluice",
        ]);
        assert.match(r.stdout(), /^case 1\/2: failed 1002: /m);
        assert.match(r.stdout(), /^case 2\/2: closed 1000 /m);
      } finally {
        await stopForSure(r);
      }
    });
  });
});
