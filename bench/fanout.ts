/**
 * The server at scale: N idle WebSocket connections (default 10,000) held by
 * sluice's server and, in the same run, by the reference servers of this
 * runtime (`ws` on Node, `Bun.serve` on Bun, `Deno.serve` on Deno); then
 * fan-out of C × S-byte text messages (default 20 × 64 B) to all of them.
 *
 *   node --import tsx bench/fanout.ts     bun bench/fanout.ts     deno run -A bench/fanout.ts
 *   options: --connections N, --rounds R (fan-out rounds per peer, median reported),
 *            --repeats K (peers take turns K times), --peers a,b (sluice, sluice-loop, ws, bun, deno),
 *            --count C, --size S, --quick (1,000 connections)
 *
 * Each server runs in a process of its own (bench/_fanout_server.ts) so its
 * memory is its own: memory per connection = (RSS after N connections − RSS
 * before any) / N, both after a full GC. The clients are raw upgraded
 * sockets in a separate Node process (bench/_fanout_clients.ts), 200
 * handshakes in flight; "accept N" is the time from the first connect to the
 * last 101. Fan-out: the client is told how many bytes each socket must
 * receive, the server publishes, and msgs/s delivered = N × C / (time until
 * every socket has every byte). Everything is bounded in count and time.
 * On Node the sluice server runs the npm build (dist/, built first), as Node
 * users run it.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { median, runtimeName, runtimeVersion } from "./_harness.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const quick = args.includes("--quick");
const N = Number(flag("--connections", quick ? "1000" : "10000"));
const ROUNDS = Number(flag("--rounds", "5"));
const REPEATS = Number(flag("--repeats", "1"));
const COUNT = Number(flag("--count", "20"));
const SIZE = Number(flag("--size", "64"));
const runtime = runtimeName();
const reference = { node: "ws", bun: "bun", deno: "deno" }[runtime];
const PEERS = flag("--peers", `sluice,${reference}`).split(",");
const STEP_LIMIT_MS = 180_000;

const serverFile = fileURLToPath(new URL("./_fanout_server.ts", import.meta.url));
const clientFile = fileURLToPath(new URL("./_fanout_clients.ts", import.meta.url));
const root = fileURLToPath(new URL("..", import.meta.url));

/** This runtime's command for a TypeScript file, with GC exposed. */
function runtimeCommand(file: string): string[] {
  const d = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (d) return [d.execPath(), "run", "-A", "--v8-flags=--expose-gc", file];
  if (runtime === "bun") return [process.execPath, file];
  return [process.execPath, "--expose-gc", "--import", "tsx", file];
}

/** A child process spoken to in JSON lines. */
class Child {
  readonly #proc: ChildProcess;
  #buf = "";
  #waiters: ((v: Record<string, unknown>) => void)[] = [];
  #lines: Record<string, unknown>[] = [];
  #stderr = "";

