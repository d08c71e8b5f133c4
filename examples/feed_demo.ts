/**
 * The resilient client riding through server restarts, in about 25 seconds
 * (10 with `--quick`): starts `feed_server.ts` as a child process on a free
 * loopback port, runs `feed_consumer.ts` in this process, then restarts the
 * server twice — once gracefully (SIGTERM: clients get close 1001), once by
 * crashing it (SIGKILL: connections just drop) — and stops by itself.
 *
 * Exits 0 when the consumer reconnected after each restart, re-authenticated,
 * re-subscribed and received trades again; non-zero otherwise.
 *
 * Run (any runtime):
 * - `deno run -A examples/feed_demo.ts`
 * - `bun examples/feed_demo.ts`
 * - `node --import tsx examples/feed_demo.ts`
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { startConsumer } from "./feed_consumer.ts";

const quick = process.argv.includes("--quick");
/** Milliseconds from the start: when each step happens. */
const plan = quick
  ? { graceful: 2_500, crash: 5_500, down: 700, end: 9_000 }
  : { graceful: 7_000, crash: 15_000, down: 1_500, end: 24_000 };
const HARD_LIMIT_MS = 55_000;
const serverPath = fileURLToPath(new URL("./feed_server.ts", import.meta.url));

/** The command that runs a TypeScript file on the runtime running this demo. */
function runtimeCommand(): string[] {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno) return [process.execPath, "run", "--allow-net", "--allow-env", "--allow-read"];
  if (g.Bun) return [process.execPath];
  return [process.execPath, ...process.execArgv]; // node --import tsx
}

interface Server {
  child: ChildProcess;
  port: number;
  exited: Promise<number | null>;
}

/** Starts feed_server.ts and waits for its `listening on ws://HOST:PORT` line. */
function startServer(port: number): Promise<Server> {
  const [cmd, ...pre] = runtimeCommand();
  const child = spawn(cmd, [...pre, serverPath, "--port", String(port)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error("the server did not start within 15 s")), 15_000);
    child.stdout!.on("data", (chunk: Uint8Array) => {
      seen += new TextDecoder().decode(chunk);
      const m = /listening on ws:\/\/[^\s]+:(\d+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), exited });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before listening: ${seen.trim()}`));
    });
  });
}

/** Stops a server child we started, by its pid, and waits for it to exit. */
async function stopServer(server: Server, signal: "SIGTERM" | "SIGKILL"): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill(signal);
  await server.exited;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The server child running now, so that every way out stops it. */
let server: Server | null = null;

async function main(): Promise<number> {
  const t0 = performance.now();
  const at = (ms: number) => sleep(Math.max(0, ms - (performance.now() - t0)));
  server = await startServer(0);
  const url = `ws://127.0.0.1:${server.port}/`;
  const consumer = startConsumer({ url });
  const say = (text: string) => consumer.note(`[demo] ${text}`);
  say(`feed server up on ${url} (pid ${server.child.pid}); consumer connecting`);
  const checks: string[] = [];
  let gaveUp: unknown = null;
  consumer.done.catch((e) => (gaveUp = e));

  const restart = async (how: "graceful" | "crash") => {
    const before = consumer.stats();
    if (!before.connected) checks.push(`not connected before the ${how} restart`);
    say(
      how === "graceful"
        ? "restarting the server gracefully (SIGTERM: clients get close 1001)"
        : "crashing the server (SIGKILL: connections drop without a close frame)",
    );
    const port = server!.port;
    await stopServer(server!, how === "graceful" ? "SIGTERM" : "SIGKILL");
    server = null;
    say(`server down for ${(plan.down / 1000).toFixed(1)} s`);
    await sleep(plan.down);
    server = await startServer(port);
    say(`server back on the same port (pid ${server.child.pid})`);
    return before.reconnects;
  };

  try {
    await at(plan.graceful);
    const r1 = await restart("graceful");
    await at(plan.crash);
    const after1 = consumer.stats();
    if (after1.reconnects <= r1) checks.push("no reconnect after the graceful restart");
    if (after1.tradesSinceConnect === 0) checks.push("no trades after the graceful restart");
    const r2 = await restart("crash");
    await at(plan.end);
    const end = consumer.stats();
    if (end.reconnects <= r2) checks.push("no reconnect after the crash");
    if (!end.connected) checks.push("not connected at the end");
    if (end.tradesSinceConnect === 0) checks.push("no trades after the crash");
    if (end.outOfOrder > 0) checks.push(`${end.outOfOrder} trades out of order`);
    if (gaveUp) checks.push(`the client gave up: ${String(gaveUp)}`);
    const final = await consumer.stop();
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    const verdict = checks.length === 0 ? "OK" : `FAILED: ${checks.join("; ")}`;
    console.log(
      `[demo] ${secs} s, 2 server restarts (graceful, crash): ${final.reconnects} reconnects, ` +
        `${final.trades} trades, ${final.missed} missed while the server was down ` +
        `(${final.gaps} gaps), connected at the end: ${end.connected ? "yes" : "no"} → ${verdict}`,
    );
    return checks.length === 0 ? 0 : 1;
  } finally {
    await consumer.stop().catch(() => {});
    if (server) await stopServer(server, "SIGTERM");
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    server?.child.kill("SIGKILL");
    process.exit(130);
  });
}
const watchdog = setTimeout(() => {
  console.error(`[demo] did not finish within ${HARD_LIMIT_MS / 1000} s`);
  server?.child.kill("SIGKILL");
  process.exit(2);
}, HARD_LIMIT_MS);
main().then(
  (code) => {
    clearTimeout(watchdog);
    process.exit(code);
  },
  (error) => {
    console.error(`[demo] failed: ${error instanceof Error ? error.stack : String(error)}`);
    server?.child.kill("SIGKILL");
    process.exit(1);
  },
);
