/**
 * The whole test pipeline: type-check, lint, doc-lint, then every test file
 * under Deno, Bun and Node. Prints each runtime's counts and ends with one line
 * `N passed, N failed` over all runtimes; exits non-zero on any failure.
 *
 * Usage: `node --import tsx scripts/test_all.ts [--only deno,bun,node] [--skip-checks] [filter…]`
 * where each filter is a substring of the test file paths to run.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const bin = (name: string) => join(root, "node_modules", ".bin", name);
const RUNTIME_TIMEOUT_MS = 8 * 60_000;
const CHECK_TIMEOUT_MS = 4 * 60_000;
/** The package's entry points (deno.json `exports`), checked and doc-linted one by one. */
const ENTRY_POINTS = Object.values(
  JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).exports as Record<string, string>,
);

interface RunResult {
  code: number;
  output: string;
  timedOut: boolean;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    console.log(`\n$ ${[relative(root, cmd) || cmd, ...args].join(" ")}`);
    const child = spawn(cmd, args, {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let output = "";
    let timedOut = false;
    const onData = (d: Buffer) => {
      const s = d.toString();
      output += s;
      process.stdout.write(s);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const timer = setTimeout(() => {
      timedOut = true;
      console.log(`\n!! ${cmd} exceeded ${timeoutMs} ms; killing its process group`);
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch { /* already gone */ }
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, output, timedOut });
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: 127, output: String(err), timedOut });
    });
  });
}

/** Every `.ts` file under `dir`, relative to the repo root. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .sort()
    .map((f) => relative(root, join(dir, f)));
}

function findTests(dir: string, filters: string[]): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path, filters));
    else if (name.endsWith("_test.ts")) {
      const rel = relative(root, path);
      if (filters.length === 0 || filters.some((f) => rel.includes(f))) out.push(rel);
    }
  }
  return out;
}

interface Counts {
  passed: number;
  failed: number;
}

function num(s: string | undefined): number {
  return s === undefined ? 0 : Number(s);
}

function parseDeno(out: string): Counts | null {
  // "ok | 3 passed (12 steps) | 0 failed" — describe blocks are tests, their tests are steps.
  const m = /(\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?/.exec(out);
  if (!m) return null;
  const passed = m[2] !== undefined ? num(m[2]) : num(m[1]);
  const failedSteps = num(m[4]);
  const failedTop = num(m[3]);
  // A describe that fails outside any step (e.g. import error) has no failed step.
  return { passed, failed: failedSteps > 0 ? failedSteps : failedTop };
}

function parseBun(out: string): Counts | null {
  const p = /^\s*(\d+) pass$/m.exec(out);
  const f = /^\s*(\d+) fail$/m.exec(out);
  if (!p && !f) return null;
  return { passed: num(p?.[1]), failed: num(f?.[1]) };
}

function parseNode(out: string): Counts | null {
  const p = /^# pass (\d+)$/m.exec(out);
  const f = /^# fail (\d+)$/m.exec(out);
  const c = /^# cancelled (\d+)$/m.exec(out);
  if (!p) return null;
  return { passed: num(p[1]), failed: num(f?.[1]) + num(c?.[1]) };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let only = ["deno", "bun", "node"];
  let skipChecks = false;
  const filters: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--only") only = argv[++i].split(",");
    else if (argv[i] === "--skip-checks") skipChecks = true;
    else filters.push(argv[i]);
  }

  const problems: string[] = [];
  if (!skipChecks) {
    const checks: [string, string, string[]][] = [
      ["tsc --noEmit", bin("tsc"), ["--noEmit", "-p", "."]],
      // The shipped sources under the strictest flags users turn on (Bun and
      // source-loading users' tsc checks our .ts files with their own flags).
      ["tsc strict sources", bin("tsc"), ["--noEmit", "-p", "tsconfig.strict.json"]],
      ["deno check", bin("deno"), [
        "check",
        ...ENTRY_POINTS,
        "examples/",
        "bench/",
        "scripts/",
      ]],
      // Every JSDoc example and every README code block compiles.
      ["deno check --doc-only", bin("deno"), ["check", "--doc-only", "README.md", ...sourceFiles(join(root, "src"))]],
      ["deno lint", bin("deno"), ["lint"]],
      // Each entry point on its own, as JSR documents it. --no-npm: the sources
      // import no npm package, and without it deno doc also reads the
      // @types/node that package.json lists (59 spurious resolution warnings).
      ...ENTRY_POINTS.map((e): [string, string, string[]] => [
        `deno doc --lint ${e}`,
        bin("deno"),
        ["doc", "--lint", "--no-npm", e],
      ]),
      ["manifests agree", process.execPath, ["--import", "tsx", "scripts/check_package.ts"]],
    ];
    for (const [label, cmd, args] of checks) {
      const r = await run(cmd, args, CHECK_TIMEOUT_MS);
      if (r.code !== 0) problems.push(`${label} failed (exit ${r.code})`);
      // A check is clean only without warnings too (deno prints them and exits 0).
      else if (/^\S*Warning/m.test(r.output)) problems.push(`${label} printed warnings`);
    }
  }

  const files = findTests(join(root, "tests"), filters);
  if (files.length === 0) {
    console.log("no test files matched");
    return 1;
  }
  const runtimes: Record<string, [string, string[], (o: string) => Counts | null]> = {
    deno: [bin("deno"), ["test", "-A", ...files], parseDeno],
    bun: [bin("bun"), ["test", "--timeout", "60000", ...files.map((f) => "./" + f)], parseBun],
    node: [
      process.execPath,
      ["--import", "tsx", "--test", "--test-reporter=tap", ...files],
      parseNode,
    ],
  };

  const table: string[] = [];
  let passed = 0;
  let failed = 0;
  for (const name of only) {
    const [cmd, args, parse] = runtimes[name];
    const r = await run(cmd, args, RUNTIME_TIMEOUT_MS);
    const counts = parse(r.output);
    if (!counts) {
      problems.push(`${name}: could not read the test counts (exit ${r.code})`);
      failed += 1;
      table.push(`${name.padEnd(5)} no counts (exit ${r.code}${r.timedOut ? ", timed out" : ""})`);
      continue;
    }
    if (r.code !== 0 && counts.failed === 0) {
      problems.push(
        `${name}: exit ${r.code} with no failed test reported${r.timedOut ? " (timed out)" : ""}`,
      );
      counts.failed = 1;
    }
    passed += counts.passed;
    failed += counts.failed;
    table.push(`${name.padEnd(5)} ${counts.passed} passed, ${counts.failed} failed`);
  }

  console.log("\n== sluice test summary ==");
  for (const line of table) console.log(line);
  for (const p of problems) console.log(`problem: ${p}`);
  if (problems.length > 0 && failed === 0) failed = problems.length;
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 && problems.length === 0 ? 0 : 1;
}

process.exitCode = await main();
