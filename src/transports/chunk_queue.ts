/**
 * The read half of {@link ChunkIO} for push-based sockets (Node, Bun): chunks
 * from the socket's data events wait here for `read()`, and the socket is
 * paused while 64 KiB or more wait unread. Runtime-neutral.
 *
 * @module
 */

/** Pause the socket once this much waits unread. */
export const CHUNK_QUEUE_HIGH_WATER = 64 * 1024;

import type { ChunkSink } from "./types.ts";

/** The queue of every ChunkQueue with nothing waiting; never written to. */
const NONE: Uint8Array[] = [];

/** Socket controls the queue needs. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

/**
 * Direct-read queue. `legacy` drains bytes the connection's readable had
 * already queued before direct reads began, so nothing is reordered or lost.
 */
export class ChunkQueue {
  /** Chunks waiting (an empty array shared until the first one waits). */
  #queue: Uint8Array[] = NONE;
  #head = 0;
  #bytes = 0;
  #paused = false;
  #ended = false;
  #failure: unknown = null;
  #waiter: ChunkSink | null = null;
  #legacy: { reader: ReadableStreamDefaultReader<Uint8Array>; pending: () => boolean } | null;
  readonly #socket: Pausable;

  /**
   * @param socket Pause/resume of the underlying socket.
   * @param legacy A reader of the old readable and whether it still holds chunks.
   * @param paused Whether the socket is paused now (the next read resumes it).
   */
  constructor(
    socket: Pausable,
    legacy: { reader: ReadableStreamDefaultReader<Uint8Array>; pending: () => boolean } | null,
    paused: boolean,
  ) {
    this.#socket = socket;
    this.#legacy = legacy;
    this.#paused = paused;
  }

  /** A chunk from the socket. */
  push(chunk: Uint8Array): void {
    if (this.#ended) return;
    const w = this.#waiter;
    if (w !== null && this.#legacy === null) {
      this.#waiter = null;
      w.chunk(chunk);
      return;
    }
    if (this.#queue === NONE) this.#queue = [];
    this.#queue.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes >= CHUNK_QUEUE_HIGH_WATER && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  /** The end of the stream: null for a clean end, else the error. First call wins. */
  end(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#failure = error;
    const w = this.#waiter;
    this.#waiter = null;
    if (w !== null) {
      if (this.#head < this.#queue.length) w.chunk(this.#shift());
      else if (error) w.error(error);
      else w.chunk(null);
    }
  }

  /** The next chunk, null at the end, or the stream's error. One read at a time. */
  read(): Promise<Uint8Array | null> {
    const legacy = this.#legacy;
    if (legacy !== null) {
      if (legacy.pending()) {
        return legacy.reader.read().then((r) => (r.done ? this.#dropLegacy() : r.value));
      }
      return Promise.resolve(this.#dropLegacy());
    }
    if (this.#head < this.#queue.length) return Promise.resolve(this.#shift());
    if (this.#ended) return this.#failure ? Promise.reject(this.#failure) : Promise.resolve(null);
    if (this.#waiter !== null) {
      return Promise.reject(
        new TypeError("read() is already pending: read from one place at a time"),
      );
    }
    this.#resumeIfPaused();
    return new Promise((resolve, reject) => {
      this.#waiter = { chunk: resolve, error: reject };
    });
  }

  /**
   * The next chunk, null at the end, or the stream's error, handed to `sink`:
   * synchronously when a chunk is queued or the stream has ended, else from
   * {@link ChunkQueue.push}/{@link ChunkQueue.end}. No promise on the way.
   */
  readWith(sink: ChunkSink): void {
    if (this.#legacy !== null) {
      this.read().then((c) => sink.chunk(c), (e) => sink.error(e));
      return;
    }
    if (this.#head < this.#queue.length) return sink.chunk(this.#shift());
    if (this.#ended) return this.#failure ? sink.error(this.#failure) : sink.chunk(null);
    if (this.#waiter !== null) {
      return sink.error(new TypeError("read() is already pending: read from one place at a time"));
    }
    this.#resumeIfPaused();
    this.#waiter = sink;
  }

  #resumeIfPaused(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#socket.resume();
    }
  }

  #dropLegacy(): Promise<Uint8Array | null> {
    const legacy = this.#legacy!;
    this.#legacy = null;
    try {
      legacy.reader.releaseLock();
    } catch { /* already released */ }
    return this.read();
  }

  #shift(): Uint8Array {
    const chunk = this.#queue[this.#head]!;
    this.#queue[this.#head++] = undefined as unknown as Uint8Array;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    }
    this.#bytes -= chunk.length;
    if (this.#paused && this.#bytes < CHUNK_QUEUE_HIGH_WATER && !this.#ended) {
      this.#paused = false;
      this.#socket.resume();
    }
    return chunk;
  }
}
