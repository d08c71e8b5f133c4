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
import type { ChunkIO, ChunkSink, Connection, NetAddr } from "./types.ts";
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

/** The connection behind a socket, for the shared event handlers below. */
const CONN = Symbol("sluice.connection");
type OwnedSocket = Socket & { [CONN]?: NodeConnection };

// One set of listener functions for every socket (node calls them with the
// socket as `this`): no closures per connection.
function onSocketData(this: OwnedSocket, chunk: Uint8Array): void {
  this[CONN]?.onData(chunk);
}
function onSocketEnd(this: OwnedSocket): void {
  this[CONN]?.onEnd();
}
function onSocketError(this: OwnedSocket, err: Error): void {
  this[CONN]?.onError(err);
}
function onSocketClose(this: OwnedSocket): void {
  this[CONN]?.onClose();
}

/**
 * A node socket as a {@link Connection}, and its {@link ChunkIO} once taken
 * (the same object: a connection holds as few objects as it can). Addresses,
 * `closed` and the Web streams are made on first use.
 */
class NodeConnection implements Connection, ChunkIO {
  readonly alpnProtocol?: string;
  readonly serverName?: string;
  readonly peerCertificateAuthorized?: boolean;
  #socket: Socket;
  /** Host and port for error messages (the info object itself is not kept). */
  readonly #ctx: ErrorContext;
  readonly #tls: boolean;
  /** The streams' ends and what waits for them: made only while no chunk I/O was taken. */
  #endsObj: StreamEnds | null = null;
  get #ends(): StreamEnds {
    return this.#endsObj ??= new StreamEnds();
  }
  /** The stream ends to tell about socket events: none once chunk I/O owns the socket and no stream was made. */
  get #endsToTell(): StreamEnds | null {
    return this.#io === null ? this.#ends : this.#endsObj;
  }
  #closing = false;
  #gone = false;
  #failure: Error | null = null;
  /** Direct chunk reads (takeChunkIO), bypassing the readable. */
  #io: ChunkQueue | null = null;
  #local: NetAddr | null = null;
  #remote: NetAddr | null = null;
  #closed: Promise<void> | null = null;
  #resolveClosed: (() => void) | null = null;
  #readable: ReadableStream<Uint8Array> | null = null;
  #writable: WritableStream<Uint8Array> | null = null;

  constructor(socket: Socket, info: NodeSocketInfo) {
    this.#socket = socket;
    this.#ctx = info.ctx;
    this.#tls = info.tls;
    const alpn = (socket as TLSSocket).alpnProtocol;
    if (typeof alpn === "string" && alpn) this.alpnProtocol = alpn;
    if (info.serverName) this.serverName = info.serverName;
    if (info.peerCertificateAuthorized !== undefined) {
      this.peerCertificateAuthorized = info.peerCertificateAuthorized;
    }
    if (socket.destroyed && socket.closed) this.#gone = true;
    (socket as OwnedSocket)[CONN] = this;
    if (info.reads !== undefined) info.reads.attach((chunk) => this.onData(chunk));
    else socket.on("data", onSocketData);
    socket.on("end", onSocketEnd);
    socket.on("error", onSocketError);
    socket.on("close", onSocketClose);
  }

  get localAddr(): NetAddr {
    const s = this.#socket;
    return this.#local ??= Object.freeze({
      hostname: s.localAddress ?? "",
      port: s.localPort ?? 0,
      family: family(s.localFamily),
    });
  }

  get remoteAddr(): NetAddr {
    const s = this.#socket;
    return this.#remote ??= Object.freeze({
      hostname: s.remoteAddress ?? this.#ctx.hostname,
      port: s.remotePort ?? this.#ctx.port,
      family: family(s.remoteFamily),
    });
  }

  get closed(): Promise<void> {
    if (this.#closed === null) {
      this.#closed = this.#gone
        ? Promise.resolve()
        : new Promise((resolve) => this.#resolveClosed = resolve);
    }
    return this.#closed;
  }

  // The streams are made on first use: a connection taken over by chunk I/O
  // (every WebSocket and REST connection) never pays for them.
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= new ReadableStream<Uint8Array>({
      start: (c) => this.#ends.startRead(c),
      pull: () => {
        if (this.#socket.isPaused()) this.#socket.resume();
      },
      cancel: () => {
        this.#ends.readCancelled();
        this.#socket.destroy();
      },
    }, byteStrategy);
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream<Uint8Array>({
      start: (c) => this.#ends.startWrite(c),
      write: (chunk) => this.write(chunk),
      close: () => this.#end(),
      abort: () => {
        this.#ends.writeEnded();
        this.#socket.destroy();
      },
    }, byteStrategy);
  }

  /** The socket's 'data' (or slab reader's) chunk. */
  onData(chunk: Uint8Array): void {
    if (this.#io !== null) {
      this.#io.push(chunk);
      return;
    }
    if (!this.#ends.enqueue(chunk)) this.#socket.pause();
  }

  /** The socket's 'end'. */
  onEnd(): void {
    this.#io?.end(null);
    this.#endsToTell?.endRead(null);
  }

  /** The socket's 'error'. */
  onError(err: Error): void {
    this.#failure ??= streamErrorOf(err, this.#ctx, this.#tls);
    this.#io?.end(this.#failure);
    const ends = this.#endsToTell;
    ends?.endRead(this.#failure);
    ends?.endWrite(this.#failure);
  }

  /** The socket's 'close': it is gone. */
  onClose(): void {
    this.#gone = true;
    this.#io?.end(this.#closing ? null : closedError(this.#ctx, "by the peer"));
    // Without a prior 'end' or 'error' the socket was destroyed: locally
    // (close(), cancel, abort) or by a reset that node reported as a plain close.
    const ends = this.#endsToTell;
    ends?.endRead(this.#closing ? null : closedError(this.#ctx, "by the peer"));
    ends?.endWrite(closedError(this.#ctx, this.#closing ? "locally" : "by the peer"));
    this.#resolveClosed?.();
  }

  /** {@link ChunkIO.read}, once taken. */
  read(): Promise<Uint8Array | null> {
    return this.#taken().read();
  }

  /** {@link ChunkIO.readWith}, once taken. */
  readWith(sink: ChunkSink): void {
    this.#taken().readWith(sink);
  }

  #taken(): ChunkQueue {
    if (this.#io === null) throw new TypeError("read() needs takeChunkIO() first");
    return this.#io;
  }

  /** {@link ChunkIO.write}: undefined when node took the bytes under its mark, else a promise for 'drain'. */
  write(chunk: Uint8Array): Promise<void> | undefined {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError(`a Connection accepts Uint8Array chunks: got ${typeof chunk}`);
    }
    const s = this.#socket;
    if (s.destroyed || s.writableEnded) {
      throw this.#failure ?? closedError(this.#ctx, this.#closing ? "locally" : "by the peer");
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
        reject(this.#failure ?? closedError(this.#ctx, "by the peer"));
      };
      s.on("drain", onDrain);
      s.on("close", onClose);
    });
  }

  #end(): Promise<void> {
    this.#ends.writeEnded();
    const s = this.#socket;
    if (s.destroyed) {
      return Promise.reject(this.#failure ?? closedError(this.#ctx, "by the peer"));
    }
    return new Promise((resolve, reject) => {
      s.end(() => resolve());
      s.once("close", () => this.#failure ? reject(this.#failure) : resolve());
    });
  }

  takeChunkIO(): ChunkIO | null {
    if (this.#io !== null || this.#readable?.locked || this.#writable?.locked) return null;
    const ends = this.#endsObj;
    const ctl = ends?.readController ?? null;
    let legacy = null;
    if (ctl !== null) {
      // Chunks the readable already queued come first, through a reader of its own.
      const pending = () => (ctl.desiredSize ?? 0) < byteStrategy.highWaterMark!;
      if (pending() || ends!.readDone) legacy = { reader: this.readable.getReader(), pending };
    }
    const s = this.#socket;
    // The socket pauses and resumes itself: no wrapper object.
    const io = new ChunkQueue(s, legacy, s.isPaused());
    this.#io = io;
    if (ctl === null) {
      // No readable was made: what arrived so far waits in the stream ends.
      if (ends !== null) {
        for (const chunk of ends.takeEarly()) io.push(chunk);
        if (ends.readDone) io.end(this.#failure ?? ends.earlyEndError);
      }
    } else if (ends!.readDone) io.end(this.#failure);
    return this;
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#io?.end(null);
    const ends = this.#endsToTell;
    ends?.endRead(null);
    ends?.endWrite(closedError(this.#ctx, "locally"));
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
