/**
 * The README's demo command, proven: `examples/feed_demo.ts --quick` under
 * the runtime running this test starts the feed server as a child process,
 * restarts it twice (gracefully, then by crashing it), and must exit 0 with
 * the consumer reconnected after each restart.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

const demo = fileURLToPath(new URL("../../examples/feed_demo.ts", import.meta.url));
const LIMIT_MS = 45_000;

/** The demo command for this runtime, as the README gives it. */
function command(): string[] {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno) return [process.execPath, "run", "-A", demo, "--quick"];
  if (g.Bun) return [process.execPath, demo, "--quick"];
  return [process.execPath, "--import", "tsx", demo, "--quick"];
}

function runDemo(): Promise<{ code: number | null; output: string; ms: number }> {
  const started = performance.now();
  const [cmd, ...args] = command();
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const append = (chunk: Uint8Array) => void (output += new TextDecoder().decode(chunk));
  child.stdout.on("data", append);
  child.stderr.on("data", append);
  return new Promise((resolve) => {
    // The demo stops its own server child on SIGTERM.
    const timer = setTimeout(() => child.kill("SIGTERM"), LIMIT_MS);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: performance.now() - started });
    });
  });
}

describe("feed demo", () => {
  test("feed_demo.ts --quick rides through a graceful restart and a crash of the server and exits 0", async () => {
    const { code, output, ms } = await runDemo();
    assert.equal(code, 0, output);
    assert.ok(ms < LIMIT_MS, `took ${Math.round(ms)} ms`);
    const summary = /\[demo\] .* (\d+) reconnects, (\d+) trades, (\d+) missed .* → OK/.exec(output);
    assert.ok(summary, output);
    assert.ok(Number(summary[1]) >= 2, `reconnects: ${summary[1]}`);
    assert.ok(Number(summary[2]) > 0);
    assert.match(output, /disconnected c1: peer closed: 1001/);
    assert.match(output, /code 1006/);
    assert.match(output, /re-authenticated and re-subscribed/);
  });
});
