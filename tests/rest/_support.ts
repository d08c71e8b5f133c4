/**
 * Test support for the REST client tests: a bounded wait for something the
 * network will do, and the manual clock of the resilient client's tests
 * (re-exported), whose timers fire only when a test advances time.
 *
 * @module
 */
export { ManualClock } from "../client/_support.ts";

/**
 * Waits, a macrotask turn at a time, until `cond` holds: for I/O to happen,
 * never for a timer of the code under test (those run on a manual clock).
 *
 * @param cond The condition.
 * @param what Named in the error when it does not hold within 5 s.
 * @throws {Error} When `cond` did not hold in time.
 */
export async function until(cond: () => boolean, what: string): Promise<void> {
  const started = performance.now();
  while (!cond()) {
    if (performance.now() - started > 5_000) throw new Error(`${what}: not within 5000 ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Joins lines with CRLF, for raw HTTP written by a test server.
 *
 * @param l The lines; end with `""` (and another `""`) for the empty line.
 * @returns The text.
 */
export const lines = (...l: string[]): string => l.join("\r\n");
