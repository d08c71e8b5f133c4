/**
 * The send side of a WebSocket connection: frames are appended to an open
 * batch, batches are sealed into a write queue, and the queue is written in
 * order, synchronously while the socket takes bytes at once.
 *
 * - Coalescing: frames sent in one turn of the event loop leave in one write
 *   (of up to 64 KiB); a lone frame is not delayed (it leaves on a microtask).
 * - Memory: the batch comes from a pool shared by every connection and goes
 *   back once its bytes are copied out or written, so an idle connection
 *   holds no send buffer.
 * - Shared frames ({@link Outbox.shared}): a published message is encoded
 *   once and queued by reference on every subscriber; small ones queued in a
 *   turn are gathered into one write per subscriber when its queue is flushed
 *   (one copy into that write), large ones are written from the shared bytes.
 *
 * @module
 */
import { copyBytes, gatherBytes } from "../core/copy_pool.ts";
import { WriteBuf } from "../core/ws/write_buf.ts";
import type { ChunkIO } from "../transports/types.ts";
import { type Deferred, deferred } from "./deferred.ts";

/** A sealed batch at least this big is handed over as is instead of being copied out. */
const HANDOFF_THRESHOLD = 64 * 1024;
const BATCH_CAPACITY = 16 * 1024;
/** A batch buffer that grew beyond this (a huge message) is not kept for reuse. */
const MAX_KEPT_BATCH = 256 * 1024;
/** Bytes of batch buffers kept for reuse, shared by every connection. */
const POOL_BYTES = 4 * 1024 * 1024;
/** A batch this big is written at once rather than waiting for the turn to end. */
export const COALESCE_LIMIT = 64 * 1024;
/** Queued chunks shorter than this are gathered with their neighbours into one write. */
const GATHER_BELOW = 16 * 1024;

const batchPool: WriteBuf[] = [];
let pooledBytes = 0;

function takeBatch(): WriteBuf {
  const buf = batchPool.pop();
  if (buf === undefined) return new WriteBuf(BATCH_CAPACITY);
  pooledBytes -= buf.bytes.length;
  return buf;
}

function giveBatch(buf: WriteBuf): void {
  const size = buf.bytes.length;
  if (size <= MAX_KEPT_BATCH && pooledBytes + size <= POOL_BYTES) {
    buf.clear();
    batchPool.push(buf);
    pooledBytes += size;
  }
}

/**
 * Runs `fn` on a microtask. A reaction on a settled promise: Node's
 * `queueMicrotask` wraps every callback in an async resource (about 3x the
 * cost), and this runs on every send. `fn` must not throw.
 */
const resolvedPromise = Promise.resolve();
const microtask = (fn: () => void): void => {
  void resolvedPromise.then(fn);
};

