/**
 * The npm package as a user gets it: `npm pack`, installed from the tarball
 * into a temporary app outside the repo, then imported by its name under
 * plain `node`, `bun` and `deno`, type-checked with `nodenext`, `bundler` and
 * Bun-style (sources) resolution under strict flags, linted by publint, and
 * checked that no entry point evaluates another runtime's adapter at import.
 *
 * It spawns all three runtimes itself, so it runs in the Node pass of the
 * suite only (the Deno and Bun passes register nothing here).
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  ECHO_PROGRAM,
  ISOLATION_PROGRAM,
  NODE_ADAPTER_PROGRAM,
  RECORD_LOADS_HOOK,
  TSCONFIGS,
  TYPED_PROGRAM,
} from "./_app.ts";
import { ADAPTER_FILES, staticClosure } from "./_graph.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name: string) => join(root, "node_modules", ".bin", name);
const isNode = !("Deno" in globalThis) && !("Bun" in globalThis);
const ENTRY_POINTS = ["@sluice/net", "@sluice/net/core", "@sluice/net/node"] as const;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (bounded by `timeoutMs`, then killed by PID). */
function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, NO_COLOR: "1", npm_config_update_notifier: "false" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => stdout += String(d));
    child.stderr.on("data", (d) => stderr += String(d));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
      reject(new Error(`${cmd} ${args.join(" ")} took over ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function ok(cmd: string, args: string[], cwd: string, timeoutMs?: number): Promise<Ran> {
  const r = await run(cmd, args, cwd, timeoutMs);
  assert.equal(r.code, 0, `${relative(root, cmd) || cmd} ${args.join(" ")} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The last line of stdout, parsed as JSON. */
function lastJson<T>(r: Ran): T {
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(line) as T;
}

interface App {
  dir: string;
  pkgDir: string;
  tarball: string;
}

let appPromise: Promise<App> | null = null;
const tmpRoot = mkdtempSync(join(tmpdir(), "sluice-pack-"));

/** Packs the repo once and installs the tarball into a fresh app (memoized). */
function app(): Promise<App> {
  appPromise ??= (async () => {
    const packed = await ok("npm", ["pack", "--json", "--pack-destination", tmpRoot], root, 240_000);
    const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as { filename: string }[];
    const tarball = join(tmpRoot, info[0]!.filename);
    const dir = join(tmpRoot, "app");
    mkdirSync(dir);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    await ok("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], dir, 240_000);
    // The app's own dev dependency for typing node: (a Node user has it), from the repo's copy.
    mkdirSync(join(dir, "node_modules", "@types"), { recursive: true });
    symlinkSync(join(root, "node_modules", "@types", "node"), join(dir, "node_modules", "@types", "node"));
    symlinkSync(join(root, "node_modules", "undici-types"), join(dir, "node_modules", "undici-types"));
    writeFileSync(join(dir, "echo.mjs"), ECHO_PROGRAM);
    writeFileSync(join(dir, "node_adapter.mjs"), NODE_ADAPTER_PROGRAM);
    writeFileSync(join(dir, "isolated.mjs"), ISOLATION_PROGRAM);
    writeFileSync(join(dir, "record_loads.mjs"), RECORD_LOADS_HOOK);
    writeFileSync(join(dir, "typed.ts"), TYPED_PROGRAM);
    for (const [name, config] of Object.entries(TSCONFIGS)) {
      writeFileSync(join(dir, `tsconfig.${name}.json`), JSON.stringify(config, null, 2));
    }
    return { dir, pkgDir: join(dir, "node_modules", "@sluice", "net"), tarball };
  })();
  return appPromise;
}

/** How each runtime runs a plain `.mjs` file of the app. */
const runtimes: Record<string, (file: string) => [string, string[]]> = {
  node: (file) => [process.execPath, [file]],
  bun: (file) => [bin("bun"), [file]],
  // manual: use the app's node_modules as npm made it, never rewrite it.
  deno: (file) => [bin("deno"), ["run", "-A", "--node-modules-dir=manual", file]],
};

if (isNode) {
  describe("npm package: packed, installed into a fresh app, used by name", () => {
    after(() => rmSync(tmpRoot, { recursive: true, force: true }));

    test("the tarball holds the build (.js + .d.ts + maps), the sources and the docs, nothing else", async () => {
      const { pkgDir, tarball } = await app();
      const manifest = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
      assert.deepEqual(manifest.dependencies ?? {}, {}, "no runtime dependencies");
      for (const [key, target] of Object.entries(manifest.exports as Record<string, unknown>)) {
        const paths = typeof target === "string" ? [target] : Object.values(target as Record<string, string>);
        for (const p of paths) assert.ok(existsSync(join(pkgDir, p)), `exports["${key}"] → ${p} is in the tarball`);
      }
      const list = await ok("tar", ["-tzf", tarball], tmpRoot);
      const files = list.stdout.trim().split("\n").map((f) => f.replace(/^package\//, ""));
      const stray = files.filter((f) =>
        !/^dist\/.*\.(js|d\.ts|d\.ts\.map)$/.test(f) && !/^src\/.*\.ts$/.test(f) &&
        !["mod.ts", "package.json", "README.md", "LICENSE", "CHANGELOG.md"].includes(f)
      );
      assert.deepEqual(stray, [], "only the build, the sources and the docs ship");
      assert.ok(files.includes("dist/mod.js") && files.includes("dist/mod.d.ts") && files.includes("dist/mod.d.ts.map"));
      assert.ok(!files.some((f) => f.startsWith("tests/") || f.startsWith("bench/")));
      console.log(`tarball: ${files.length} files`);
    });

    for (const runtime of ["node", "bun", "deno"]) {
      test(`an echo round trip under plain ${runtime}, importing "@sluice/net" by name`, async () => {
        const { dir } = await app();
        const [cmd, args] = runtimes[runtime]!(join(dir, "echo.mjs"));
        const out = lastJson<Record<string, unknown>>(await ok(cmd, args, dir));
        assert.equal(out.runtime, runtime);
        assert.equal(out.reply, `echo:${runtime}`);
        assert.equal(out.closeCode, 1000);
        assert.equal(out.codec, "hi");
        assert.equal(out.errorClass, "function");
        // Bun takes the "bun" condition (the TypeScript sources); the others the built JS.
        const expected = runtime === "bun" ? "node_modules/@sluice/net/mod.ts" : "node_modules/@sluice/net/dist/mod.js";
        assert.ok(String(out.resolved).endsWith(expected), `${runtime} resolved ${out.resolved}`);
      });
    }

    test("@sluice/net/node attaches to a node:http server under plain node", async () => {
      const { dir } = await app();
      const out = lastJson<{ reply: string }>(await ok(process.execPath, [join(dir, "node_adapter.mjs")], dir));
      assert.equal(out.reply, "NODE ADAPTER");
    });

    for (const name of Object.keys(TSCONFIGS)) {
      test(`a user's strict TypeScript type-checks against the package (${name}, skipLibCheck false)`, async () => {
        const { dir } = await app();
        const r = await run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", `tsconfig.${name}.json`, "--listFilesOnly"], dir);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const checked = await run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", `tsconfig.${name}.json`], dir);
        assert.equal(checked.code, 0, `tsc (${name}) reported:\n${checked.stdout}${checked.stderr}`);
        // The types really came from the package: the declarations, or (Bun) the sources.
        const want = name === "sources" ? "node_modules/@sluice/net/mod.ts" : "node_modules/@sluice/net/dist/mod.d.ts";
        assert.ok(r.stdout.split("\n").some((f) => f.endsWith(want)), `tsc (${name}) read ${want}`);
      });
    }

    test("publint finds nothing to report (strict, suggestions included)", async () => {
      const { pkgDir } = await app();
      const { publint } = await import("publint");
      const { formatMessage } = await import("publint/utils");
      const { messages, pkg } = await publint({ pkgDir, level: "suggestion", strict: true, pack: false });
      const text = messages.map((m) => `${m.type}: ${formatMessage(m, pkg) ?? m.code}`);
      assert.deepEqual(text, []);
    });

    test("no entry point's static import graph reaches another runtime's adapter", async () => {
      const { pkgDir } = await app();
      for (const [entry, built, source] of [
        [".", "dist/mod.js", "mod.ts"],
        ["./core", "dist/src/core/mod.js", "src/core/mod.ts"],
        ["./node", "dist/src/node.js", "src/node.ts"],
      ] as const) {
        for (const start of [built, source]) {
          const { files, builtins } = staticClosure(join(pkgDir, start));
          const rel = files.map((f) => relative(pkgDir, f));
          const adapters = rel.filter((f) => ADAPTER_FILES.some((a) => f.endsWith(a)));
          if (entry === "./node") {
            // The node:http adapter is Node's own door: only node's socket code, never Deno's or Bun's.
            assert.deepEqual(adapters.filter((f) => /(deno|bun)/.test(f)), [], `${start} reaches ${adapters}`);
          } else {
            assert.deepEqual(adapters, [], `${start} statically imports adapters`);
            assert.deepEqual(builtins, [], `${start} statically imports node builtins`);
          }
          if (entry === "./core") {
            const outside = rel.filter((f) => !/^(dist\/)?src\/core\//.test(f));
            assert.deepEqual(outside, [], "the pure codecs import nothing outside the core");
          }
        }
      }
    });

    for (const runtime of ["node", "bun", "deno"]) {
      test(`each entry point imports under ${runtime} with the other runtimes' globals absent`, async () => {
        const { dir, pkgDir } = await app();
        for (const entry of ENTRY_POINTS) {
          const [cmd, args] = runtimes[runtime]!(join(dir, "isolated.mjs"));
          const out = lastJson<{ exports: number; loaded: string[] | null }>(await ok(cmd, [...args, entry], dir));
          assert.ok(out.exports > 0, `${entry} has exports on ${runtime}`);
          if (out.loaded === null) continue;
          // Node: the module hook saw every file the import evaluated.
          const ours = out.loaded.filter((u) => u.startsWith(pathToFileURL(pkgDir).href))
            .map((u) => relative(pkgDir, fileURLToPath(u)));
          assert.ok(ours.length > 0, "the hook saw the package load");
          const adapters = ours.filter((f) => ADAPTER_FILES.some((a) => f.endsWith(a)));
          const allowed = entry === "@sluice/net/node" ? adapters.filter((f) => /(deno|bun)/.test(f)) : adapters;
          assert.deepEqual(allowed, [], `${entry} evaluated adapter code at import on node`);
          const builtins = out.loaded.filter((u) => u.startsWith("node:") && !["node:module", "node:worker_threads", "node:process"].includes(u));
          if (entry !== "@sluice/net/node") assert.deepEqual(builtins, [], `${entry} loaded node builtins at import`);
        }
      });
    }
  });
}