  constructor(cmd: string[], what: string) {
    this.#proc = spawn(cmd[0]!, cmd.slice(1), { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
    this.#proc.stdout!.on("data", (d: Uint8Array) => {
      this.#buf += new TextDecoder().decode(d);
      for (let nl = this.#buf.indexOf("\n"); nl >= 0; nl = this.#buf.indexOf("\n")) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line);
        } catch {
          continue; // a stray log line
        }
        const w = this.#waiters.shift();
        if (w) w(msg);
        else this.#lines.push(msg);
      }
    });
    this.#proc.stderr!.on("data", (d: Uint8Array) => void (this.#stderr += new TextDecoder().decode(d)));
    this.#proc.on("exit", (code) => {
      if (code !== 0 && code !== null) console.error(`${what} exited with ${code}: ${this.#stderr}`);
    });
  }

  /** The next line the child prints (bounded). */
  next(): Promise<Record<string, unknown>> {
    const ready = this.#lines.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer in ${STEP_LIMIT_MS} ms: ${this.#stderr}`)), STEP_LIMIT_MS);
      this.#waiters.push((v) => {
        clearTimeout(timer);
        resolve(v);
      });
    });
  }

  send(msg: unknown): void {
    this.#proc.stdin!.write(JSON.stringify(msg) + "\n");
  }

  async ask(msg: unknown): Promise<Record<string, unknown>> {
    this.send(msg);
    return await this.next();
  }

  stop(): void {
    try {
      this.send({ cmd: "exit" });
    } catch { /* gone */ }
    const pid = this.#proc.pid;
    setTimeout(() => {
      if (this.#proc.exitCode === null && pid !== undefined) {
        try {
          process.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
    }, 2000).unref?.();
  }
}

interface Result {
  peer: string;
  bytesPerConn: number;
  acceptMs: number;
  msgsPerSec: number;
}

// Node users run the npm build, not the sources through tsx: build it once.
const useDist = runtime === "node";
if (useDist) {
  const { spawnSync } = await import("node:child_process");
  const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/build.ts"], { cwd: root, stdio: "ignore" });
  if (r.status !== 0) throw new Error("npm run build failed");
}

async function runPeer(peer: string): Promise<Result> {
  const extra = useDist ? ["--dist"] : [];
  const server = new Child([...runtimeCommand(serverFile), "--peer", peer, ...extra], `server ${peer}`);
  const client = new Child([process.platform === "win32" ? "node.exe" : "node", "--import", "tsx", clientFile], "clients");
  try {
    const ready = await server.next();
    await client.next();
    const port = ready.port as number;
    const before = await server.ask({ cmd: "mem" });
    const opened = await client.ask({ cmd: "open", port, count: N, inflight: 200 });
    if ((opened.failed as number) > 0) throw new Error(`${peer}: ${opened.failed} connections failed: ${opened.firstError}`);
    const waited = await server.ask({ cmd: "wait", connections: N });
    if (!waited.ok) throw new Error(`${peer}: the server saw ${waited.connections} of ${N} connections`);
    const after = await server.ask({ cmd: "mem" });
    const times: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      client.send({ cmd: "expect", bytes: COUNT * (SIZE + 2) });
      const armed = await client.next();
      if (!armed.armed) throw new Error(`${peer}: client not armed: ${JSON.stringify(armed)}`);
      const started = performance.now();
      server.send({ cmd: "publish", count: COUNT, size: SIZE });
      const done = await client.next();
      const ms = performance.now() - started;
      if (!done.ok) throw new Error(`${peer}: ${done.error}`);
      await server.next(); // the publish answer
      times.push(ms);
    }
    await client.ask({ cmd: "close" });
    return {
      peer,
      bytesPerConn: ((after.rss as number) - (before.rss as number)) / N,
      acceptMs: opened.ms as number,
      msgsPerSec: (N * COUNT) / (median(times) / 1000),
    };
  } finally {
    server.stop();
    client.stop();
  }
}

const results = new Map<string, Result[]>();
for (let rep = 0; rep < REPEATS; rep++) {
  for (const peer of PEERS) {
    const r = await runPeer(peer);
    console.log(
      `  ${peer}: ${(r.bytesPerConn / 1024).toFixed(1)} KB/conn, accept ${N} in ${(r.acceptMs / 1000).toFixed(2)} s, ` +
        `fan-out ${(r.msgsPerSec / 1000).toFixed(0)} k msgs/s`,
    );
    results.set(peer, [...(results.get(peer) ?? []), r]);
    // Let the closed sockets of this peer leave the kernel before the next.
    await new Promise((res) => setTimeout(res, 1000));
  }
}

const med = (peer: string, key: keyof Omit<Result, "peer">) => median(results.get(peer)!.map((r) => r[key]));
const ref = PEERS.includes(reference) ? reference : PEERS.at(-1)!;
console.log(
  `\nfan-out: ${N} connections, ${COUNT} × ${SIZE} B text per round, ${ROUNDS} rounds, ${REPEATS} repeat(s) — ${runtimeVersion()}`,
);
console.log("| server | memory per connection | accepting N | fan-out msgs/s delivered | vs " + ref + ": memory / accept time / fan-out |");
console.log("|---|---:|---:|---:|---|");
for (const peer of PEERS) {
  const kb = med(peer, "bytesPerConn") / 1024;
  const acc = med(peer, "acceptMs");
  const rate = med(peer, "msgsPerSec");
  const ratios = `${(med(peer, "bytesPerConn") / med(ref, "bytesPerConn")).toFixed(2)}x / ` +
    `${(acc / med(ref, "acceptMs")).toFixed(2)}x / ${(rate / med(ref, "msgsPerSec")).toFixed(2)}x`;
  console.log(`| ${peer} | ${kb.toFixed(1)} KB | ${(acc / 1000).toFixed(2)} s | ${(rate / 1000).toFixed(0)} k | ${ratios} |`);
}
process.exit(0);