/** Runs `fn` after the current turn's I/O: setImmediate where it exists (Node, Bun, Deno). */
const nextMacrotask: (fn: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
    ? (fn) => (globalThis as unknown as { setImmediate(f: () => void): unknown }).setImmediate(fn)
    : (fn) => setTimeout(fn, 0);

/** A queued write: bytes, who waits for them, and the pooled batch they view. */
interface Chunk {
  bytes: Uint8Array;
  done?: Deferred<void> | undefined;
  /** The batch buffer `bytes` views, given back to the pool once written (transports that release chunks). */
  buf?: WriteBuf | undefined;
}

/** What the queue holds: a chunk, or a shared frame by reference (nobody waits for it). */
type Queued = Chunk | Uint8Array;

function bytesOf(item: Queued): Uint8Array {
  return item instanceof Uint8Array ? item : item.bytes;
}

/** The send machinery of one connection; see the module docs. */
export class Outbox {
  readonly #io: ChunkIO;
  readonly #onWriteError: (e: unknown) => void;
  #batch: WriteBuf | null = null;
  #batchDone: Deferred<void> | null = null;
  #queue: Queued[] = [];
  #buffered = 0;
  #flushing = false;
  #flushScheduled = false;
  /** A flush already happened in this turn of the event loop: coalesce until the next one. */
  #burst = false;
  #writeIdle: Deferred<void> | null = null;
  /** The current send comes through the connection's `writable`: coalesce per turn. */
  viaStream = false;

  /**
   * @param io Where the bytes go.
   * @param onWriteError Told when a write fails (after the waiting senders are).
   */
  constructor(io: ChunkIO, onWriteError: (e: unknown) => void) {
    this.#io = io;
    this.#onWriteError = onWriteError;
  }

  /** Bytes accepted for sending and not yet handed to the socket. */
  get buffered(): number {
    return this.#buffered;
  }

  /** The open batch, taken from the pool on first use. Call {@link Outbox.added} after appending. */
  batch(): WriteBuf {
    return this.#batch ??= takeBatch();
  }

  /**
   * Accounts for `bytes` just appended to {@link Outbox.batch}.
   *
   * @returns The promise shared by every frame of the open batch.
   */
  added(bytes: number): Promise<void> {
    this.#buffered += bytes;
    const done = this.#batchDone ??= deferred<void>();
    if (this.#batch !== null && this.#batch.length >= COALESCE_LIMIT) {
      // Keep single writes ≤ ~64 KiB. Where the socket takes bytes at once
      // and nothing waits before this batch, it leaves now, straight from its
      // memory; otherwise it is sealed and queued.
      if (this.#io.releasesChunks === true && !this.#flushing && this.#queue.length === 0) {
        this.#flush();
      } else this.#seal();
    }
    this.#kick();
    return done.promise;
  }

  /**
   * Queues `header` then `payload` as they are (no copy), after what is
   * batched now: a large payload written from the caller's memory.
   *
   * @returns Resolves when the payload is handed to the socket.
   */
  vectored(header: Uint8Array, payload: Uint8Array): Promise<void> {
    this.#seal();
    const done = deferred<void>();
    this.#queue.push(header, { bytes: payload, done });
    this.#buffered += header.length + payload.length;
    this.#kick();
    return done.promise;
  }

  /**
   * Queues a frame shared with other connections, by reference, after what is
   * batched now. Nobody waits for it: no promise per subscriber.
   *
   * @param frame Complete frame bytes that nobody modifies any more.
   */
  shared(frame: Uint8Array): void {
    if (this.#batch !== null && this.#batch.length > 0) this.#seal();
    this.#queue.push(frame);
    this.#buffered += frame.length;
    this.#kick();
  }

  /** Resolves when everything queued so far has been handed to the socket. */
  drain(): Promise<void> {
    if (
      !this.#flushing && !this.#flushScheduled && this.#queue.length === 0 &&
      (this.#batch === null || this.#batch.length === 0) && !this.#batchDone
    ) {
      return Promise.resolve();
    }
    this.#writeIdle ??= deferred<void>();
    this.#kick();
    return this.#writeIdle.promise;
  }

  /** Fails every waiting sender with `reason` and drops what is queued (the socket is gone). */
  abandon(reason: Error): void {
    for (const item of this.#queue) if (!(item instanceof Uint8Array)) item.done?.reject(reason);
    this.#queue = [];
    this.#buffered = 0;
    this.#batchDone?.reject(reason);
    this.#batchDone = null;
    if (this.#batch !== null) {
      giveBatch(this.#batch);
      this.#batch = null;
    }
    this.#writeIdle?.resolve();
    this.#writeIdle = null;
  }

  /**
   * Schedules a flush. The first frame of a burst leaves on a microtask, so a
   * lone message is not delayed. Through `writable`, frames written after a
   * flush in the same turn of the event loop wait for the next macrotask and
   * leave together, in writes of up to 64 KiB: one syscall for many small
   * frames instead of one each.
   */
  #kick(): void {
    if (this.#flushing || this.#flushScheduled) return;
    this.#flushScheduled = true;
    // Direct sends batch on a microtask: a loop of sends fills one batch before
    // it runs, and a lone send leaves at once. The writable stream hands over
    // one chunk per microtask hop, so its writes coalesce per turn instead.
    if (!this.viaStream) {
      microtask(this.#runFlush);
      return;
    }
    if (!this.#burst || (this.#batch !== null && this.#batch.length >= COALESCE_LIMIT)) {
      if (!this.#burst) {
        this.#burst = true;
        nextMacrotask(this.#endBurst);
      }
      microtask(this.#runFlush);
    } else {
      nextMacrotask(this.#runFlush);
    }
  }

  readonly #runFlush = (): void => {
    this.#flushScheduled = false;
    this.#flush();
  };

  readonly #endBurst = (): void => {
    this.#burst = false;
  };

  /** Moves the open batch to the write queue (and the batch buffer back to the pool). */
  #seal(): void {
    const batch = this.#batch;
    const len = batch === null ? 0 : batch.length;
    if (len === 0) {
      if (this.#batchDone) {
        this.#queue.push({ bytes: new Uint8Array(0), done: this.#batchDone });
        this.#batchDone = null;
      }
      return;
    }
    this.#batch = null;
    const done = this.#batchDone ?? undefined;
    this.#batchDone = null;
    if (this.#io.releasesChunks === true) {
      // The transport lets go of written memory: hand the batch over and give
      // it to the pool once written. No copy.
      this.#queue.push({ bytes: batch!.payload(), done, buf: batch! });
      return;
    }
    if (len >= HANDOFF_THRESHOLD) {
      // Big batch: hand its memory over for good (the runtime may keep it), no copy.
      this.#queue.push({ bytes: batch!.payload(), done });
      return;
    }
    // The runtime may hold written bytes until they are sent: copy out, reuse
    // the batch. Small copies come from a slab (see copyBytes: no on-heap arrays).
    this.#queue.push({ bytes: copyBytes(batch!.payload()), done });
    giveBatch(batch!);
  }

  /**
   * Writes queued chunks in order. Synchronous while the socket accepts writes
   * at once (no promise, no async frame); continues from the write's promise
   * when the socket pushes back. Runs of small chunks are gathered into one
   * write.
   */
  #flush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    for (;;) {
      if (this.#queue.length === 0) this.#seal();
      const head = this.#queue[0];
      if (head === undefined) break;
      // A run of small chunks (shared frames, sealed batches) leaves in one write.
      let taken = 1;
      let total = bytesOf(head).length;
      if (total < GATHER_BELOW) {
        while (taken < this.#queue.length) {
          const n = bytesOf(this.#queue[taken]!).length;
          if (n >= GATHER_BELOW || total + n > COALESCE_LIMIT) break;
          total += n;
          taken++;
        }
      }
      const bytes = taken === 1 ? bytesOf(head) : gatherBytes(this.#queue, taken, total, bytesOf);
      const items = this.#queue.splice(0, taken);
      if (bytes.length > 0) {
        let pending: Promise<void> | undefined;
        try {
          pending = this.#io.write(bytes);
        } catch (e) {
          this.#writeFailed(items, e);
          return;
        }
        if (pending !== undefined) {
          pending.then(() => {
            this.#written(items, bytes.length);
            this.#flushing = false;
            this.#flush();
          }, (e) => this.#writeFailed(items, e));
          return;
        }
      }
      this.#written(items, bytes.length);
    }
    this.#flushing = false;
    const idle = this.#writeIdle;
    this.#writeIdle = null;
    idle?.resolve();
  }

  /** `items` went to the socket (as `count` bytes): settle their senders, recycle their batches. */
  #written(items: Queued[], count: number): void {
    this.#buffered -= count;
    for (const item of items) {
      if (item instanceof Uint8Array) continue;
      if (item.buf !== undefined) giveBatch(item.buf);
      item.done?.resolve();
    }
  }

  /** The chunks being written failed with the socket: their senders hear why, then the connection fails. */
  #writeFailed(items: Queued[], e: unknown): void {
    this.#flushing = false;
    for (const item of items) if (!(item instanceof Uint8Array)) item.done?.reject(e);
    this.#onWriteError(e);
  }
}
