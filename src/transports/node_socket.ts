/**
 * Wraps a `node:net` / `node:tls` socket as a {@link Connection}. Used by the
 * Node adapter, and so by every runtime that runs it (Deno and Bun implement
 * `node:net`).
 *
 * Reading: the socket flows into the readable's queue and is `pause()`d as soon
 * as the queue holds 64 KiB; `pull()` resumes it. While paused Node stops
 * reading the fd, the kernel buffers fill and TCP flow control stalls the peer.
 * Node hands a fresh `Buffer` per read, so chunks are enqueued without a copy.
 *
 * Writing: `socket.write()` returning true means the bytes were accepted, so
 * the sink returns synchronously (no promise per write); false means Node's
 * buffer passed its mark and the sink waits for `drain`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { closedError, type ErrorContext, streamErrorOf } from "./error_map.ts";
import { byteStrategy } from "./options.ts";
import type { ChunkIO, Connection, NetAddr } from "./types.ts";
import { ChunkQueue } from "./chunk_queue.ts";
import { StreamEnds } from "./lifecycle.ts";

/** A closing socket that cannot flush (peer not reading) is destroyed after this. */
const CLOSE_FLUSH_LIMIT_MS = 5_000;

function family(f: string | undefined): NetAddr["family"] {
  return f === "IPv4" || f === "IPv6" ? f : undefined;
}

/** A slab for reads: replaced once less than this is left of it. */
const READ_SLAB = 64 * 1024;
const MIN_READ = 16 * 1024;

/**
 * Reads straight into slabs of our own, through node's `onread` socket option
 * (client sockets; plain TCP on Node): no Readable stream machinery and no
 * buffer allocated per read, which takes about a microsecond off every
 * received chunk. Each chunk is a view of a slab that is never read into
 * again, so chunks stay owned by whoever takes them.
 */
export class SlabReader {
  #slab: Buffer = Buffer.allocUnsafe(READ_SLAB);
  #off = 0;
  #sink: ((chunk: Uint8Array) => void) | null = null;
  #early: Uint8Array[] = [];

  /** The value for node's `onread` option. */
  readonly onread = {
    buffer: (): Uint8Array => {
      if (this.#slab.length - this.#off < MIN_READ) {
        this.#slab = Buffer.allocUnsafe(READ_SLAB);
        this.#off = 0;
      }
      return this.#slab.subarray(this.#off);
    },
    callback: (n: number, buf: Uint8Array): void => {
      const chunk = buf.subarray(0, n);
      this.#off += n;
      if (this.#sink !== null) this.#sink(chunk);
      else this.#early.push(chunk);
    },
  };

  /** Where chunks go from now on; any that came before go there first. */
  attach(sink: (chunk: Uint8Array) => void): void {
    this.#sink = sink;
    for (const chunk of this.#early.splice(0)) sink(chunk);
  }
}

/** What the adapter knows about the socket beyond node's fields. */
export interface NodeSocketInfo {
  readonly ctx: ErrorContext;
  readonly tls: boolean;
  /** Set when the socket reads through node's `onread` option instead of 'data' events. */
  readonly reads?: SlabReader | undefined;
  /** Server side: the SNI name and client-certificate result. */
  readonly serverName?: string | undefined;
  readonly peerCertificateAuthorized?: boolean | undefined;
}

class NodeConnection implements Connection {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  readonly alpnProtocol?: string;
  readonly serverName?: string;
  readonly peerCertificateAuthorized?: boolean;
  readonly closed: Promise<void>;
  #socket: Socket;
  #info: NodeSocketInfo;
  readonly #ends = new StreamEnds();
  #closing = false;
  #failure: Error | null = null;
  /** Direct chunk reads (takeChunkIO), bypassing the readable. */
  #io: ChunkQueue | null = null;

  constructor(socket: Socket, info: NodeSocketInfo) {
    this.#socket = socket;
    this.#info = info;
    this.localAddr = Object.freeze({
      hostname: socket.localAddress ?? "",
      port: socket.localPort ?? 0,
      family: family(socket.localFamily),
    });
    this.remoteAddr = Object.freeze({
      hostname: socket.remoteAddress ?? info.ctx.hostname,
      port: socket.remotePort ?? info.ctx.port,
      family: family(socket.remoteFamily),
    });
    const alpn = (socket as TLSSocket).alpnProtocol;
    if (typeof alpn === "string" && alpn) this.alpnProtocol = alpn;
    if (info.serverName) this.serverName = info.serverName;
    if (info.peerCertificateAuthorized !== undefined) {
      this.peerCertificateAuthorized = info.peerCertificateAuthorized;
    }
    this.closed = new Promise((resolve) => {
      if (socket.destroyed && socket.closed) resolve();
      else socket.once("close", () => resolve());
    });

    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => this.#ends.startRead(c),
      pull: () => {
        if (this.#socket.isPaused()) this.#socket.resume();
      },
      cancel: () => {
        this.#ends.readCancelled();
        this.#socket.destroy();
      },
    }, byteStrategy);

    this.writable = new WritableStream<Uint8Array>({
      start: (c) => this.#ends.startWrite(c),
      write: (chunk) => this.#write(chunk),
      close: () => this.#end(),
      abort: () => {
        this.#ends.writeEnded();
        this.#socket.destroy();
      },
    }, byteStrategy);

    if (info.reads !== undefined) info.reads.attach(this.#onData);
    else socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
  }

  #onData = (chunk: Uint8Array): void => {
    if (this.#io !== null) {
      this.#io.push(chunk);
      return;
    }
    if (!this.#ends.enqueue(chunk)) this.#socket.pause();
  };

  #onEnd = (): void => {
    this.#io?.end(null);
    this.#ends.endRead(null);
  };

  #onError = (err: Error): void => {
    this.#failure ??= streamErrorOf(err, this.#info.ctx, this.#info.tls);
    this.#io?.end(this.#failure);
    this.#ends.endRead(this.#failure);
    this.#ends.endWrite(this.#failure);
  };

