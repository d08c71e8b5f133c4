/**
 * The subset of the `Deno` namespace the Deno adapter uses, typed locally so
 * the code type-checks under `tsc` (no Deno types there) as under `deno check`,
 * and the wrapper that turns a `Deno.Conn` into a {@link Connection}.
 *
 * Reading is pull-based: each `pull()` runs one `conn.read()`, so a reader
 * that stops reading stops the reads and TCP flow control stalls the peer.
 * A read of at least {@link HANDOFF_BYTES} hands its buffer over as it is (no
 * copy) and the next read gets a fresh one; a smaller read is copied out so
 * the 64 KiB buffer is reused, not wasted on a few bytes.
 *
 * @module
 */
import { closedError, type ErrorContext, streamErrorOf } from "./error_map.ts";
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

const READ_BYTES = 64 * 1024;
const HANDOFF_BYTES = 16 * 1024;

function netAddr(a: DenoNetAddr): NetAddr {
  return Object.freeze({
    hostname: a.hostname,
    port: a.port,
    family: a.hostname.includes(":") ? "IPv6" : "IPv4",
  });
}

class DenoConnection implements Connection {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  readonly alpnProtocol?: string;
  readonly closed: Promise<void>;
  #conn: DenoConn;
  #ctx: ErrorContext;
  #tls: boolean;
  #buf: Uint8Array | null = null;
  #readDone = false;
  #writeDone = false;
  #closing = false;
  #released = false;
  #failure: Error | null = null;
  #readCtl!: ReadableStreamDefaultController<Uint8Array>;
  #writeCtl!: WritableStreamDefaultController;
  #resolveClosed!: () => void;
  /** A stream pull is waiting on conn.read(). */
  #pulling = false;
  /** Direct chunk I/O was taken: the readable never reads again. */
  #direct = false;

  constructor(conn: DenoConn, ctx: ErrorContext, tls: boolean, alpn: string | null) {
    this.#conn = conn;
    this.#ctx = ctx;
    this.#tls = tls;
    this.localAddr = netAddr(conn.localAddr);
    this.remoteAddr = netAddr(conn.remoteAddr);
    if (alpn) this.alpnProtocol = alpn;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#readCtl = c;
      },
      pull: (c) => this.#pull(c),
      cancel: () => {
        this.#readDone = true;
        this.#release();
      },
    }, byteStrategy);
    this.writable = new WritableStream<Uint8Array>({
      start: (c) => {
        this.#writeCtl = c;
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
    const buf = this.#buf ?? new Uint8Array(READ_BYTES);
    let n: number | null;
    try {
      this.#pulling = true;
      n = await this.#conn.read(buf);
    } catch (err) {
      this.#pulling = false;
      if (this.#readDone) return;
      this.#readDone = true;
      if (this.#closing) c.close();
      else {
        const failure = this.#fail(err);
        c.error(failure);
        if (!this.#writeDone) {
          this.#writeDone = true;
          this.#writeCtl.error(failure);
        }
        this.#release();
      }
      return;
    }
    this.#pulling = false;
    if (this.#readDone) return;
    if (n === null) {
      this.#readDone = true;
      c.close();
      if (this.#writeDone) this.#release();
      return;
    }
    if (n >= HANDOFF_BYTES) {
      this.#buf = null;
      c.enqueue(buf.subarray(0, n));
    } else {
      this.#buf = buf;
      if (n > 0) c.enqueue(buf.slice(0, n));
    }
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
    if (this.#direct || this.readable.locked || this.writable.locked) return null;
    this.#direct = true;
    const ctl = this.#readCtl;
    const queued = () => this.#pulling || (ctl.desiredSize ?? 0) < byteStrategy.highWaterMark!;
    let legacy: ReadableStreamDefaultReader<Uint8Array> | null = queued() || this.#readDone
      ? this.readable.getReader()
      : null;
    const read = async (): Promise<Uint8Array | null> => {
      if (legacy !== null) {
        if (queued()) {
          const r = await legacy.read();
          if (!r.done) return r.value;
          if (this.#failure) throw this.#failure;
          if (this.#readDone) return null;
        }
        legacy.releaseLock();
        legacy = null;
      }
      const buf = this.#buf ?? new Uint8Array(READ_BYTES);
      const n = await this.#directRead(buf);
      if (n === null) return null;
      if (n >= HANDOFF_BYTES) {
        this.#buf = null;
        return buf.subarray(0, n);
      }
      this.#buf = buf;
      return buf.slice(0, n);
    };
    let leftover: Uint8Array | null = null;
    const readInto = async (into: Uint8Array): Promise<number | null> => {
      // Bytes from the old stream first (copied: there are at most a few).
      let chunk = leftover;
      leftover = null;
      if (chunk === null && legacy !== null) chunk = await read();
      if (chunk !== null) {
        const n = Math.min(chunk.length, into.length);
        into.set(chunk.subarray(0, n));
        if (n < chunk.length) leftover = chunk.subarray(n);
        return n;
      }
      for (;;) {
        const n = await this.#directRead(into);
        if (n !== 0) return n;
      }
    };
    return { read, readInto, write: (chunk) => this.#write(chunk) };
  }

  /**
   * One `conn.read()` for direct I/O: the byte count, or null at the end (a
   * read failing because we closed is an end too); other failures throw.
   */
  async #directRead(into: Uint8Array): Promise<number | null> {
    if (this.#readDone || this.#released) {
      if (this.#failure && !this.#closing) throw this.#failure;
      return null;
    }
    let n: number | null;
    try {
      n = await this.#conn.read(into);
    } catch (err) {
      if (this.#closing || this.#released) return null;
      this.#readDone = true;
      throw this.#fail(err);
    }
    if (n === null) this.#readDone = true;
    return n;
  }

  /** Frees the resource once; `closed` settles. */
  #release(): void {
    if (this.#released) return;
    this.#released = true;
    try {
      this.#conn.close();
    } catch { /* already closed by the runtime */ }
    this.#resolveClosed();
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (!this.#readDone) {
      this.#readDone = true;
      this.#readCtl.close();
    }
    if (!this.#writeDone) {
      this.#writeDone = true;
      this.#writeCtl.error(closedError(this.#ctx, "locally"));
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
