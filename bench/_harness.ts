/**
 * A small `performance.now()` benchmark harness shared by every bench file,
 * because `Deno.bench` exists only on Deno.
 *
 * - {@link measure} runs one function and returns its {@link Stats}.
 * - {@link compare} runs several cases interleaved (A B C, A B C, …) so that
 *   machine noise (other processes, thermal drift) hits every case alike.
 * - {@link printTable} prints ops/s, p50/p99 latency and the ratio of each row
 *   to a baseline row, under a line naming the runtime and its version.
 *
 * Every run is bounded by an iteration count or a duration, never open-ended.
 *
 * @module
 */

/** How long to run a case. Give `iterations` or `durationMs` (or both: first reached wins). */
export interface MeasureOptions {
  /** Calls per repeat. @default undefined (use durationMs) */
  iterations?: number;
  /** Time budget per repeat in ms. @default 1000 when iterations is not given */
  durationMs?: number;
  /** Independent repeats; throughput is reported as the median over them. @default 5 */
  repeats?: number;
  /** Untimed calls before the first repeat, to let the JIT settle. @default 20 */
  warmup?: number;
  /**
   * Operations one call performs (e.g. 10 pipelined requests); latencies are
   * per call, throughput is per operation. @default 1
   */
  opsPerCall?: number;
  /** Hard cap on calls per repeat even with durationMs, to bound memory. @default 1_000_000 */
  maxIterations?: number;
}

/** Results for one case. Latencies are in milliseconds per call. */
export interface Stats {
  /** The case name. */
  name: string;
  /** Operations per second: the median over repeats. */
  opsPerSec: number;
  /** Median call latency (ms), over all timed calls. */
  p50: number;
  /** 99th percentile call latency (ms). */
  p99: number;
  /** Mean call latency (ms). */
  mean: number;
  /** Calls timed, over all repeats. */
  calls: number;
  /** Throughput of each repeat (ops/s), in run order. */
  repeatOpsPerSec: number[];
}

/** A case for {@link compare}. */
export interface BenchCase {
  /** The row name. */
  name: string;
  /** One call; may return a promise, which is awaited. */
  fn: () => unknown;
  /** Per-case override of {@link MeasureOptions.opsPerCall}. */
  opsPerCall?: number;
}

interface Acc {
  samples: number[];
  repeatOps: number[];
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

/** Sorted-sample percentile, nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** Median of unsorted numbers. */
export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

async function runRepeat(c: BenchCase, o: Required<MeasureOptions>, acc: Acc): Promise<void> {
  const limit = o.iterations > 0 ? Math.min(o.iterations, o.maxIterations) : o.maxIterations;
  const deadline = o.durationMs > 0 ? performance.now() + o.durationMs : Infinity;
  const started = performance.now();
  let calls = 0;
  while (calls < limit) {
    const t0 = performance.now();
    if (t0 >= deadline) break;
    const r = c.fn();
    if (isThenable(r)) await r;
    acc.samples.push(performance.now() - t0);
    calls++;
  }
  const elapsed = (performance.now() - started) / 1000;
  acc.repeatOps.push((calls * (c.opsPerCall ?? o.opsPerCall)) / elapsed);
}

function resolve(opts: MeasureOptions): Required<MeasureOptions> {
  const iterations = opts.iterations ?? 0;
  const durationMs = opts.durationMs ?? (iterations > 0 ? 0 : 1000);
  const o = {
    iterations,
    durationMs,
    repeats: opts.repeats ?? 5,
    warmup: opts.warmup ?? 20,
    opsPerCall: opts.opsPerCall ?? 1,
    maxIterations: opts.maxIterations ?? 1_000_000,
  };
  for (const [k, v] of Object.entries(o)) {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`${k} must be a finite number ≥ 0: got ${v}`);
  }
  if (o.repeats < 1) throw new RangeError(`repeats must be ≥ 1: got ${o.repeats}`);
  return o;
}