  #onClose = (): void => {
    this.#io?.end(this.#closing ? null : closedError(this.#info.ctx, "by the peer"));
    // Without a prior 'end' or 'error' the socket was destroyed: locally
    // (close(), cancel, abort) or by a reset that node reported as a plain close.
    this.#ends.endRead(this.#closing ? null : closedError(this.#info.ctx, "by the peer"));
    this.#ends.endWrite(closedError(this.#info.ctx, this.#closing ? "locally" : "by the peer"));
  };

  #write(chunk: Uint8Array): Promise<void> | undefined {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError(`a Connection accepts Uint8Array chunks: got ${typeof chunk}`);
    }
    const s = this.#socket;
    if (s.destroyed || s.writableEnded) {
      throw this.#failure ?? closedError(this.#info.ctx, this.#closing ? "locally" : "by the peer");
    }
    if (s.write(chunk)) return undefined;
    return new Promise((resolve, reject) => {
      const done = () => {
        s.off("drain", onDrain);
        s.off("close", onClose);
      };
      const onDrain = () => {
        done();
        resolve();
      };
      const onClose = () => {
        done();
        reject(this.#failure ?? closedError(this.#info.ctx, "by the peer"));
      };
      s.on("drain", onDrain);
      s.on("close", onClose);
    });
  }

  #end(): Promise<void> {
    this.#ends.writeEnded();
    const s = this.#socket;
    if (s.destroyed) {
      return Promise.reject(this.#failure ?? closedError(this.#info.ctx, "by the peer"));
    }
    return new Promise((resolve, reject) => {
      s.end(() => resolve());
      s.once("close", () => this.#failure ? reject(this.#failure) : resolve());
    });
  }

  takeChunkIO(): ChunkIO | null {
    if (this.#io !== null || this.readable.locked || this.writable.locked) return null;
    const ctl = this.#ends.readController;
    // Chunks the readable already queued come first, through a reader of its own.
    const pending = () => (ctl.desiredSize ?? 0) < byteStrategy.highWaterMark!;
    const legacy = pending() || this.#ends.readDone
      ? { reader: this.readable.getReader(), pending }
      : null;
    const s = this.#socket;
    const io = new ChunkQueue(
      { pause: () => s.pause(), resume: () => s.resume() },
      legacy,
      s.isPaused(),
    );
    this.#io = io;
    if (this.#ends.readDone) io.end(this.#failure);
    return {
      read: () => io.read(),
      readWith: (sink) => io.readWith(sink),
      write: (chunk) => this.#write(chunk),
    };
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#io?.end(null);
    this.#ends.endRead(null);
    this.#ends.endWrite(closedError(this.#info.ctx, "locally"));
    const s = this.#socket;
    if (s.destroyed) return;
    if (s.writableLength === 0 || s.writableFinished) {
      // Everything is in the kernel: close(2) sends it, then FIN.
      s.destroy();
      return;
    }
    // Let node flush what it accepted, then free the socket; a peer that
    // stopped reading cannot hold it longer than the limit.
    s.resume();
    s.end(() => s.destroy());
    const timer = setTimeout(() => s.destroy(), CLOSE_FLUSH_LIMIT_MS);
    (timer as { unref?: () => void }).unref?.();
    s.once("close", () => clearTimeout(timer));
  }
}

/**
 * Wraps a connected node socket (TLS handshake done) as a {@link Connection}.
 *
 * @param socket A connected `net.Socket` or `tls.TLSSocket`.
 * @param info Error context and server-side TLS facts.
 * @returns The connection; it owns the socket from now on.
 */
export function wrapNodeSocket(socket: Socket, info: NodeSocketInfo): Connection {
  return new NodeConnection(socket, info);
}
