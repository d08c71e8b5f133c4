/**
 * Keeps the two manifests in step: `deno.json` (JSR) and `package.json` (npm)
 * must give the same version and the same export map. For every entry point
 * `deno.json` names the source file; `package.json` must point `bun` at that
 * same source and `types`/`import` at its build in `dist/`, in that order
 * (`types` first). Also checks the license and the JSR publish list.
 *
 * Usage: `node --import tsx scripts/check_package.ts` (run by `npm test`).
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";

const root = new URL("..", import.meta.url).pathname;
const read = (f: string) => JSON.parse(readFileSync(join(root, f), "utf8"));

/** What is wrong with the manifests, one line each (empty when they agree). */
export function manifestProblems(deno: Record<string, unknown>, npm: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (deno.name !== npm.name) problems.push(`name: deno.json ${deno.name} vs package.json ${npm.name}`);
  if (deno.version !== npm.version) {
    problems.push(`version: deno.json ${deno.version} vs package.json ${npm.version}`);
  }
  if (deno.license !== npm.license) {
    problems.push(`license: deno.json ${deno.license} vs package.json ${npm.license}`);
  }
  if (!existsSync(join(root, "LICENSE"))) problems.push("LICENSE file is missing");
  const denoExports = deno.exports as Record<string, string>;
  const npmExports = npm.exports as Record<string, string | Record<string, string>>;
  const npmKeys = Object.keys(npmExports).filter((k) => k !== "./package.json");
  if (JSON.stringify(Object.keys(denoExports)) !== JSON.stringify(npmKeys)) {
    problems.push(`export keys: deno.json [${Object.keys(denoExports)}] vs package.json [${npmKeys}]`);
  }
  for (const [key, source] of Object.entries(denoExports)) {
    if (!existsSync(join(root, source))) problems.push(`deno.json exports["${key}"]: ${source} does not exist`);
    const entry = npmExports[key];
    if (typeof entry !== "object") {
      problems.push(`package.json exports["${key}"] must be a conditions object`);
      continue;
    }
    const built = source.replace(/^\.\//, "./dist/").replace(/\.ts$/, "");
    const want = { types: `${built}.d.ts`, bun: source, import: `${built}.js` };
    if (JSON.stringify(entry) !== JSON.stringify(want)) {
      problems.push(`package.json exports["${key}"]: expected ${JSON.stringify(want)}, got ${JSON.stringify(entry)}`);
    }
  }
  const main = npmExports["."];
  if (typeof main === "object" && npm.types !== main.types) {
    problems.push(`package.json types ${npm.types} should be ${main.types}`);
  }
  const publish = (deno.publish ?? {}) as { include?: string[] };
  const include = JSON.stringify(publish.include ?? []);
  if (include !== JSON.stringify(["mod.ts", "src/**/*.ts", "README.md", "LICENSE"])) {
    problems.push(`deno.json publish.include should be the sources, README and LICENSE: got ${include}`);
  }
  if (Object.keys((npm.dependencies ?? {}) as object).length > 0) problems.push("package.json has runtime dependencies");
  return problems;
}

if (process.argv[1]?.endsWith("check_package.ts")) {
  const problems = manifestProblems(read("deno.json"), read("package.json"));
  for (const p of problems) console.error(`check_package: ${p}`);
  if (problems.length > 0) process.exit(1);
  console.log("check_package: deno.json and package.json agree (version, license, export map)");
}