function toStats(name: string, acc: Acc): Stats {
  const sorted = acc.samples.sort((a, b) => a - b);
  let sum = 0;
  for (const s of sorted) sum += s;
  return {
    name,
    opsPerSec: median(acc.repeatOps),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: sum / Math.max(1, sorted.length),
    calls: sorted.length,
    repeatOpsPerSec: acc.repeatOps,
  };
}

/**
 * Measures one function.
 *
 * @param name The row name.
 * @param fn One call; a returned promise is awaited.
 * @param opts Iterations or duration, repeats, warmup.
 * @returns The stats.
 */
export async function measure(
  name: string,
  fn: () => unknown,
  opts: MeasureOptions = {},
): Promise<Stats> {
  return (await compare([{ name, fn }], opts))[0];
}

/**
 * Measures several cases interleaved: each repeat runs every case once, in a
 * rotating order, so none always runs first or last.
 *
 * @param cases The cases.
 * @param opts Applied to each case.
 * @returns Stats in the order of `cases`.
 */
export async function compare(cases: readonly BenchCase[], opts: MeasureOptions = {}): Promise<Stats[]> {
  const o = resolve(opts);
  const accs: Acc[] = cases.map(() => ({ samples: [], repeatOps: [] }));
  for (const c of cases) {
    for (let i = 0; i < o.warmup; i++) {
      const r = c.fn();
      if (isThenable(r)) await r;
    }
  }
  for (let rep = 0; rep < o.repeats; rep++) {
    for (let k = 0; k < cases.length; k++) {
      const idx = (k + rep) % cases.length;
      await runRepeat(cases[idx], o, accs[idx]);
    }
  }
  return cases.map((c, i) => toStats(c.name, accs[i]));
}

/**
 * Names the runtime and its version, e.g. `node 20.20.2`, `deno 2.9.6 (v8 …)`,
 * `bun 1.4.5`.
 *
 * @returns The description.
 */
export function runtimeVersion(): string {
  const g = globalThis as {
    Deno?: { version: { deno: string; v8: string } };
    Bun?: { version: string };
    process?: { versions?: { node?: string; v8?: string } };
  };
  if (g.Deno) return `deno ${g.Deno.version.deno} (v8 ${g.Deno.version.v8})`;
  if (g.Bun) return `bun ${g.Bun.version}`;
  if (g.process?.versions?.node) return `node ${g.process.versions.node} (v8 ${g.process.versions.v8})`;
  return "unknown runtime";
}

/** The runtime's short name: "deno", "bun" or "node". */
export function runtimeName(): "deno" | "bun" | "node" {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno ? "deno" : g.Bun ? "bun" : "node";
}

function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  if (ms < 1) return `${(ms * 1000).toFixed(ms < 0.01 ? 2 : 1)} µs`;
  return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

function fmtOps(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(n < 100 ? 1 : 0);
}

/**
 * Prints rows as a table: ops/s, p50, p99, and each row's throughput as a
 * ratio to the baseline row (1.00 for the baseline itself).
 *
 * @param rows Stats from {@link measure} or {@link compare}.
 * @param baselineName The row the ratios are relative to; the first row when absent.
 * @param title A heading printed above the table.
 */
export function printTable(rows: readonly Stats[], baselineName?: string, title?: string): void {
  const base = rows.find((r) => r.name === baselineName) ?? rows[0];
  const header = ["case", "ops/s", "p50", "p99", `vs ${base?.name ?? "-"}`];
  const body = rows.map((r) => [
    r.name,
    fmtOps(r.opsPerSec),
    fmtMs(r.p50),
    fmtMs(r.p99),
    base ? `${(r.opsPerSec / base.opsPerSec).toFixed(2)}x` : "-",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    "| " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") + " |";
  console.log(`\n${title ? title + " — " : ""}${runtimeVersion()}`);
  console.log(line(header));
  console.log("|" + widths.map((w, i) => (i === 0 ? "-".repeat(w + 1) + "-" : "-".repeat(w + 1) + ":")).join("|") + "|");
  for (const b of body) console.log(line(b));
}
