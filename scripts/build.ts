/**
 * Builds the npm package's JavaScript: ESM `.js`, `.d.ts` and their maps in
 * `dist/`, from the same sources JSR publishes, with tsc
 * (`tsconfig.build.json`; relative `.ts` imports become `.js`). `npm pack`
 * runs it through `prepack`.
 *
 * Usage: `npm run build`
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";

const root = new URL("..", import.meta.url).pathname;
rmSync(join(root, "dist"), { recursive: true, force: true });
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const r = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], {
  cwd: root,
  stdio: "inherit",
});
if (r.status !== 0) {
  console.error(`build failed: tsc exited with ${r.status ?? r.signal}`);
  process.exit(1);
}
console.log("built dist/");
