/**
 * Pieces every adapter shares around a socket's life: the connect deadline and
 * abort handling, and a bounded queue of accepted connections behind a
 * {@link Listener}. Runtime-neutral (timers only).
 *
 * @module
 */
import { connectTimeoutError, type ErrorContext } from "./error_map.ts";
import { ACCEPT_QUEUE_LIMIT } from "./options.ts";
import type { Connection, Listener, NetAddr } from "./types.ts";

/** What {@link guardConnect} needs to bound a connect attempt. */
export interface ConnectGuard<T> {
  /** The attempt, rejecting with an already mapped error. */
  readonly attempt: Promise<T>;
  /** Stops the attempt (destroys the half-open socket) after a timeout or abort. */
  readonly cancel: () => void;
  /** Frees a connection that arrived after the caller gave up. */
  readonly discard: (value: T) => void;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly ctx: ErrorContext;
  readonly tls: boolean;
}

/**
 * Races a connect attempt against its deadline and abort signal. A late
 * success is discarded, so no socket leaks.
 *
 * @returns The attempt's value.
 * @throws {TimeoutError} `CONNECT_TIMEOUT` past the deadline; the signal's reason on abort.
 */
export function guardConnect<T>(g: ConnectGuard<T>): Promise<T> {
  const { signal } = g;
  if (signal?.aborted) {
    g.cancel();
    g.attempt.then(g.discard, () => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      return true;
    };
    const onAbort = () => {
      if (!finish()) return;
      g.cancel();
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      if (!finish()) return;
      g.cancel();
      reject(connectTimeoutError(g.ctx, g.timeoutMs, g.tls));
    }, g.timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    g.attempt.then(
      (value) => finish() ? resolve(value) : g.discard(value),
      (err) => finish() && reject(err),
    );
  });
}

/**
 * A {@link Listener} over a bounded queue: the adapter pushes accepted
 * connections, `accept()` takes them. Past {@link ACCEPT_QUEUE_LIMIT} waiting
 * connections new ones are closed at once, so an application that stops
 * accepting cannot make memory grow.
 */
export class QueueListener implements Listener {
  readonly addr: NetAddr;
  #items: Connection[] = [];
  #waiters: ((c: Connection | null) => void)[] = [];
  #closed = false;
  #closing: Promise<void> | null = null;
  #stop: () => Promise<void>;
  #signal: AbortSignal | undefined;
  #onAbort = () => void this.close();

  /**
   * @param addr The bound address.
   * @param stop Stops the runtime listener; called once by `close()`.
   * @param signal Closes the listener when aborted.
   */
  constructor(addr: NetAddr, stop: () => Promise<void>, signal?: AbortSignal) {
    this.addr = Object.freeze({ ...addr });
    this.#stop = stop;
    this.#signal = signal;
    if (signal?.aborted) void this.close();
    else signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** Whether `close()` was called. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Hands an accepted connection to a waiting `accept()`, or queues it (bounded). */
  push(conn: Connection): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(conn);
    else if (this.#closed || this.#items.length >= ACCEPT_QUEUE_LIMIT) conn.close();
    else this.#items.push(conn);
  }

  accept(): Promise<Connection | null> {
    const next = this.#items.shift();
    if (next) return Promise.resolve(next);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    for (const c of this.#items.splice(0)) c.close();
    for (const w of this.#waiters.splice(0)) w(null);
    this.#closing = this.#stop().catch(() => {});
    return this.#closing;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Connection> {
    // Ends when accept() yields null, i.e. once the listener is closed.
    for (let c = await this.accept(); c !== null; c = await this.accept()) yield c;
  }
}

/**
 * The two Web-stream ends of a push-based socket's {@link Connection} (Node,
 * Bun). Each is ended once, by whichever comes first of the socket's end,
 * error or close and the caller's close, cancel or abort.
 *
 * The streams themselves are made only when asked for (most connections are
 * taken over by {@link ChunkIO} and never need them): until then, received
 * chunks and the ends wait here, and are handed to the streams when they start
 * or to the chunk I/O when it is taken.
 */
export class StreamEnds {
  #read: ReadableStreamDefaultController<Uint8Array> | null = null;
  #write: WritableStreamDefaultController | null = null;
  #readDone = false;
  #writeDone = false;
  /** How the read side ended before the readable existed (null: cleanly). */
  #readEnd: { error: unknown } | null = null;
  #writeEnd: { error: unknown } | null = null;
  /** Chunks received before the readable (or the chunk I/O) existed. */
  #early: Uint8Array[] | null = null;
  #earlyBytes = 0;

  /** The readable's `start` hands its controller here: early chunks and the end follow. */
  startRead(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#read = controller;
    const early = this.#early;
    this.#early = null;
    this.#earlyBytes = 0;
    if (early !== null) for (const chunk of early) controller.enqueue(chunk);
    const end = this.#readEnd;
    if (end !== null) {
      if (end.error === null) controller.close();
      else controller.error(end.error);
    }
  }

  /** The writable's `start` hands its controller here. */
  startWrite(controller: WritableStreamDefaultController): void {
    this.#write = controller;
    if (this.#writeEnd !== null) controller.error(this.#writeEnd.error);
  }

  /** The readable's controller (for its queue size), or null before the readable was made. */
  get readController(): ReadableStreamDefaultController<Uint8Array> | null {
    return this.#read;
  }

  /** How the read side ended before the readable existed: null (cleanly, or not yet) or the error. */
  get earlyEndError(): unknown {
    return this.#readEnd?.error ?? null;
  }

  /** True once the read side has ended (or was cancelled). */
  get readDone(): boolean {
    return this.#readDone;
  }

  /**
   * Takes the chunks that arrived before anything read them, for the chunk I/O.
   *
   * @returns The chunks, in order (possibly none).
   */
  takeEarly(): Uint8Array[] {
    const early = this.#early ?? [];
    this.#early = null;
    this.#earlyBytes = 0;
    return early;
  }

  /**
   * Queues a received chunk on the readable (or keeps it until one exists),
   * unless the read side has ended.
   *
   * @returns False when the queue is full: pause the socket until `pull`.
   */
  enqueue(chunk: Uint8Array): boolean {
    if (this.#readDone) return true;
    const read = this.#read;
    if (read === null) {
      (this.#early ??= []).push(chunk);
      this.#earlyBytes += chunk.length;
      return this.#earlyBytes < EARLY_HIGH_WATER;
    }
    read.enqueue(chunk);
    return read.desiredSize! > 0;
  }

  /** Ends the readable: cleanly when `error` is null, else with it. */
  endRead(error: unknown): void {
    if (this.#readDone) return;
    this.#readDone = true;
    const read = this.#read;
    if (read === null) this.#readEnd = { error };
    else if (error === null) read.close();
    else read.error(error);
  }

  /** Fails the writable with `error` (a closed or failed socket takes no more writes). */
  endWrite(error: unknown): void {
    if (this.#writeDone) return;
    this.#writeDone = true;
    if (this.#write === null) this.#writeEnd = { error };
    else this.#write.error(error);
  }

  /** The caller cancelled the readable: it has ended already. */
  readCancelled(): void {
    this.#readDone = true;
  }

  /** The caller closed or aborted the writable: it has ended already. */
  writeEnded(): void {
    this.#writeDone = true;
  }
}

/** Unread early chunks above this pause the socket, as the readable's queue would. */
const EARLY_HIGH_WATER = 64 * 1024;
