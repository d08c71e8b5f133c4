/**
 * The subset of the `Deno` namespace the Deno adapter uses, typed locally so
 * the code type-checks under `tsc` (no Deno types there) as under `deno check`,
 * and the wrapper that turns a `Deno.Conn` into a {@link Connection}.
 *
 * Reading is pull-based: each `pull()` runs one `conn.read()`, so a reader
 * that stops reading stops the reads and TCP flow control stalls the peer.
 * Each read borrows a buffer from the pool shared by all connections (4 KiB
 * at first, doubling up to 64 KiB while reads fill it):
 * a read of at least {@link HANDOFF_BYTES} hands it over as it is (no copy);
 * a smaller read is copied out and the buffer goes back, so no connection
 * keeps a read buffer of its own. (Direct `readInto` reads into the caller's
 * buffer instead: the WebSocket codec's, which sizes it to what is arriving.)
 *
 * @module
 */
import { closedError, type ErrorContext, streamErrorOf } from "./error_map.ts";
import { giveBuffer, type PooledBuffer, pooledSize, takeBuffer } from "../core/buf_pool.ts";
import { byteStrategy } from "./options.ts";
import type { ChunkIO, Connection, NetAddr } from "./types.ts";

/** `Deno.NetAddr`. */
export interface DenoNetAddr {
  transport: string;
  hostname: string;
  port: number;
}

/** The parts of `Deno.Conn` / `Deno.TcpConn` / `Deno.TlsConn` used here. */
export interface DenoConn {
  readonly localAddr: DenoNetAddr;
  readonly remoteAddr: DenoNetAddr;
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
  closeWrite(): Promise<void>;
  setNoDelay?(noDelay?: boolean): void;
  handshake?(): Promise<{ alpnProtocol: string | null }>;
}

/** The parts of `Deno.Listener` used here. */
export interface DenoListener {
  readonly addr: DenoNetAddr;
  accept(): Promise<DenoConn>;
  close(): void;
}

/** The parts of the `Deno` namespace used by the adapter. */
export interface DenoApi {
  connect(o: { hostname: string; port: number; signal?: AbortSignal | undefined }): Promise<DenoConn>;
  connectTls(o: {
    hostname: string;
    port: number;
    caCerts?: string[] | undefined;
    alpnProtocols?: string[] | undefined;
    cert?: string | undefined;
    key?: string | undefined;
  }): Promise<DenoConn>;
  startTls(
    conn: DenoConn,
    o: { hostname: string; caCerts?: string[] | undefined; alpnProtocols?: string[] | undefined },
  ): Promise<DenoConn>;
  listen(o: { hostname: string; port: number }): DenoListener;
  listenTls(o: {
    hostname: string;
    port: number;
    cert: string;
    key: string;
    alpnProtocols?: string[] | undefined;
  }): DenoListener;
}

/** The `Deno` global; only call on Deno. */
export function denoApi(): DenoApi {
  return (globalThis as unknown as { Deno: DenoApi }).Deno;
}

/** The largest read; reads start at FIRST_READ_BYTES and double while they fill up. */
const READ_BYTES = 64 * 1024;
/**
 * A new connection's first read (an HTTP head, a handshake): enough for
 * common heads, and from a size class the pool keeps many of, so hundreds
 * of handshakes in flight take no fresh zero-filled 64 KiB buffer each.
 */
const FIRST_READ_BYTES = 4 * 1024;
const HANDOFF_BYTES = 16 * 1024;

/**
 * The `n` bytes read into a pooled buffer as a chunk the caller owns: a big
 * read keeps the buffer (handed over, no copy); a small one is copied out and
 * the buffer goes back to the pool, so no connection keeps a read buffer.
 */
function ownChunk(pooled: PooledBuffer, n: number): Uint8Array {
  if (n >= HANDOFF_BYTES) return pooled.bytes.subarray(0, n);
  const chunk = pooled.bytes.slice(0, n);
  giveBuffer(pooled);
  return chunk;
}

function netAddr(a: DenoNetAddr): NetAddr {
  return Object.freeze({
    hostname: a.hostname,
    port: a.port,
    family: a.hostname.includes(":") ? "IPv6" : "IPv4",
  });
}

