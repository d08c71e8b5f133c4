/**
 * Test support for the resilient client: a manual clock whose timers fire
 * only when the test advances time, and a seeded random source.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../../src/common/clock.ts";

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** A clock that moves only when told to; timers fire in due order during `advance`. */
export class ManualClock implements Clock {
  #now: number;
  #timers: Timer[] = [];
  #nextId = 1;

  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), fn };
    this.#timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Delays (from now) of the pending timers, soonest first. */
  get pendingDelays(): number[] {
    return this.#timers.map((t) => t.at - this.#now).sort((a, b) => a - b);
  }

  /**
   * Moves time forward by `ms`, firing due timers in order and letting
   * promise callbacks run between them.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (let guard = 0; guard < 10_000; guard++) {
      await settle();
      const due = this.#timers
        .filter((t) => t.at <= target)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
    }
    this.#now = target;
    await settle();
  }
}

/** Lets queued promise callbacks run (a few macrotask turns). */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setTimeout(r, 0));
}

/** A deterministic random source in [0, 1) (mulberry32): the shared test generator. */
export { prng as seededRandom } from "../_helpers/prng.ts";

/** Reads everything from a stream into an array (bounded by `max` items). */
export async function collect<T>(stream: ReadableStream<T>, max = 100_000): Promise<T[]> {
  const out: T[] = [];
  const reader = stream.getReader();
  try {
    while (out.length < max) {
      const { done, value } = await reader.read();
      if (done) break;
      out.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return out;
}
