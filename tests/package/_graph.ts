/**
 * The static import graph of a module file: what evaluating it evaluates,
 * before any dynamic `import()` runs. Used to prove that an entry point
 * never pulls in another runtime's adapter.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** The runtime adapters (sources and builds) that only their own runtime may evaluate. */
export const ADAPTER_FILES: readonly string[] = [
  "transports/node", "transports/node_socket", "transports/node_upgrade",
  "transports/deno", "transports/deno_conn",
  "transports/bun", "transports/bun_socket",
].flatMap((f) => [`${f}.ts`, `${f}.js`]);

// A static `import … from "x"`, `export … from "x"` or bare `import "x"` at the
// start of a line (JSDoc example lines start with " * " and are not matched).
// `import type` and `export type` are erased, so they are skipped.
const STATIC = /^(import|export)\s+(?!type\s)(?:[\w\s{},*$]*?\bfrom\s*)?["']([^"']+)["']/gm;

/** Every file `start` statically reaches (itself included) and the node builtins it names. */
export function staticClosure(start: string): { files: string[]; builtins: string[] } {
  const files = new Set<string>();
  const builtins = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(STATIC)) {
      const spec = m[2]!;
      if (spec.startsWith("node:")) builtins.add(spec);
      else if (spec.startsWith(".")) visit(resolve(dirname(file), spec));
      else throw new Error(`${file} imports the bare specifier ${spec}: the package has no dependencies`);
    }
  };
  visit(start);
  return { files: [...files], builtins: [...builtins] };
}