class DenoConnection implements Connection, ChunkIO {
  #local: NetAddr | null = null;
  #remote: NetAddr | null = null;
  /** The local address (made on first use). */
  get localAddr(): NetAddr {
    return this.#local ??= netAddr(this.#conn.localAddr);
  }
  /** The peer's address (made on first use). */
  get remoteAddr(): NetAddr {
    return this.#remote ??= netAddr(this.#conn.remoteAddr);
  }
  readonly alpnProtocol?: string;
  #closed: Promise<void> | null = null;
  /** Settles once the resource is freed (made on first use). */
  get closed(): Promise<void> {
    return this.#closed ??= this.#released
      ? Promise.resolve()
      : new Promise((resolve) => this.#resolveClosed = resolve);
  }
  #conn: DenoConn;
  #ctx: ErrorContext;
  #tls: boolean;
  #readDone = false;
  #writeDone = false;
  #closing = false;
  #released = false;
  #failure: Error | null = null;
  #readCtl: ReadableStreamDefaultController<Uint8Array> | null = null;
  #writeCtl: WritableStreamDefaultController | null = null;
  #readable: ReadableStream<Uint8Array> | null = null;
  #writable: WritableStream<Uint8Array> | null = null;
  #resolveClosed: (() => void) | null = null;
  /** A stream pull is waiting on conn.read(). */
  #pulling = false;
  /** The size of the next pooled read: doubles while reads fill it, falls to what a short read got. */
  #readBytes = FIRST_READ_BYTES;
  /** Direct chunk I/O was taken: the readable never reads again. */
  #direct = false;

  constructor(conn: DenoConn, ctx: ErrorContext, tls: boolean, alpn: string | null) {
    this.#conn = conn;
    this.#ctx = ctx;
    this.#tls = tls;
    if (alpn) this.alpnProtocol = alpn;
  }

  // The streams are made on first use: a connection taken over by chunk I/O
  // (every WebSocket and REST connection) never pays for them. Deno reads are
  // pulls, so nothing arrives before one of them asks.
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#readCtl = c;
        if (this.#readDone) c.close();
      },
      pull: (c) => this.#pull(c),
      cancel: () => {
        this.#readDone = true;
        this.#release();
      },
    }, byteStrategy);
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream<Uint8Array>({
      start: (c) => {
        this.#writeCtl = c;
        if (this.#writeDone) c.error(this.#failure ?? closedError(this.#ctx, "locally"));
      },
      write: (chunk) => this.#write(chunk),
      close: async () => {
        this.#writeDone = true;
        try {
          await this.#conn.closeWrite();
        } catch (err) {
          if (!this.#closing) throw this.#fail(err);
        }
        if (this.#readDone) this.#release();
      },
      abort: () => {
        this.#writeDone = true;
        this.#release();
      },
    }, byteStrategy);
  }

  #fail(err: unknown): Error {
    this.#failure ??= streamErrorOf(err, this.#ctx, this.#tls);
    return this.#failure;
  }

  async #pull(c: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    if (this.#direct) return;
    const pooled = takeBuffer(this.#readBytes);
    const buf = pooled.bytes;
    let n: number | null;
    try {
      this.#pulling = true;
      n = await this.#conn.read(buf);
    } catch (err) {
      giveBuffer(pooled);
      this.#pulling = false;
      if (this.#readDone) return;
      this.#readDone = true;
      if (this.#closing) c.close();
      else {
        const failure = this.#fail(err);
        c.error(failure);
        if (!this.#writeDone) {
          this.#writeDone = true;
          this.#writeCtl?.error(failure);
        }
        this.#release();
      }
      return;
    }
    this.#pulling = false;
    if (this.#readDone || n === null) giveBuffer(pooled);
    if (this.#readDone) return;
    if (n === null) {
      this.#readDone = true;
      c.close();
      if (this.#writeDone) this.#release();
      return;
    }
    if (n > 0) c.enqueue(this.#owned(pooled, n));
    else giveBuffer(pooled);
  }

  async #write(chunk: Uint8Array): Promise<void> {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError(`a Connection accepts Uint8Array chunks: got ${typeof chunk}`);
    }
    try {
      // Deno's write may take part of the chunk; the rest waits for the kernel.
      let at = 0;
      while (at < chunk.byteLength) {
        at += await this.#conn.write(at === 0 ? chunk : chunk.subarray(at));
      }
    } catch (err) {
      if (this.#closing) throw closedError(this.#ctx, "locally");
      throw this.#fail(err);
    }
  }

  /**
   * Direct chunk I/O for an exclusive owner (see {@link Connection.takeChunkIO}):
   * `conn.read()` and `conn.write()` without the streams. Bytes the readable
   * already holds, or is reading, are delivered first.
   *
   * @returns Reads and writes, or null when already taken or a stream is locked.
   */
  takeChunkIO(): ChunkIO | null {
    if (this.#direct || this.#readable?.locked || this.#writable?.locked) return null;
    this.#direct = true;
    // Only a readable that was made can hold bytes already read.
    if (this.#readCtl !== null && (this.#queued() || this.#readDone)) {
      this.#legacy = this.readable.getReader();
    }
    return this;
  }

  /** A reader of the old readable while it still holds bytes (chunk I/O delivers them first). */
  #legacy: ReadableStreamDefaultReader<Uint8Array> | null = null;
  /** The part of a legacy chunk a readInto had no room for. */
  #leftover: Uint8Array | null = null;

  #queued(): boolean {
    const ctl = this.#readCtl;
    return ctl !== null && (this.#pulling || (ctl.desiredSize ?? 0) < byteStrategy.highWaterMark!);
  }

  /** {@link ChunkIO.read}: a chunk of its own, read into a pooled buffer. */
  async read(): Promise<Uint8Array | null> {
    const legacy = this.#legacy;
    if (legacy !== null) {
      if (this.#queued()) {
        const r = await legacy.read();
        if (!r.done) return r.value;
        if (this.#failure) throw this.#failure;
        if (this.#readDone) return null;
      }
      legacy.releaseLock();
      this.#legacy = null;
    }
    const pooled = takeBuffer(this.#readBytes);
    let n: number | null;
    try {
      n = await this.#directRead(pooled.bytes);
    } catch (e) {
      giveBuffer(pooled);
      throw e;
    }
    if (n === null) {
      giveBuffer(pooled);
      return null;
    }
    return this.#owned(pooled, n);
  }

  /** {@link ownChunk}, and the next read's size from how full this one was. */
  #owned(pooled: PooledBuffer, n: number): Uint8Array {
    const size = pooled.bytes.length;
    this.#readBytes = n >= size
      ? Math.min(size * 2, READ_BYTES)
      : Math.max(FIRST_READ_BYTES, Math.min(pooledSize(n), READ_BYTES));
    return ownChunk(pooled, n);
  }

  /**
   * {@link ChunkIO.readInto}: straight into the caller's buffer. Not an async
   * function: a connection waiting for data holds only the runtime's read.
   */
  readInto(into: Uint8Array): Promise<number | null> {
    if (this.#leftover !== null || this.#legacy !== null) return this.#readIntoFromLegacy(into);
    return this.#directRead(into).then((n) => n === 0 ? this.readInto(into) : n);
  }

  async #readIntoFromLegacy(into: Uint8Array): Promise<number | null> {
    // Bytes from the old stream first (copied: there are at most a few).
    let chunk = this.#leftover;
    this.#leftover = null;
    if (chunk === null) chunk = await this.read();
    if (chunk === null) return null;
    const n = Math.min(chunk.length, into.length);
    into.set(chunk.subarray(0, n));
    if (n < chunk.length) this.#leftover = chunk.subarray(n);
    return n;
  }

  /** {@link ChunkIO.write}. */
  write(chunk: Uint8Array): Promise<void> {
    return this.#write(chunk);
  }

  /**
   * One `conn.read()` for direct I/O: the byte count, or null at the end (a
   * read failing because we closed is an end too); other failures reject.
   */
  #directRead(into: Uint8Array): Promise<number | null> {
    if (this.#readDone || this.#released) {
      return this.#failure && !this.#closing ? Promise.reject(this.#failure) : Promise.resolve(null);
    }
    return this.#conn.read(into).then((n) => {
      if (n === null) this.#readDone = true;
      return n;
    }, (err) => {
      if (this.#closing || this.#released) return null;
      this.#readDone = true;
      throw this.#fail(err);
    });
  }

  /** Frees the resource once; `closed` settles. */
  #release(): void {
    if (this.#released) return;
    this.#released = true;
    try {
      this.#conn.close();
    } catch { /* already closed by the runtime */ }
    this.#resolveClosed?.();
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (!this.#readDone) {
      this.#readDone = true;
      this.#readCtl?.close();
    }
    if (!this.#writeDone) {
      this.#writeDone = true;
      this.#writeCtl?.error(closedError(this.#ctx, "locally"));
    }
    // Deno writes resolve once the kernel has the bytes, so closing now loses
    // nothing that a write reported as done.
    this.#release();
  }
}

/**
 * Wraps a connected `Deno.Conn` (TLS handshake done) as a {@link Connection}.
 *
 * @param conn The connection; the wrapper owns it from now on.
 * @param ctx Host and port for error messages.
 * @param tls Whether `conn` is TLS (for error mapping).
 * @param alpn The negotiated ALPN protocol, if any.
 * @returns The connection.
 */
export function wrapDenoConn(
  conn: DenoConn,
  ctx: ErrorContext,
  tls: boolean,
  alpn: string | null,
): Connection {
  return new DenoConnection(conn, ctx, tls, alpn);
}
