/**
 * Command-line flags for the example programs: `--name value` or
 * `--name=value`, the same on Deno, Bun and Node.
 *
 * @module
 */
import process from "node:process";

/**
 * Reads `--name value` / `--name=value` flags from the command line.
 *
 * @param defaults Every accepted flag with its default value.
 * @returns The flags, defaults filled in.
 * @throws {TypeError} On an unknown flag or a flag without a value.
 */
export function parseFlags<T extends Record<string, string>>(defaults: T): T {
  const out: Record<string, string> = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m || !(m[1] in defaults)) {
      throw new TypeError(`unknown argument ${arg}; accepted: ${Object.keys(defaults).map((k) => `--${k}`).join(", ")}`);
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new TypeError(`--${m[1]} needs a value`);
    out[m[1]] = value;
  }
  return out as T;
}
